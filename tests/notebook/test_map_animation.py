"""Convolutional, recurrent and image networks exported as an animation: drawn as maps, each
band holding the trace's own numbers (its output forward, its ∂L/∂z backward)."""

import numpy as np
import pytest
from PIL import Image

import propscope as ps
from engine.lessons import LESSONS
from propscope.animation import render, save_animation, scenes_from_recording, scenes_from_trainer
from propscope.map_animation import MapScene, drawn_as_maps
from tests.notebook.test_animation import _record

CNN = LESSONS["cnn_filters"].spec
RNN = {"data": {"dataset": "recall", "sequence_length": 8},
       "network": {"layers": [{"type": "rnn", "units": 6}], "output_activation": "softmax"},
       "training": {"loss": "cce"}}
DIGITS = {"data": {"dataset": "digits"},
          "network": {"layers": [{"type": "flatten"}, {"type": "dense", "units": 32}],
                      "output_activation": "softmax"},
          "training": {"loss": "cce"}}
MAGENTA, GOLD = (194, 0, 122), (255, 196, 0)


def _pair(spec: dict, steps: int = 3):
    """Two trainers at the same state: one to animate, one to step for the reference."""
    a, b = ps.make_trainer(spec), ps.make_trainer(spec)
    a.train(steps)
    b.train(steps)
    return a, b


def test_which_networks_are_drawn_as_maps():
    assert drawn_as_maps(ps.make_trainer(CNN)) and drawn_as_maps(ps.make_trainer(RNN))
    assert drawn_as_maps(ps.make_trainer(DIGITS))  # images, even through dense layers
    assert drawn_as_maps(ps.make_trainer({"network": {"hidden": [{"units": 32}]}}))  # wide
    assert not drawn_as_maps(ps.make_trainer({"network": {"hidden": [{"units": 8}] * 3}}))


def test_a_cnn_step_is_one_map_scene_per_phase_with_the_engines_maps_and_deltas():
    trainer, twin = _pair(CNN)
    scenes = scenes_from_trainer(trainer, steps=1)
    record = twin.step()
    assert all(isinstance(s, MapScene) for s in scenes)
    assert [(s.kind, s.layer) for s in scenes] == [(p.kind, p.layer) for p in twin.plan]
    # the input, then every layer but flatten (it only reshapes)
    panels = scenes[0].panels
    assert [p.title for p in panels] == ["Input", "conv 8×3×3 relu", "max-pool 2",
                                         "dense 3 softmax"]
    first = scenes[0]  # forward through the convolution: its maps known, nothing after
    np.testing.assert_array_equal(first.panels[0].forward, record.inputs[0])
    np.testing.assert_array_equal(first.panels[1].forward, record.layers[0].activation[0])
    assert first.panels[2].forward is None and first.panels[1].backward is None
    last_backward = scenes[-2]
    assert (last_backward.kind, last_backward.layer) == ("backward", 0)
    np.testing.assert_array_equal(last_backward.panels[1].backward, record.layers[0].delta[0])
    np.testing.assert_array_equal(last_backward.panels[2].backward,
                                  record.layers[1].grad_output[0])
    np.testing.assert_array_equal(last_backward.panels[3].backward, record.layers[3].delta[0])
    assert last_backward.loss == record.total_loss
    names = list(twin.dataset.class_names)
    out = record.layers[-1].activation[0]
    assert last_backward.predicted == names[int(np.argmax(out))]
    assert last_backward.target == names[int(np.argmax(record.targets[0]))]
    assert last_backward.panels[3].names == names


def test_an_rnn_backward_scene_holds_delta_over_every_time_step():
    trainer, twin = _pair(RNN)
    scenes = scenes_from_trainer(trainer, steps=1)
    record = twin.step()
    back = next(s for s in scenes if s.kind == "backward" and s.layer == 0)
    delta = back.panels[1].backward
    assert delta.shape == (8, 6)  # (T, H): one column per time step when drawn
    np.testing.assert_array_equal(delta, record.layers[0].delta[0])
    np.testing.assert_array_equal(back.panels[1].forward, record.layers[0].activation[0])
    assert back.panels[1].title == "RNN 6"


def test_the_phase_being_shown_is_outlined_gold_forward_and_magenta_backward():
    scenes = scenes_from_trainer(_pair(CNN)[0], steps=1)

    def count(image, rgb):  # within the panels (not the titles and band labels around them)
        pixels = np.asarray(image)[52:250, 52:]
        return int(np.all(np.abs(pixels.astype(int) - rgb) < 8, axis=2).sum())

    forward = render(scenes[0], 480, 270)
    backward = render(next(s for s in scenes if s.kind == "backward"), 480, 270)
    assert forward.size == (480, 270)
    assert count(forward, GOLD) > 100 and count(forward, MAGENTA) == 0
    assert count(backward, MAGENTA) > 100 and count(backward, GOLD) == 0


def test_a_wide_image_network_exports_as_a_gif_of_one_frame_per_phase(tmp_path):
    trainer = _pair(DIGITS)[0]
    scenes = scenes_from_trainer(trainer, steps=1)
    path = save_animation(scenes, tmp_path / "digits.gif", 480, 270, seconds_per_scene=0.2)
    with Image.open(path) as gif:
        assert gif.size == (480, 270) and gif.n_frames == len(scenes) == 8


def test_a_cnn_page_recording_becomes_map_scenes_with_the_recorded_numbers(tmp_path):
    spec = {**CNN, "training": {**CNN["training"], "batch_size": 8}}
    scenes = scenes_from_recording(_record(tmp_path, 2, spec))
    twin = ps.make_trainer(spec)
    records = [twin.step() for _ in range(2)]
    traced = twin.trace_samples([0], "train")  # the page's traced sample: the first, by default
    last = scenes[-1]
    assert isinstance(last, MapScene) and last.step == 2
    for k, panel in ((0, 1), (1, 2), (3, 3)):  # conv, max-pool, dense (flatten is not drawn)
        field = "activation" if k != 1 else "output"
        np.testing.assert_allclose(last.panels[panel].forward, getattr(traced.layers[k], field)[0],
                                   rtol=1e-5, atol=1e-6)  # float32 on the wire
    np.testing.assert_allclose(last.panels[1].backward, traced.layers[0].delta[0],
                               rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(last.panels[2].backward, traced.layers[1].grad_output[0],
                               rtol=1e-4, atol=1e-7)
    assert last.loss == pytest.approx(records[-1].total_loss)
    path = save_animation(scenes, tmp_path / "replay.gif", 320, 180)
    with Image.open(path) as gif:
        assert gif.n_frames == len(scenes)
