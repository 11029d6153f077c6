"""The page's run as a script or an animation: the `export` message's code and media formats.

The script is run in its own interpreter and must continue exactly as the session does; the
animation is decoded and must hold one picture per phase of the next step, while the session
itself has not moved.
"""

from __future__ import annotations

import io
import subprocess
import sys

import imageio_ffmpeg
import numpy as np
import pytest
from PIL import Image

from app import run_exports
from propscope.animation import frames_in_video
from tests.app.support import messages_of
from tests.app.test_experiments import SPEC, download, ok, snapshot_of

pytestmark = pytest.mark.timeout(120)
LAYERS = 3  # SPEC: two hidden layers and the output layer
PHASES = LAYERS + 1 + LAYERS + 1  # forward per layer, loss, backward per layer, update


def _trained(session, steps: int = 9) -> None:
    ok(session.request({"type": "configure", "spec": SPEC})[0])
    ok(session.request({"type": "step", "n": steps})[0])


def test_the_numpy_script_of_the_run_continues_as_the_session_does(client, session, tmp_path):
    _trained(session)
    ack = ok(session.request({"type": "export", "format": "numpy"})[0])
    assert ack["filename"] == "propscope-spiral-step9-numpy.py" and ack["step"] == 9
    script = tmp_path / ack["filename"]
    script.write_bytes(download(client, ack))
    result = subprocess.run([sys.executable, "-I", str(script), "--steps", "4", "--save",
                             str(tmp_path / "after.npz")], cwd=tmp_path, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].startswith("step 13 ")
    ok(session.request({"type": "step", "n": 4})[0])
    layers = snapshot_of(session)["parameters"]
    with np.load(tmp_path / "after.npz") as saved:
        for k, layer in enumerate(layers):
            np.testing.assert_array_equal(saved[f"W{k}"], np.asarray(layer["weight"]))
            np.testing.assert_array_equal(saved[f"b{k}"], np.asarray(layer["bias"]))


def test_the_pytorch_script_of_the_run_builds_the_networks_layers(client, session):
    _trained(session)
    ack = ok(session.request({"type": "export", "format": "pytorch"})[0])
    assert ack["filename"] == "propscope-spiral-step9-torch.py"
    text = download(client, ack).decode()
    assert "import torch" in text and "torch.nn.Linear(*weight.shape" in text
    assert "layers 2 → 6 → 5 → 1" in text  # the spec's sizes, inputs first


@pytest.mark.parametrize("kind", ["gif", "mp4"])
def test_the_next_step_animates_phase_by_phase_without_moving_the_run(client, session, tmp_path,
                                                                      kind):
    _trained(session)
    before = snapshot_of(session)
    ack, seen = session.request({"type": "export", "format": kind})
    ok(ack)
    assert ack["filename"] == f"propscope-spiral-step9-next-step.{kind}"
    data = download(client, ack)
    if kind == "gif":
        with Image.open(io.BytesIO(data)) as gif:
            assert gif.size == (run_exports.WIDTH, run_exports.HEIGHT)
            assert gif.n_frames == PHASES
    else:
        video = tmp_path / "step.mp4"
        video.write_bytes(data)
        reader = imageio_ffmpeg.read_frames(str(video))
        assert next(reader)["size"] == (run_exports.WIDTH, run_exports.HEIGHT)
        assert sum(1 for _ in reader) == frames_in_video(PHASES, run_exports.SECONDS_PER_PHASE,
                                                         run_exports.FPS)
    assert not messages_of(seen, "snapshot")
    after = snapshot_of(session)
    assert after["state"]["step"] == before["state"]["step"] == 9
    assert after["parameters"] == before["parameters"]  # the copy trained, not the session
