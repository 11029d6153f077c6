"""Training exported as an animation: scenes carry the engine's numbers; files decode to the
frame count and size asked for."""

import io
import urllib.error
import urllib.request

import imageio_ffmpeg
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

import propscope as ps
from app.devserver import running_server
from app.main import create_app
from propscope.animation import (
    frames_in_video,
    render_scene,
    save_animation,
    scenes_from_recording,
    scenes_from_trainer,
)
from tests.app.support import WsClient, make_settings

SPEC = {"data": {"dataset": "xor", "n_samples": 60},
        "network": {"hidden": [{"units": 4}, {"units": 3}]}}


def _trained():
    trainer = ps.make_trainer(SPEC)
    trainer.train(5)
    return trainer


def test_a_step_by_phases_is_one_scene_per_phase_in_the_engines_order():
    trainer = _trained()
    scenes = scenes_from_trainer(trainer, steps=2)
    plan = [(p.kind, p.layer) for p in trainer.plan]
    assert len(plan) == 8
    assert len(scenes) == 2 * len(plan)
    assert [(s.kind, s.layer) for s in scenes] == plan * 2
    assert scenes[0].title == "Step 6 · Forward · layer 1"
    assert scenes[-1].title == "Step 7 · Update"


def test_scenes_show_the_gradients_and_weights_the_engine_computed():
    trainer, twin = _trained(), _trained()
    scenes = scenes_from_trainer(trainer, steps=1)
    record = twin.step()
    backward_first = next(s for s in scenes if s.kind == "backward" and s.layer == 0)
    for k in range(3):
        np.testing.assert_array_equal(backward_first.links[k], record.layers[k].weight_grad)
    update = scenes[-1]
    for k, layer in enumerate(twin.network.layers):
        np.testing.assert_array_equal(update.links[k], layer.weight)  # the weights after
        np.testing.assert_array_equal(trainer.network.layers[k].weight, layer.weight)
    assert update.loss == record.total_loss
    forward_first = scenes[0]
    np.testing.assert_array_equal(forward_first.columns[1], record.layers[0].activation[0])
    assert forward_first.columns[2] is None  # layer 2 has not run yet in that phase


def test_whole_steps_are_one_scene_each_with_their_loss():
    trainer = _trained()
    scenes = scenes_from_trainer(trainer, steps=4, phases=False)
    assert [s.title for s in scenes] == ["Step 6", "Step 7", "Step 8", "Step 9"]
    assert [s.loss for s in scenes] == trainer.history.loss[-4:]


def test_a_rendered_scene_has_the_size_asked_for_and_the_page_colours():
    scene = scenes_from_trainer(_trained(), steps=1, phases=False)[0]
    image = render_scene(scene, 400, 250)
    assert image.size == (400, 250)
    colours = {c for _, c in image.getcolors(maxcolors=400 * 250)}
    assert any(abs(r - 0) < 30 and abs(g - 100) < 30 and abs(b - 178) < 30 for r, g, b in colours)
    assert any(abs(r - 214) < 30 and abs(g - 96) < 30 and b < 40 for r, g, b in colours)


def test_gif_has_one_frame_per_scene_at_the_chosen_size_and_speed(tmp_path):
    scenes = scenes_from_trainer(_trained(), steps=2)
    path = save_animation(scenes, tmp_path / "training.gif", 320, 180, seconds_per_scene=0.25)
    with Image.open(path) as gif:
        assert gif.size == (320, 180)
        assert gif.n_frames == len(scenes) == 16
        assert gif.info["loop"] == 0
        durations = []
        for index in range(gif.n_frames):
            gif.seek(index)
            durations.append(gif.info["duration"])
    assert durations == [250] * 16


@pytest.mark.parametrize("suffix", [".mp4", ".webm"])
def test_videos_decode_to_the_frame_count_and_size_asked_for(tmp_path, suffix):
    scenes = scenes_from_trainer(_trained(), steps=1)
    path = save_animation(scenes, tmp_path / f"training{suffix}", 320, 180,
                          seconds_per_scene=0.2, fps=10)
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    frames = [np.frombuffer(f, np.uint8).reshape(180, 320, 3) for f in reader]
    assert meta["size"] == (320, 180)
    assert meta["fps"] == pytest.approx(10)
    assert len(frames) == frames_in_video(len(scenes), 0.2, 10) == 16
    first = np.asarray(render_scene(scenes[0], 320, 180), dtype=float)
    assert np.abs(frames[0].astype(float) - first).mean() < 6  # the scene, lossily encoded


def test_bad_sizes_and_names_are_clear_errors(tmp_path):
    scenes = scenes_from_trainer(_trained(), steps=1, phases=False)
    with pytest.raises(ValueError, match="even width"):
        save_animation(scenes, tmp_path / "odd.mp4", 321, 180)
    with pytest.raises(ValueError, match=".gif, .mp4, .webm"):
        save_animation(scenes, tmp_path / "slides.pptx")
    with pytest.raises(ValueError, match="between 16"):
        save_animation(scenes, tmp_path / "huge.gif", 8000, 100)


def test_a_page_recording_becomes_one_scene_per_recorded_step(tmp_path):
    scenes = scenes_from_recording(_record(tmp_path, 3))
    steps = [s.step for s in scenes]
    assert steps[-3:] == [1, 2, 3] and steps == sorted(steps)
    twin = ps.make_trainer(SPEC)
    records = [twin.step() for _ in range(3)]
    last = scenes[-1]
    assert last.activations == ["tanh", "tanh", "tanh"]
    assert last.labels == list(twin.problem.input_labels)
    for k, layer in enumerate(twin.network.layers):  # float32 on the wire
        np.testing.assert_allclose(last.links[k], layer.weight, rtol=1e-6, atol=1e-7)
    assert last.loss == pytest.approx(records[-1].total_loss)
    path = save_animation(scenes, tmp_path / "replay.gif", 240, 160)
    with Image.open(path) as gif:
        assert gif.n_frames == len(scenes)


def test_a_file_that_is_not_a_recording_is_refused():
    with pytest.raises(ValueError, match="recording"):
        scenes_from_recording(b"GIF89a not a recording at all")



def _record(tmp_path, steps: int, spec: dict = SPEC) -> bytes:
    """A real page recording: a session over the app's WebSocket, `steps` single steps."""
    with TestClient(create_app(make_settings(db_path=str(tmp_path / "rec.db")))) as client:
        with client.websocket_connect("/ws") as ws:
            session = WsClient(ws)
            session.handshake()
            session.request({"type": "configure", "spec": spec})
            session.request({"type": "record_start"})
            for _ in range(steps):
                session.request({"type": "step", "n": 1})
            ack, _ = session.request({"type": "record_stop"})
            return client.get(ack["url"]).content


def _post(url: str, body: bytes):
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/octet-stream"})
    try:
        with urllib.request.urlopen(request, timeout=60) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


@pytest.fixture(scope="module")
def server():
    with running_server() as dev:
        yield dev


def test_the_server_turns_a_recording_into_a_gif_and_an_mp4(tmp_path, server):
    data = _record(tmp_path, 4)
    n_scenes = len(scenes_from_recording(data))
    status, headers, body = _post(f"{server.base}/api/animation?format=gif&width=320&height=200"
                                  "&seconds_per_scene=0.1", data)
    assert status == 200 and headers.get("Content-Type") == "image/gif"
    with Image.open(io.BytesIO(body)) as gif:
        assert gif.size == (320, 200) and gif.n_frames == n_scenes == 5  # step 0 … step 4
    status, headers, body = _post(f"{server.base}/api/animation?format=mp4&width=320&height=200"
                                  "&seconds_per_scene=0.1&fps=20", data)
    assert status == 200 and headers.get("Content-Type") == "video/mp4"
    video = tmp_path / "out.mp4"
    video.write_bytes(body)
    reader = imageio_ffmpeg.read_frames(str(video))
    assert next(reader)["size"] == (320, 200)
    assert sum(1 for _ in reader) == frames_in_video(n_scenes, 0.1, 20)


def test_the_animation_route_refuses_bad_input_clearly(tmp_path, server):
    status, _, body = _post(f"{server.base}/api/animation", b"not a recording")
    assert status == 400 and b"not a Propscope recording" in body
    status, _, body = _post(f"{server.base}/api/animation?format=pptx", b"")
    assert status == 400 and b"gif, mp4, webm" in body
    status, _, body = _post(f"{server.base}/api/animation?format=webm&width=321", b"")
    assert status == 400 and b"even width" in body
