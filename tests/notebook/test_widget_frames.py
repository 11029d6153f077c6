"""What the live widget sends from the kernel is the server's messages: the engine's numbers, in
the page's layout, for dense, convolutional and recurrent networks alike."""

import numpy as np
import pytest

import propscope as ps
from app import views
from app.frames import KIND_GRID, KIND_LINE, KIND_PHASE, KIND_POINTS, KIND_STEP, decode_frame
from app.run import Pace, Run
from engine.evaluation import evaluate_plane
from propscope.widget import STATIC, module_order, page_css

pytest.importorskip("anywidget")

DIGITS_CNN = {"data": {"dataset": "digits"},
              "network": {"layers": [{"type": "conv2d", "filters": 4, "kernel": 3,
                                      "activation": "relu"},
                                     {"type": "maxpool", "size": 2}, {"type": "flatten"}],
                          "output_activation": "softmax"},
              "training": {"loss": "cce", "batch_size": 16}}
RECALL_RNN = {"data": {"dataset": "recall", "sequence_length": 12},
              "network": {"layers": [{"type": "rnn", "units": 6}], "output_activation": "softmax"},
              "training": {"loss": "cce", "batch_size": 16}}
RECALL_LSTM = {**RECALL_RNN, "network": {"layers": [{"type": "lstm", "units": 5}],
                                         "output_activation": "softmax"}}


def f32(a):
    return np.asarray(a, dtype=np.float32)


def test_the_widget_starts_with_the_trainers_weights_and_thumbnails():
    trainer = ps.make_trainer(data={"dataset": "xor"})
    widget = ps.show(trainer)
    header, arrays = decode_frame(widget.step_frame)
    assert header["kind"] == KIND_STEP and header["step"] == 0
    for k, layer in enumerate(trainer.network.layers):
        np.testing.assert_array_equal(arrays[f"weight.{k}"], f32(layer.weight))
    header, arrays = decode_frame(widget.grid_frame)
    assert header["kind"] == KIND_GRID
    grid = evaluate_plane(trainer, header["resolution"])
    # thumbnails travel as uint8 planes over their own range (docs/protocol.md §4)
    exact = f32(grid.layers[0][:, 0])
    bound = (exact.max() - exact.min()) / 510
    np.testing.assert_allclose(arrays["activation.0"][0].ravel(), exact, rtol=0,
                               atol=bound * 1.001)
    assert widget.snapshot["network"]["sizes"] == trainer.network.sizes
    # the page's own modules, each after what it imports (read from their import lines)
    assert list(widget.modules) == module_order()
    assert {"colors.js", "frames.js", "animation.js", "store.js", "network_view.js",
            "layer_summary.js", "conv_view.js", "rnn_view.js", "heatmap.js",
            "time_chart.js"} <= set(widget.modules)
    assert module_order().index("state.js") < module_order().index("store.js")
    assert module_order().index("heatmap.js") < module_order().index("conv_view.js")


def test_stepping_the_widget_steps_the_trainer_and_sends_its_gradients():
    trainer = ps.make_trainer(data={"dataset": "xor"})
    widget = ps.show(trainer)
    widget.step(3)
    header, arrays = decode_frame(widget.step_frame)
    assert header["step"] == trainer.step_count == 3
    assert header["loss"] == trainer.last_record.total_loss
    np.testing.assert_array_equal(arrays["weight_grad.1"],
                                  f32(trainer.last_record.layers[1].weight_grad))


def test_phases_send_phase_frames_and_the_update_a_new_step_frame():
    trainer = ps.make_trainer(data={"dataset": "xor"})
    widget = ps.show(trainer)
    titles = [widget.phase() for _ in range(8)]
    assert titles[0] == "Forward · layer 1" and titles[-1] == "Update"
    header, _ = decode_frame(widget.phase_frame)
    assert header["kind"] == KIND_PHASE and header["phase"]["index"] == 8
    assert decode_frame(widget.step_frame)[0]["step"] == 1


def test_a_whole_step_after_phases_clears_the_phase_shown():
    widget = ps.show(ps.make_trainer(data={"dataset": "xor"}))
    widget.phase()
    widget.step()
    assert widget.phase_frame == b""


def test_one_input_data_sends_the_curve_and_bad_options_are_refused():
    trainer = ps.make_trainer(data={"dataset": "sine"}, network={"output_activation": "linear"})
    assert decode_frame(ps.show(trainer).grid_frame)[0]["kind"] == KIND_LINE
    with pytest.raises(ValueError, match="link_mode"):
        ps.show(trainer, link_mode="both")


def test_the_step_frame_is_the_one_the_server_sends_for_the_same_run():
    widget = ps.show(ps.make_trainer(DIGITS_CNN))
    widget.step(2)
    server = Run(widget.trainer, "widget", grid_resolution=32)
    header, arrays = decode_frame(views.step_frame(server, Pace(playing=False)))
    mine_header, mine = decode_frame(widget.step_frame)
    assert list(mine) == list(arrays)
    for name, value in arrays.items():
        np.testing.assert_array_equal(mine[name], value, err_msg=name)
    assert mine_header["sample"] == header["sample"] and mine_header["loss"] == header["loss"]


def test_a_cnn_widget_sends_its_kernels_feature_maps_and_their_gradients():
    trainer = ps.make_trainer(DIGITS_CNN)
    widget = ps.show(trainer)
    widget.step()
    _, arrays = decode_frame(widget.step_frame)
    conv, pool = trainer.network.layers[0], trainer.network.layers[1]
    record = trainer.last_record
    np.testing.assert_array_equal(arrays["kernel.0"], f32(conv.kernel))
    np.testing.assert_array_equal(arrays["kernel_grad.0"], f32(record.layers[0].kernel_grad))
    traced = trainer.trace_samples([0])
    np.testing.assert_array_equal(arrays["sample.activation.0"],
                                  f32(traced.layers[0].activation[0]))
    np.testing.assert_array_equal(arrays["sample.delta.0"], f32(traced.layers[0].delta[0]))
    np.testing.assert_array_equal(arrays["sample.routing.1"], f32(traced.layers[1].routing[0]))
    assert arrays["sample.activation.0"].shape == (4, 8, 8)
    assert arrays["sample.grad_input.1"].shape == tuple(pool.describe()["input_shape"])
    snap = widget.snapshot
    assert [layer["kind"] for layer in snap["network"]["layers"]] == [
        "conv2d", "maxpool", "flatten", "dense"]
    assert snap["network"]["layers"][0]["output_shape"] == [4, 8, 8]
    assert snap["data"]["dataset"]["sample_shape"] == [1, 8, 8]
    assert snap["data"]["class_names"] == list(trainer.dataset.class_names)
    assert decode_frame(widget.grid_frame)[0]["kind"] == KIND_POINTS


def test_the_snapshot_is_the_servers_without_the_data_rows():
    trainer = ps.make_trainer(DIGITS_CNN)
    widget = ps.show(trainer)
    server = views.snapshot(Run(trainer, "widget"), Pace(playing=False), "widget", [])
    assert "train" not in widget.snapshot["data"] and "test" not in widget.snapshot["data"]
    assert widget.snapshot["network"] == server["network"]
    assert widget.snapshot["spec"] == server["spec"]
    assert widget.snapshot["state"]["phase_count"] == len(trainer.plan) == 10


def test_phases_of_a_cnn_walk_its_layers_forward_and_back():
    trainer = ps.make_trainer(DIGITS_CNN)
    widget = ps.show(trainer)
    titles = [widget.phase() for _ in range(len(trainer.plan))]
    assert titles[0].startswith("Forward · layer 1") and titles[4] == "Loss"
    assert titles[5].startswith("Backward · layer 4") and titles[-1] == "Update"
    header, arrays = decode_frame(widget.phase_frame)
    assert header["phase"] == {"kind": "update", "layer": None, "title": "Update",
                               "index": 10, "count": 10}
    assert decode_frame(widget.step_frame)[0]["step"] == trainer.step_count == 1


def test_an_rnn_widget_sends_its_states_over_time_and_the_gradients_fading_back():
    trainer = ps.make_trainer(RECALL_RNN)
    widget = ps.show(trainer)
    widget.step()
    _, arrays = decode_frame(widget.step_frame)
    record = trainer.last_record.layers[0]
    traced = trainer.trace_samples([0]).layers[0]
    np.testing.assert_array_equal(arrays["weight_hh.0"], f32(trainer.network.layers[0].weight_hh))
    np.testing.assert_array_equal(arrays["weight_hh_grad.0"], f32(record.weight_hh_grad))
    np.testing.assert_array_equal(arrays["delta_norms.0"], f32(record.delta_norms))
    np.testing.assert_array_equal(arrays["sample.activation.0"], f32(traced.activation[0]))
    np.testing.assert_array_equal(arrays["sample.delta_norms.0"], f32(traced.delta_norms))
    assert arrays["sample.activation.0"].shape == (12, 6)  # (T, H)
    assert widget.snapshot["network"]["layers"][0]["input_shape"] == [12, 4]


def test_an_lstm_widget_sends_its_cell_states_and_gates():
    trainer = ps.make_trainer(RECALL_LSTM)
    widget = ps.show(trainer)
    widget.train(3)
    _, arrays = decode_frame(widget.step_frame)
    traced = trainer.trace_samples([0]).layers[0]
    np.testing.assert_array_equal(arrays["sample.cell.0"], f32(traced.cell[0]))
    np.testing.assert_array_equal(arrays["sample.gates.0"], f32(traced.gates[0]))
    assert arrays["sample.gates.0"].shape == (12, 20)  # i, f, g, o of 5 units


def test_the_widgets_styles_and_legend_are_the_pages_confined_to_the_widget():
    widget = ps.show(ps.make_trainer(RECALL_RNN))
    template = (STATIC.parent / "templates" / "index.html").read_text(encoding="utf-8")
    assert widget.legend in template and "δ = ∂L/∂z: backward" in widget.legend
    css = page_css()
    layers = (STATIC / "css" / "layers.css").read_text(encoding="utf-8")
    assert css.startswith(".propscope-widget {") and css.rstrip().endswith("}")
    assert layers in css  # the page's layer styles whole, nested under the widget's class
    assert "--bwd: #c2007a;" in css and ".visually-hidden {" in css


def _commands(widget):
    """What the widget answers the page's views: (content, buffers) per reply."""
    sent = []
    widget.send = lambda content, buffers=None: sent.append((content, buffers))
    return sent


def test_the_drawing_pads_probe_is_answered_with_the_servers_probe_frame():
    trainer = ps.make_trainer(DIGITS_CNN)
    widget = ps.show(trainer)
    sent = _commands(widget)
    drawing = np.zeros(64)
    drawing[[10, 18, 26, 34, 42]] = 1.0  # a stroke down the third column
    widget._on_command(widget, {"type": "probe", "id": 7, "input": drawing.tolist()}, [])
    (content, buffers), = sent
    assert content == {"id": 7, "ok": True}
    header, arrays = decode_frame(buffers[0])
    traced = trainer.trace_input(drawing.reshape(1, 8, 8))
    assert header["output"] == pytest.approx(traced.outputs[0].tolist())
    np.testing.assert_array_equal(arrays["sample.activation.0"],
                                  f32(traced.layers[0].activation[0]))
    assert "sample.delta.0" not in arrays  # forward only: a drawing has no target


def test_a_probe_of_the_wrong_size_or_another_command_is_refused_with_the_reason():
    widget = ps.show(ps.make_trainer(DIGITS_CNN))
    sent = _commands(widget)
    widget._on_command(widget, {"type": "probe", "id": 1, "input": [0.5] * 10}, [])
    widget._on_command(widget, {"type": "play", "id": 2}, [])
    assert sent[0] == ({"id": 1, "error": "this network takes 1×8×8 = 64 numbers, not 10"}, None)
    assert sent[1][0]["id"] == 2 and "probe, not play" in sent[1][0]["error"]
    assert widget.trainer.step_count == 0
