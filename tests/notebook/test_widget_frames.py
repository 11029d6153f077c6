"""What the live widget sends from the kernel is the engine's numbers, in the page's layout."""

import numpy as np
import pytest

import propscope as ps
from app.frames import KIND_GRID, KIND_LINE, KIND_PHASE, KIND_STEP, decode_frame
from engine.evaluation import evaluate_plane
from propscope.widget import module_order

pytest.importorskip("anywidget")


def test_the_widget_starts_with_the_trainers_weights_and_thumbnails():
    trainer = ps.make_trainer(data={"dataset": "xor"})
    widget = ps.show(trainer)
    header, arrays = decode_frame(widget.step_frame)
    assert header["kind"] == KIND_STEP and header["step"] == 0
    for k, layer in enumerate(trainer.network.layers):
        np.testing.assert_array_equal(arrays[f"weight.{k}"], layer.weight.astype(np.float32))
    header, arrays = decode_frame(widget.plane_frame)
    assert header["kind"] == KIND_GRID
    grid = evaluate_plane(trainer, header["resolution"])
    np.testing.assert_array_equal(arrays["activation.0"][0].ravel(),
                                  grid.layers[0][:, 0].astype(np.float32))
    assert widget.snapshot["network"]["sizes"] == trainer.network.sizes
    # the page's own modules, each after what it imports (read from their import lines)
    assert list(widget.modules) == module_order()
    assert {"colors.js", "frames.js", "animation.js", "store.js", "network_view.js"} <= set(
        widget.modules)
    assert module_order().index("state.js") < module_order().index("store.js")


def test_stepping_the_widget_steps_the_trainer_and_sends_its_gradients():
    trainer = ps.make_trainer(data={"dataset": "xor"})
    widget = ps.show(trainer)
    widget.step(3)
    header, arrays = decode_frame(widget.step_frame)
    assert header["step"] == trainer.step_count == 3
    assert header["loss"] == trainer.last_record.total_loss
    np.testing.assert_array_equal(arrays["weight_grad.1"],
                                  trainer.last_record.layers[1].weight_grad.astype(np.float32))


def test_phases_send_phase_frames_and_the_update_a_new_step_frame():
    trainer = ps.make_trainer(data={"dataset": "xor"})
    widget = ps.show(trainer)
    titles = [widget.phase() for _ in range(8)]
    assert titles[0] == "Forward · layer 1" and titles[-1] == "Update"
    header, _ = decode_frame(widget.phase_frame)
    assert header["kind"] == KIND_PHASE and header["phase"]["index"] == 8
    assert decode_frame(widget.step_frame)[0]["step"] == 1


def test_one_input_data_sends_the_curve_and_bad_options_are_refused():
    trainer = ps.make_trainer(data={"dataset": "sine"}, network={"output_activation": "linear"})
    assert decode_frame(ps.show(trainer).plane_frame)[0]["kind"] == KIND_LINE
    with pytest.raises(ValueError, match="link_mode"):
        ps.show(trainer, link_mode="both")


def test_a_cnn_or_rnn_is_refused_by_the_widget_with_what_to_use_instead():
    import pytest

    import propscope as ps
    from engine.lessons import LESSONS

    for name, kind in (("cnn_filters", "conv2d"), ("vanishing_through_time", "rnn")):
        with pytest.raises(ValueError) as err:
            ps.show(ps.make_trainer(LESSONS[name].spec))
        assert f"has {kind}" in str(err.value) and "ps.animate" in str(err.value)
