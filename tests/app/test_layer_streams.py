"""Convolutional and recurrent networks stream like dense ones: every parameter, gradient and
per-sample value under the trace's own names, equal to what the engine computed."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from engine.explain_parameter import explain_parameter
from engine.lessons import LESSONS
from engine.spec import Spec
from engine.trainer import Trainer
from tests.app.support import frames_of, messages_of
from tests.app.test_experiments import download
from tests.engine.test_convolutional_networks import cnn
from tests.engine.test_recurrent_networks import RECALL_LSTM, SINE_RNN


def configure(session, spec: dict) -> list:
    ack, seen = session.request({"type": "configure", "spec": spec})
    assert ack["type"] == "ack", ack
    return seen


def stepped(session, spec: dict, n: int = 3):
    """The step frame after n steps, and the same n steps taken by the engine alone."""
    configure(session, spec)
    ack, seen = session.request({"type": "step", "n": n})
    assert ack["type"] == "ack" and ack["step"] == n
    trainer = Trainer(Spec.from_dict(spec))
    for _ in range(n):
        trainer.step()
    return frames_of(seen, "step")[-1], trainer


def test_a_cnn_streams_its_kernels_gradients_and_feature_maps_as_the_engine_computes_them(
    session,
):
    frame, trainer = stepped(session, cnn("shapes"))
    conv = trainer.network.layers[0]
    assert np.allclose(frame.arrays["kernel.0"], conv.kernel, atol=1e-6)
    record = trainer.last_record
    assert np.allclose(frame.arrays["kernel_grad.0"], record.layers[0].kernel_grad, atol=1e-6)
    assert frame.arrays["kernel_update.0"].shape == (8, 1, 3, 3)
    traced = trainer.trace_samples([0])
    assert np.allclose(frame.arrays["sample.activation.0"], traced.layers[0].activation[0],
                       atol=1e-5)
    assert frame.arrays["sample.delta.0"].shape == (8, 8, 8)
    assert np.array_equal(frame.arrays["sample.routing.1"], traced.layers[1].routing[0])
    assert frame.arrays["sample.grad_input.1"].shape == (8, 8, 8)
    assert frame.arrays["sample.output.2"].shape == (128,)
    sample = frame.header["sample"]
    assert sample["predicted"] == int(np.argmax(sample["output"]))
    assert abs(sum(sample["output"]) - 1) < 1e-5  # softmax over bar / cross / square


def test_a_max_pool_routes_each_gradient_to_the_pixel_that_won(session):
    frame, _ = stepped(session, cnn("shapes"))
    pooled, routing = frame.arrays["sample.grad_output.1"], frame.arrays["sample.routing.1"]
    received = frame.arrays["sample.grad_input.1"].reshape(8, -1)
    for c in range(8):
        expected = np.zeros(64, dtype=np.float32)
        np.add.at(expected, routing[c].astype(int).ravel(), pooled[c].ravel())
        assert np.allclose(received[c], expected, atol=1e-7)


def test_the_snapshot_names_each_layers_parameters(session):
    seen = configure(session, cnn("shapes"))
    snapshot = messages_of(seen, "snapshot")[0]
    kinds = [layer["kind"] for layer in snapshot["network"]["layers"]]
    assert kinds == ["conv2d", "maxpool", "flatten", "dense"]
    params = snapshot["parameters"]
    assert np.asarray(params[0]["kernel"]).shape == (8, 1, 3, 3)
    assert params[1] == {} and params[2] == {}
    assert np.asarray(params[3]["weight"]).shape == (128, 3)
    assert snapshot["data"]["dataset"]["input_shape"] == [1, 8, 8]


def test_the_snapshot_names_the_data_family_and_the_shape_of_one_sample(session):
    image = messages_of(configure(session, cnn("shapes")), "snapshot")[0]["data"]["dataset"]
    assert (image["family"], image["sample_shape"]) == ("image", [1, 8, 8])
    sequence = messages_of(configure(session, RECALL_LSTM), "snapshot")[0]["data"]["dataset"]
    assert (sequence["family"], sequence["sample_shape"]) == ("sequence", [6, 4])  # spec's length
    plane = messages_of(configure(session, {"data": {"dataset": "xor"}}), "snapshot")[0]
    assert (plane["data"]["dataset"]["family"], plane["data"]["dataset"]["sample_shape"]) == (
        "plane", [2])


def test_a_probe_takes_a_sequence_of_the_specs_length(session):
    seen = configure(session, RECALL_LSTM)
    shape = messages_of(seen, "snapshot")[0]["data"]["dataset"]["sample_shape"]
    ack, _ = session.request({"type": "probe", "input": [0.0] * (shape[0] * shape[1])})
    assert ack["type"] == "ack" and ack["input_shape"] == shape


def test_an_rnn_streams_hidden_states_and_the_gradient_fading_back_through_time(session):
    frame, trainer = stepped(session, SINE_RNN)
    record = trainer.last_record
    assert np.allclose(frame.arrays["weight_hh_grad.0"], record.layers[0].weight_hh_grad,
                       atol=1e-6)
    steps = record.layers[0].weight_hh_grad_steps
    norms = frame.arrays["weight_hh_grad_step_norms.0"]
    assert norms.shape == (steps.shape[0],)
    assert np.allclose(norms, np.linalg.norm(steps.reshape(len(steps), -1), axis=1), rtol=1e-5)
    assert np.allclose(frame.arrays["delta_norms.0"], record.layers[0].delta_norms, rtol=1e-5)
    traced = trainer.trace_samples([0])
    hidden = frame.arrays["sample.activation.0"]
    assert hidden.shape == traced.layers[0].activation[0].shape  # (T, 16)
    delta = frame.arrays["sample.delta.0"]
    assert np.allclose(frame.arrays["sample.delta_norms.0"], np.linalg.norm(delta, axis=1),
                       rtol=1e-4)
    assert frame.header["sample"]["predicted"] is None  # regression


def test_an_lstm_streams_its_gates_and_cell(session):
    frame, _ = stepped(session, RECALL_LSTM, n=2)
    steps = RECALL_LSTM["data"]["sequence_length"]
    units = RECALL_LSTM["network"]["layers"][0]["units"]
    assert frame.arrays["sample.gates.0"].shape == (steps, 4 * units)
    assert frame.arrays["sample.cell.0"].shape == (steps, units)
    assert frame.arrays["sample.cell_grad.0"].shape == (steps, units)


def test_a_kernel_weight_is_explained_as_a_sum_over_output_positions(session):
    _, trainer = stepped(session, cnn("shapes"), n=2)
    ack, seen = session.request(
        {"type": "explain", "layer": 0, "parameter": "kernel", "index": [2, 0, 1, 1],
         "sample": 5}
    )
    assert ack["type"] == "ack"
    explanation = messages_of(seen, "explanation")[0]
    expected = explain_parameter(trainer, 0, "kernel", (2, 0, 1, 1), 5)
    assert explanation["sum_over"] == "output positions"
    assert explanation["terms_total"] == 64
    listed = sum(term["product"] for term in explanation["terms"])
    assert listed + explanation["rest"] == pytest.approx(explanation["sample_gradient"], abs=1e-9)
    assert explanation["sample_gradient"] == pytest.approx(expected.sample_gradient, rel=1e-6)
    assert explanation["relative_error"] < 1e-3


def test_the_recurrent_weight_is_explained_as_a_sum_over_time_steps(session):
    stepped(session, SINE_RNN, n=2)
    ack, seen = session.request(
        {"type": "explain", "layer": 0, "parameter": "weight_hh", "index": [3, 4]}
    )
    assert ack["type"] == "ack"
    explanation = messages_of(seen, "explanation")[0]
    assert explanation["sum_over"] == "time steps"
    assert [t["at"] for t in explanation["terms"][:2]] == [[0], [1]]


def test_a_dense_address_on_a_conv_layer_is_refused_by_name(session):
    stepped(session, cnn("shapes"), n=1)
    for message in (
        {"type": "explain", "layer": 0, "source": 0, "target": 0},
        {"type": "set_weight", "layer": 0, "source": 0, "target": 0, "value": 1.0},
    ):
        ack, _ = session.request(message)
        assert ack["type"] == "error" and ack["code"] == "bad_index"
        assert "conv2d" in ack["message"]
    ack, _ = session.request({"type": "explain", "layer": 0, "parameter": "kernel",
                              "index": [9, 0, 0, 0]})
    assert ack["code"] == "bad_index" and "outside" in ack["message"]


def test_a_drawn_input_goes_forward_and_is_classified(session):
    _, trainer = stepped(session, cnn("shapes"), n=5)
    bar = np.zeros((8, 8))
    bar[4, 1:7] = 1.0
    ack, seen = session.request({"type": "probe", "input": bar.ravel().tolist()})
    assert ack["type"] == "ack" and ack["input_shape"] == [1, 8, 8]
    probe = frames_of(seen, "probe")[0]
    traced = trainer.trace_input(bar.reshape(1, 8, 8))
    assert np.allclose(probe.header["output"], traced.outputs[0], atol=1e-6)
    assert probe.header["predicted"] == int(np.argmax(traced.outputs[0]))
    assert probe.header["class_names"] == ["bar", "cross", "square"]
    assert np.allclose(probe.arrays["sample.input.0"][0], bar)
    assert probe.arrays["sample.activation.0"].shape == (8, 8, 8)
    assert "sample.delta.0" not in probe.arrays  # forward only: no target, no gradients


def test_a_drawn_input_of_the_wrong_size_is_refused_with_the_size_expected(session):
    stepped(session, cnn("shapes"), n=1)
    ack, _ = session.request({"type": "probe", "input": [0.5] * 10})
    assert ack["type"] == "error" and ack["code"] == "invalid_value"
    assert "1×8×8 = 64" in ack["message"]


def test_the_catalog_offers_the_convolutional_and_recurrent_lessons():
    from app.routes import catalog

    offered = {lesson["name"] for lesson in catalog()["lessons"]}
    assert {"vanishing_through_time", "cnn_filters", "chain_rule"} <= offered
    assert offered == set(LESSONS)


@pytest.mark.parametrize("lesson", ["cnn_filters", "vanishing_through_time"])
def test_a_layer_family_lesson_plays_and_streams_frames(session, lesson):
    configure(session, LESSONS[lesson].spec)
    ack, _ = session.request({"type": "play", "speed": 200})
    assert ack["type"] == "ack"
    frames = []
    while len(frames) < 3:
        item = session.recv()
        if getattr(item, "kind", None) == "step":
            frames.append(item)
    ack, _ = session.request({"type": "pause"})
    assert ack["type"] == "ack" and ack["step"] > 0
    assert frames[-1].step > frames[0].step


@pytest.mark.parametrize("spec", [cnn("shapes"), SINE_RNN], ids=["cnn", "rnn"])
def test_every_phase_of_a_step_streams_in_slow_motion(session, spec):
    configure(session, spec)
    titles = []
    for _ in range(len(Trainer(Spec.from_dict(spec)).plan)):
        ack, seen = session.request({"type": "phase"})
        assert ack["type"] == "ack", ack
        titles.append(ack["phase"]["title"])
        assert frames_of(seen, "phase")
    assert ack["step"] == 1 and titles[-1] == "Update"
    assert any("(convolution)" in t or "(recurrent)" in t for t in titles)


@pytest.mark.parametrize("spec", [cnn("shapes"), SINE_RNN], ids=["cnn", "rnn"])
def test_a_fork_of_a_layer_family_run_trains_beside_it(session, spec):
    configure(session, spec)
    ack, seen = session.request(
        {"type": "compare", "changes": {"training": {"optimizer": {"learning_rate": 0.001}}}}
    )
    assert ack["type"] == "ack", ack
    ack, seen = session.request({"type": "step", "n": 2})
    runs = {f.header["run"] for f in frames_of(seen, "step")}
    assert len(runs) == 2


@pytest.mark.parametrize("family", ["cnn", "rnn"])
def test_a_cnn_or_rnn_exports_its_next_step_as_a_gif_of_maps_one_frame_per_phase(
        client, session, family):
    spec = cnn("shapes") if family == "cnn" else SINE_RNN
    configure(session, spec)
    ack, _ = session.request({"type": "step", "n": 2})
    assert ack["type"] == "ack"
    reply, _ = session.request({"type": "export", "format": "gif"})
    assert reply["type"] == "ack" and reply["filename"].endswith("-step2-next-step.gif")
    phases = len(Trainer(Spec.from_dict(spec)).plan)
    with Image.open(io.BytesIO(download(client, reply))) as gif:
        assert gif.size == (960, 540) and gif.n_frames == phases
    ack, seen = session.request({"type": "snapshot"})
    assert ack["type"] == "ack"
    assert messages_of(seen, "snapshot")[0]["state"]["step"] == 2  # drawing it took no step
