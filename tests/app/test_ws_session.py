"""Every client message and error code, through FastAPI's TestClient."""

from __future__ import annotations

import time

import numpy as np
import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from app.main import create_app
from tests.app.support import WsClient, expect_refusal, frames_of, make_settings, messages_of

pytestmark = pytest.mark.timeout(60)

DIVERGING = {
    "data": {"dataset": "plane"},
    "network": {"output_activation": "linear", "hidden": [{"units": 8, "activation": "relu"}]},
    "training": {"optimizer": {"learning_rate": 10}},
}


def step_frame(items):
    return frames_of(items, "step")[-1]


def test_connect_sends_welcome_snapshot_step_and_grid_frames(client):
    with client.websocket_connect("/ws") as ws:
        c = WsClient(ws)
        welcome, snapshot, step, grid = c.handshake()
    assert welcome["protocol"] == 2 and welcome["resumed"] is False and len(welcome["token"]) > 20
    assert snapshot["reason"] == "connect" and snapshot["network"]["sizes"] == [2, 4, 2, 1]
    assert snapshot["data"]["input_labels"] == ["X₁", "X₂"]
    assert snapshot["data"]["class_names"] == ["-1", "+1"]
    assert len(snapshot["data"]["train"]["x"]) == 250
    assert (step.kind, step.seq, step.step) == ("step", 1, 0)
    np.testing.assert_allclose(step.arrays["weight.0"], snapshot["parameters"][0]["weight"],
                               rtol=1e-6)
    assert "weight_grad.0" not in step.arrays  # no step yet
    assert grid.kind == "grid" and grid.seq == 2
    assert grid.arrays["activation.2"].shape == (1, 40, 40)
    assert grid.arrays["input"].shape == (2, 40, 40)


def test_step_runs_n_steps_and_sends_metrics_frame_grid_then_ack(session):
    ack, seen = session.request({"type": "step", "n": 7})
    assert ack["type"] == "ack" and ack["of"] == "step" and ack["step"] == 7
    metrics = messages_of(seen, "metrics")[-1]
    assert metrics["count"] == 7 and metrics["buckets"]["step"] == list(range(1, 8))
    assert metrics["eval"]["step"] == 7 and 0 <= metrics["eval"]["train_accuracy"] <= 1
    frame = step_frame(seen)
    assert frame.step == 7 and frame.header["loss"] == metrics["buckets"]["loss"]["mean"][-1]
    assert frame.arrays["weight_grad.1"].shape == (4, 2)
    assert frame.arrays["weight_update.2"].shape == (2, 1)
    np.testing.assert_allclose(
        frame.arrays["weight_update.0"], -0.03 * frame.arrays["weight_grad.0"], rtol=1e-4, atol=1e-9
    )
    assert frames_of(seen, "grid")[-1].step == 7


def test_play_streams_frames_and_pause_returns_final_state(session):
    ack, _ = session.request({"type": "play", "speed": "max"})
    assert ack["playing"] is True and ack["speed"] == "max"
    deadline = time.monotonic() + 0.5
    while time.monotonic() < deadline:
        session.recv()
    ack, seen = session.request({"type": "pause"})
    last = step_frame(seen)
    assert ack["step"] == last.step > 100
    assert messages_of(seen, "status")[-1]["playing"] is False
    snap, seen = session.request({"type": "snapshot"})
    snapshot = messages_of(seen, "snapshot")[0]
    for k, layer in enumerate(snapshot["parameters"]):
        np.testing.assert_array_equal(last.arrays[f"weight.{k}"], np.float32(layer["weight"]))
        np.testing.assert_array_equal(last.arrays[f"bias.{k}"], np.float32(layer["bias"]))
    seqs = [f.seq for f in session.frames]
    assert seqs == list(range(1, len(seqs) + 1))


def test_play_at_a_numeric_speed_keeps_to_it(session):
    start = time.monotonic()
    session.request({"type": "play", "speed": 40})
    time.sleep(0.5)
    ack, _ = session.request({"type": "pause"})
    elapsed = time.monotonic() - start
    assert 10 <= ack["step"] <= 40 * elapsed + 2


def test_set_fps_limits_step_frames_while_steps_run_far_faster(session):
    ack, _ = session.request({"type": "set_fps", "fps": 10})
    assert ack["fps"] == 10
    session.request({"type": "play"})
    start = time.monotonic()
    first = None
    while time.monotonic() - start < 1.0:
        item = session.recv()
        if getattr(item, "kind", None) == "step" and first is None:
            first = len(session.frames)
    ack, seen = session.request({"type": "pause"})
    elapsed = time.monotonic() - start
    playing_steps = [f for f in session.frames if f.kind == "step" and f.header["playing"]]
    assert len(playing_steps) <= 10 * elapsed + 1
    assert ack["step"] > 20 * len(playing_steps)


def test_phase_walks_forward_loss_backward_update_and_matches_a_whole_step(client):
    with client.websocket_connect("/ws") as ws_a, client.websocket_connect("/ws") as ws_b:
        a, b = WsClient(ws_a), WsClient(ws_b)
        a.handshake()
        b.handshake()
        titles = []
        for _ in range(8):
            ack, seen = a.request({"type": "phase"})
            titles.append(ack["phase"]["title"])
            frame = frames_of(seen, "phase")[0]
            assert frame.header["phase"] == ack["phase"]
        assert titles == [
            "Forward · layer 1", "Forward · layer 2", "Forward · layer 3", "Loss",
            "Backward · layer 3", "Backward · layer 2", "Backward · layer 1", "Update",
        ]
        assert ack["step"] == 1 and step_frame(seen).step == 1
        _, seen_b = b.request({"type": "step", "n": 1})
        for k in range(3):
            np.testing.assert_array_equal(
                a.frames[-2].arrays[f"weight.{k}"], step_frame(seen_b).arrays[f"weight.{k}"]
            )


def test_phase_frames_carry_the_values_the_phase_computed(session):
    ack, seen = session.request({"type": "phase"})
    forward = frames_of(seen, "phase")[0]
    assert forward.arrays["pre_activation"].shape == (10, 4) and len(forward.header["batch"]) == 10
    for _ in range(3):
        ack, seen = session.request({"type": "phase"})
    loss = frames_of(seen, "phase")[0]
    assert ack["phase"]["kind"] == "loss"
    assert loss.arrays["sample_losses"].shape == (10,)
    assert loss.header["data_loss"] == pytest.approx(float(loss.arrays["sample_losses"].mean()),
                                                     rel=1e-5)
    ack, seen = session.request({"type": "phase"})
    backward = frames_of(seen, "phase")[0]
    assert backward.header["phase"]["layer"] == 2 and backward.arrays["delta"].shape == (10, 1)


def test_configure_rebuilds_the_session_and_invalid_spec_keeps_the_old_one(session):
    ack, seen = session.request(
        {"type": "configure", "spec": {"data": {"dataset": "xor"},
                                       "network": {"hidden": [{"units": 3}]}}}
    )
    assert ack["type"] == "ack" and ack["of"] == "configure"
    snapshot = messages_of(seen, "snapshot")[0]
    assert snapshot["reason"] == "configure" and snapshot["spec"]["data"]["dataset"] == "xor"
    assert snapshot["network"]["sizes"] == [2, 3, 1]
    err, _ = session.request(
        {"type": "configure", "spec": {"network": {"hidden": [{"units": 0}]}, "oops": 1}}
    )
    assert err["code"] == "invalid_spec"
    paths = [p for p, _ in err["details"]["problems"]]
    assert "spec.oops" in paths
    ack, seen = session.request({"type": "step"})
    assert step_frame(seen).arrays["weight.0"].shape == (2, 3)


def test_configure_rejects_a_batch_larger_than_the_training_set(session):
    err, _ = session.request(
        {"type": "configure", "spec": {"data": {"n_samples": 20},
                                       "training": {"batch_size": 15}}}
    )
    assert err["code"] == "invalid_spec" and "batch_size" in err["message"]


def test_reset_returns_to_step_zero_and_reinitialize_changes_weights(session):
    first_w = session.snapshot["parameters"][0]["weight"]
    session.request({"type": "step", "n": 5})
    ack, seen = session.request({"type": "reset"})
    snap = messages_of(seen, "snapshot")[0]
    assert snap["state"]["step"] == 0 and snap["parameters"][0]["weight"] == first_w
    assert step_frame(seen).step == 0
    ack, seen = session.request({"type": "reset", "reinitialize": True})
    snap = messages_of(seen, "snapshot")[0]
    assert snap["spec"]["network"]["seed"] == ack["seed"]
    assert snap["parameters"][0]["weight"] != first_w
    assert snap["data"]["train"] == session.snapshot["data"]["train"]


def test_regenerate_draws_new_data_with_the_given_seed(session):
    ack, seen = session.request({"type": "regenerate", "seed": 77})
    snap = messages_of(seen, "snapshot")[0]
    assert ack["seed"] == 77 and snap["spec"]["data"]["seed"] == 77
    assert snap["data"]["train"]["x"] != session.snapshot["data"]["train"]["x"]


def test_set_changes_hyperparameters_live_while_playing(session):
    session.request({"type": "play"})
    ack, _ = session.request(
        {"type": "set", "learning_rate": 0.1, "regularization": "l2",
         "regularization_rate": 0.001, "batch_size": 25,
         "optimizer": {"name": "momentum", "momentum": 0.5}}
    )
    training = ack["training"]
    assert training["optimizer"]["learning_rate"] == 0.1
    assert training["optimizer"]["name"] == "momentum" and training["optimizer"]["momentum"] == 0.5
    assert (training["regularization"], training["batch_size"]) == ("l2", 25)
    ack, seen = session.request({"type": "pause"})
    frame = step_frame(seen)
    assert ack["step"] > 0 and len(frame.header["batch"]) == 25
    assert frame.header["learning_rate"] == 0.1 and frame.header["penalty"] > 0


def test_set_rejects_a_batch_size_beyond_the_training_set(session):
    err, _ = session.request({"type": "set", "batch_size": 100000})
    assert err["code"] == "invalid_value" and "250" in err["message"]


def test_select_traces_the_chosen_sample_with_current_parameters(session):
    ack, seen = session.request({"type": "select", "sample": 3, "split": "test"})
    assert (ack["sample"], ack["split"]) == (3, "test")
    frame = step_frame(seen)
    sample = frame.header["sample"]
    assert (sample["index"], sample["split"]) == (3, "test")
    x = frame.arrays["sample.input.0"].astype(np.float64)
    z = x @ frame.arrays["weight.0"] + frame.arrays["bias.0"]
    np.testing.assert_allclose(frame.arrays["sample.pre_activation.0"], z, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(frame.arrays["sample.activation.0"], np.tanh(z), rtol=1e-5,
                               atol=1e-6)
    assert frame.arrays["sample.delta.2"][0] == pytest.approx(
        frame.arrays["sample.grad_activation.2"][0]
        * (1 - frame.arrays["sample.activation.2"][0] ** 2), rel=1e-4
    )
    err, _ = session.request({"type": "select", "sample": 250, "split": "test"})
    assert err["code"] == "bad_index"


def test_explain_gives_chain_rule_factors_that_match_finite_differences(session):
    session.request({"type": "step", "n": 3})
    ack, seen = session.request({"type": "explain", "layer": 1, "source": 2, "target": 0})
    explanation = messages_of(seen, "explanation")[0]
    assert ack["type"] == "ack" and explanation["id"] == ack["id"]
    assert explanation["relative_error"] < 1e-5
    assert explanation["sample_gradient"] == pytest.approx(
        explanation["upstream_activation"] * explanation["delta"]
    )
    assert explanation["delta_source"]["kind"] == "hidden" and len(explanation["batch"]) == 10
    err, _ = session.request({"type": "explain", "layer": 9, "source": 0, "target": 0})
    assert err["code"] == "bad_index" and "layer 9" in err["message"]


def test_grid_evaluates_at_the_requested_resolution(session):
    ack, seen = session.request({"type": "grid", "resolution": 16})
    assert ack["evaluation"] == "grid" and ack["resolution"] == 16
    grid = frames_of(seen, "grid")[0]
    assert grid.header["resolution"] == 16 and grid.header["bounds"] == [-6.0, 6.0]
    assert grid.arrays["activation.0"].shape == (4, 16, 16)
    assert np.all(np.abs(grid.arrays["activation.2"]) <= 1)


def test_grid_on_the_sine_dataset_sends_a_line_frame(session):
    session.request({"type": "configure", "spec": {
        "data": {"dataset": "sine"}, "network": {"output_activation": "linear"}}})
    ack, seen = session.request({"type": "grid"})
    assert ack["evaluation"] == "line"
    line = frames_of(seen, "line")[0]
    assert line.arrays["x"].shape == (200,) and line.arrays["activation.2"].shape == (1, 200)
    assert np.all(np.diff(line.arrays["x"]) > 0)


def test_grid_on_a_dataset_without_a_plane_sends_predictions_for_every_row(session):
    session.request({"type": "configure", "spec": {
        "data": {"dataset": "iris"}, "network": {"output_activation": "softmax"},
        "training": {"loss": "cce"}}})
    ack, seen = session.request({"type": "grid"})
    assert ack["evaluation"] == "points" and frames_of(seen, "grid") == []
    points = frames_of(seen, "points")[0]
    n_train, n_test = points.header["n_train"], points.header["n_test"]
    assert n_train + n_test == 150
    assert points.arrays["out.train"].shape == (n_train, 3)
    assert np.allclose(points.arrays["out.test"].sum(axis=1), 1.0, atol=1e-5)  # softmax rows


def test_set_weight_changes_the_parameter_and_the_loss_responds(session):
    ack, seen = session.request(
        {"type": "set_weight", "layer": 2, "source": 0, "target": 0, "value": 3.5}
    )
    assert ack["value"] == 3.5
    frame = step_frame(seen)
    assert frame.arrays["weight.2"][0, 0] == 3.5
    before = session.snapshot["state"]["metrics"]["train_loss"]
    after = messages_of(seen, "metrics")[0]["eval"]["train_loss"]
    assert after != before
    ack, seen = session.request(
        {"type": "set_weight", "layer": 0, "source": None, "target": 1, "value": -2}
    )
    assert step_frame(seen).arrays["bias.0"][1] == -2
    err, _ = session.request(
        {"type": "set_weight", "layer": 0, "source": 5, "target": 0, "value": 1}
    )
    assert err["code"] == "bad_index"
    err, _ = session.request({"type": "set_weight", "layer": 0, "target": 0, "value": "NaN"})
    assert err["code"] == "invalid_message"


def test_set_fps_above_the_maximum_is_rejected(session):
    err, _ = session.request({"type": "set_fps", "fps": 500})
    assert err["code"] == "invalid_message" and "60" in err["message"]


def test_ping_answers_pong_with_the_same_id_and_time(session):
    reply, _ = session.request({"type": "ping", "t": 12.5})
    assert reply["type"] == "pong" and reply["t"] == 12.5 and reply["server_time"] > 0


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("not json", "invalid_json"),
        ('{"type": "fly", "id": 1}', "unknown_type"),
        ('{"type": "step", "id": 1, "n": -3}', "invalid_message"),
        ('{"type": "play", "id": 1, "speed": "fast"}', "invalid_message"),
    ],
)
def test_invalid_messages_get_an_error_and_the_session_stays_usable(session, raw, code):
    session.ws.send_text(raw)
    err = session.recv()
    assert err["type"] == "error" and err["code"] == code and err["message"]
    ack, _ = session.request({"type": "step"})
    assert ack["step"] == 1


def test_binary_messages_from_the_client_are_rejected(session):
    session.ws.send_bytes(b"PSF1")
    err = session.recv()
    assert err["code"] == "invalid_message" and "binary" in err["message"]


def test_step_and_phase_while_playing_are_bad_state(session):
    session.request({"type": "play"})
    err, _ = session.request({"type": "step"})
    assert err["code"] == "bad_state" and "pause" in err["message"]
    err, _ = session.request({"type": "phase"})
    assert err["code"] == "bad_state"
    session.request({"type": "pause"})


def test_diverging_run_pauses_and_reports_without_nan_in_json(session):
    session.request({"type": "configure", "spec": DIVERGING})
    ack, seen = session.request({"type": "play"})
    items = []
    while True:
        item = session.recv()
        items.append(item)
        if isinstance(item, dict) and item["type"] == "status" and not item["playing"]:
            break
    diverged = messages_of(items, "diverged")[0]
    assert diverged["step"] == 6 and diverged["quantity"] == "gradient"
    assert "learning rate" in diverged["suggestion"]
    assert items[-1]["reason"] == "diverged"
    err, _ = session.request({"type": "play"})
    assert err["code"] == "bad_state" and "diverged" in err["message"]
    err, _ = session.request({"type": "step"})
    assert err["code"] == "bad_state"
    ack, _ = session.request({"type": "reset"})
    ack, _ = session.request({"type": "step"})
    assert ack["step"] == 1


def test_max_epochs_stops_play_with_a_status(session):
    session.request({"type": "configure", "spec": {"training": {"max_epochs": 2}}})
    session.request({"type": "play"})
    while True:
        item = session.recv()
        if isinstance(item, dict) and item["type"] == "status" and not item["playing"]:
            break
    assert item["reason"] == "max_epochs" and item["epochs_done"] == 2 and item["step"] == 50


def test_resume_token_reattaches_to_the_same_session_at_the_same_step(client):
    with client.websocket_connect("/ws") as ws:
        c = WsClient(ws)
        c.handshake()
        token = c.welcome["token"]
        c.request({"type": "step", "n": 12})
    with client.websocket_connect(f"/ws?resume={token}") as ws:
        c = WsClient(ws)
        welcome, snapshot, frame, _ = c.handshake()
        assert welcome["resumed"] is True and welcome["token"] == token
        assert snapshot["reason"] == "resume" and snapshot["state"]["step"] == 12
        assert frame.step == 12 and frame.seq > 4


def test_unknown_resume_token_starts_a_new_session(client):
    with client.websocket_connect("/ws?resume=nope") as ws:
        c = WsClient(ws)
        welcome, snapshot, *_ = c.handshake()
    assert welcome["resumed"] is False and welcome["resume_error"]
    assert welcome["token"] != "nope" and snapshot["state"]["step"] == 0


def test_a_second_socket_with_the_token_replaces_the_first(client):
    with client.websocket_connect("/ws") as ws1:
        first = WsClient(ws1)
        first.handshake()
        with client.websocket_connect(f"/ws?resume={first.welcome['token']}") as ws2:
            second = WsClient(ws2)
            second.handshake()
            with pytest.raises(WebSocketDisconnect) as info:
                while True:
                    ws1.receive_text()
            assert info.value.code == 4001
            ack, _ = second.request({"type": "step"})
            assert ack["step"] == 1


def test_two_sessions_never_see_each_other(client):
    with client.websocket_connect("/ws") as ws_a, client.websocket_connect("/ws") as ws_b:
        a, b = WsClient(ws_a), WsClient(ws_b)
        a.handshake()
        b.handshake()
        assert a.welcome["token"] != b.welcome["token"]
        a.request({"type": "configure", "spec": {"data": {"dataset": "xor"}}})
        a.request({"type": "step", "n": 30})
        ack, seen = b.request({"type": "step", "n": 2})
        assert ack["step"] == 2 and step_frame(seen).step == 2
        snap, seen = b.request({"type": "snapshot"})
        assert messages_of(seen, "snapshot")[0]["spec"]["data"]["dataset"] == "circle"
        assert [f.seq for f in b.frames] == list(range(1, len(b.frames) + 1))


def test_abandoned_sessions_are_reaped_after_the_ttl():
    app = create_app(make_settings(session_ttl=0.05, reaper_interval=0.05))
    with TestClient(app) as c:
        with c.websocket_connect("/ws") as ws:
            WsClient(ws).handshake()
            assert c.get("/api/health").json()["sessions"] == 1
        deadline = time.monotonic() + 5
        while c.get("/api/health").json()["sessions"] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert c.get("/api/health").json()["sessions"] == 0


def test_server_busy_when_at_max_sessions():
    app = create_app(make_settings(max_sessions=1))
    with TestClient(app) as c, c.websocket_connect("/ws") as ws:
        WsClient(ws).handshake()
        with c.websocket_connect("/ws") as ws2:
            expect_refusal(ws2, "server_busy")
