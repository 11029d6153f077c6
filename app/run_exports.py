"""The current run of a page session as a script or an animation (the `export` message).

The page's File menu offers, beside the state files, the run as a standalone NumPy or PyTorch
script that continues training from this step (:mod:`propscope.code_export`) and the next step
drawn phase by phase — forward in gold, backward in magenta — as a GIF or an MP4 for a slide
(:mod:`propscope.animation`; convolutional, recurrent and image networks as maps,
:mod:`propscope.map_animation`). The animation trains a *copy* of the trainer: exporting must not
move the learner's run on by a step.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from engine import persistence
from engine.trainer import Trainer
from propscope.animation import save_animation, scenes_from_trainer
from propscope.code_export import export_code

SCRIPTS = {"numpy": "numpy", "pytorch": "torch"}  # format → file-name suffix
ANIMATIONS = {"gif": "image/gif", "mp4": "video/mp4"}
PYTHON_TYPE = "text/x-python; charset=utf-8"
# A slide's picture: 960×540 (16:9, even for the video), each phase half a second.
WIDTH, HEIGHT, SECONDS_PER_PHASE, FPS = 960, 540, 0.5, 30


def script(trainer: Trainer, language: str) -> bytes:
    """The script of the run as it stands (called on the session's worker: a consistent
    state, never half an update)."""
    return export_code(trainer, language).encode()


def frozen_state(trainer: Trainer) -> dict:
    """Everything the next step depends on, copied (on the session's worker) so the drawing
    can happen elsewhere while the run goes on."""
    return persistence.to_dict(trainer)


def next_step_animation(state: dict, kind: str) -> bytes:
    """The step after ``state`` as a GIF or MP4, one picture per phase, from a copy."""
    trainer = persistence.from_dict(state)
    scenes = scenes_from_trainer(trainer, steps=1, phases=True)
    with tempfile.TemporaryDirectory() as folder:
        path = save_animation(scenes, Path(folder) / f"step.{kind}", WIDTH, HEIGHT,
                              SECONDS_PER_PHASE, FPS)
        return path.read_bytes()
