"""Runs side by side (docs/protocol.md §10): forks in lockstep, tagged frames, close, promote."""

from __future__ import annotations

import numpy as np
import pytest

from tests.app.protocol_decoder import Frame
from tests.app.support import WsClient, frames_of, messages_of

pytestmark = pytest.mark.timeout(60)

XOR = {"data": {"dataset": "xor"}, "network": {"hidden": [{"units": 4, "activation": "tanh"}]},
       "training": {"batch_size": 8, "optimizer": {"name": "sgd", "learning_rate": 0.1}}}


def ok(reply: dict) -> dict:
    assert reply["type"] == "ack", reply
    return reply


def last_step_frames(items: list) -> dict[str, Frame]:
    """The newest step frame of each run among items."""
    out: dict[str, Frame] = {}
    for f in frames_of(items, "step"):
        out[f.header["run"]] = f
    return out


def weights(frame: Frame) -> list[np.ndarray]:
    return [a for name, a in sorted(frame.arrays.items())
            if name.split(".")[0] in ("weight", "bias")]


def configured(session: WsClient) -> None:
    ok(session.request({"type": "configure", "spec": XOR})[0])


def test_a_fork_of_the_learning_rate_starts_from_the_present_state_and_steps_in_lockstep(
        session):
    configured(session)
    ok(session.request({"type": "step", "n": 5})[0])
    ack, seen = session.request({"type": "compare", "changes": {
        "training": {"optimizer": {"learning_rate": 3.0}}}})
    assert ack["run"] == "r1" and ack["parent"] == "r0" and ack["restart"] is False
    assert ack["changes"] == {"training.optimizer.learning_rate": 3.0}
    assert [r["id"] for r in ack["runs"]] == ["r0", "r1"]
    snapshots = messages_of(seen, "snapshot")
    assert [s["run"] for s in snapshots] == ["r0", "r1"]
    assert all(s["state"]["step"] == 5 for s in snapshots)
    assert snapshots[1]["spec"]["training"]["optimizer"]["learning_rate"] == 3.0
    # the fork starts where its parent is
    assert snapshots[0]["parameters"] == snapshots[1]["parameters"]

    ack, seen = session.request({"type": "step", "n": 7})
    assert ack["step"] == 12
    frames = last_step_frames(seen)
    assert set(frames) == {"r0", "r1"}
    a, b = frames["r0"], frames["r1"]
    assert a.step == b.step == 12
    assert a.header["batch"] == b.header["batch"]  # the same samples, the same order
    assert a.header["learning_rate"] == 0.1 and b.header["learning_rate"] == 3.0
    assert any(not np.array_equal(x, y) for x, y in zip(weights(a), weights(b), strict=True))


def test_undoing_a_forks_change_reproduces_the_parent_bit_for_bit(session):
    configured(session)
    ok(session.request({"type": "step", "n": 3})[0])
    ok(session.request({"type": "compare", "changes": {
        "training": {"optimizer": {"learning_rate": 0.5}}}})[0])
    ack, seen = session.request({"type": "set", "run": "r1", "learning_rate": 0.1})
    ok(ack)
    events = messages_of(seen, "event")
    assert events[-1]["event"] == "settings" and events[-1]["run"] == "r1"
    _, seen = session.request({"type": "step", "n": 20})
    frames = last_step_frames(seen)
    a, b = frames["r0"], frames["r1"]
    for name in a.arrays:
        assert np.array_equal(a.arrays[name], b.arrays[name]), name
    assert a.header["loss"] == b.header["loss"]


def test_a_fork_of_the_activation_restarts_every_run_from_step_0(session):
    configured(session)
    ok(session.request({"type": "step", "n": 4})[0])
    relu = {"network": {"hidden": [{"units": 4, "activation": "relu"}]}}
    ack, seen = session.request({"type": "compare", "label": "ReLU", "changes": relu})
    assert ack["restart"] is True and ack["runs"][1]["label"] == "ReLU"
    snapshots = messages_of(seen, "snapshot")
    assert [s["state"]["step"] for s in snapshots] == [0, 0]
    assert snapshots[1]["network"]["layers"][0]["activation"] == "relu"
    assert snapshots[0]["network"]["layers"][0]["activation"] == "tanh"


def test_a_restarted_fork_with_nothing_changed_matches_its_parent_step_for_step(session):
    configured(session)
    ok(session.request({"type": "compare", "changes": {}, "restart": True})[0])
    _, seen = session.request({"type": "step", "n": 15})
    frames = last_step_frames(seen)
    for name, value in frames["r0"].arrays.items():
        assert np.array_equal(value, frames["r1"].arrays[name]), name


def test_playing_two_runs_keeps_them_on_the_same_step(session):
    configured(session)
    ok(session.request({"type": "compare", "changes": {
        "training": {"optimizer": {"name": "adam", "learning_rate": 0.01}}}})[0])
    ok(session.request({"type": "play", "speed": 200})[0])
    seen = []
    while len(frames_of(seen, "step")) < 8:
        seen.append(session.recv())
    ack, more = session.request({"type": "pause"})
    frames = last_step_frames(seen + more)
    assert frames["r0"].step == frames["r1"].step == ack["step"] > 0
    metrics = messages_of(seen + more, "metrics")
    assert {m["run"] for m in metrics} == {"r0", "r1"}


def test_settings_that_cannot_change_live_refuse_a_fork_without_restart(session):
    configured(session)
    reply, _ = session.request({"type": "compare", "restart": False,
                                "changes": {"network": {"hidden": [{"units": 8}, {"units": 8}]}}})
    assert reply["code"] == "bad_state" and "restart" in reply["message"]
    reply, _ = session.request({"type": "compare", "changes": {"data": {"dataset": "spiral"}}})
    assert reply["code"] == "invalid_value" and "share their data" in reply["message"]
    negative = {"network": {"hidden": [{"units": -3}]}}
    reply, _ = session.request({"type": "compare", "changes": negative})
    assert reply["code"] == "invalid_spec"


def test_a_session_holds_at_most_four_runs_and_never_closes_its_last(session):
    configured(session)
    for rate in (0.2, 0.3, 0.4):
        ok(session.request({"type": "compare", "changes": {
            "training": {"optimizer": {"learning_rate": rate}}}})[0])
    reply, _ = session.request({"type": "compare", "changes": {}})
    assert reply["code"] == "too_many_runs"
    ack = ok(session.request({"type": "close_run", "run": "r2"})[0])
    assert [r["id"] for r in ack["runs"]] == ["r0", "r1", "r3"]
    reply, _ = session.request({"type": "close_run", "run": "r2"})
    assert reply["code"] == "unknown_run"
    for run in ("r0", "r1"):
        ok(session.request({"type": "close_run", "run": run})[0])
    reply, _ = session.request({"type": "close_run", "run": "r3"})
    assert reply["code"] == "bad_state"


def test_promote_makes_a_run_the_first_and_configure_returns_to_one_run(session):
    configured(session)
    ok(session.request({"type": "compare", "changes": {
        "training": {"optimizer": {"learning_rate": 0.7}}}})[0])
    ack, seen = session.request({"type": "promote_run", "run": "r1"})
    assert [r["id"] for r in ok(ack)["runs"]] == ["r1", "r0"]
    assert messages_of(seen, "event")[-1]["event"] == "promote_run"
    ack, seen = session.request({"type": "snapshot"})
    assert [s["run"] for s in messages_of(seen, "snapshot")] == ["r1", "r0"]
    ok(session.request({"type": "configure", "spec": XOR})[0])
    _, seen = session.request({"type": "snapshot"})
    assert [s["run"] for s in messages_of(seen, "snapshot")] == ["r1"]


def test_phase_by_phase_is_refused_with_runs_side_by_side(session):
    configured(session)
    ok(session.request({"type": "compare", "changes": {}})[0])
    reply, _ = session.request({"type": "phase"})
    assert reply["code"] == "bad_state" and "close_run" in reply["message"]


def test_a_run_beside_the_first_is_saved_and_exported_alone(client, session):
    configured(session)
    ok(session.request({"type": "compare", "changes": {
        "training": {"optimizer": {"learning_rate": 0.9}}}})[0])
    ok(session.request({"type": "step", "n": 6})[0])
    ack = ok(session.request({"type": "export", "run": "r1", "format": "json"})[0])
    assert ack["run"] == "r1" and ack["step"] == 6
    exported = client.get(ack["url"]).json()
    assert exported["spec"]["training"]["optimizer"]["learning_rate"] == 0.9
    saved = ok(session.request({"type": "save", "run": "r1", "name": "fast"})[0])
    assert saved["run"] == "r1" and saved["experiment"]["step"] == 6
    reply, _ = session.request({"type": "export", "run": "r1", "format": "csv"})
    assert reply["code"] == "bad_state" and "promote" in reply["message"]
