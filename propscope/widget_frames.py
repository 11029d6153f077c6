"""What the live widget feeds the page's own ES modules: the server's messages, made in the kernel.

The widget (propscope/widget.py) runs the page's views unchanged — network_view.js for a dense
network, conv_view.js or rnn_view.js for a convolutional or recurrent one — so it gives them what
the server gives them. It holds its trainer in an :class:`app.run.Run`, as a server session does,
and asks the server's own view functions (:mod:`app.views`) for the snapshot and the binary step,
grid and phase frames (docs/protocol.md §3–4). Nothing here builds a frame: a layer family the
server can show, the widget shows with the same arrays. Neither module imports FastAPI.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from app import views
from app.frames import dumps
from app.run import Pace, Run
from engine.trace import Phase
from engine.trainer import Trainer

#: The widget's clock: never playing (the kernel steps it), so frames carry no rate.
PACE = Pace(playing=False, speed=1, fps=30.0)
#: Thumbnails over the input plane: 32×32 is plenty for a picture a notebook cell high.
GRID_RESOLUTION = 32


def kernel_run(trainer: Trainer) -> Run:
    """The trainer as the server holds it (run id "widget", sample 0 of the training set traced)."""
    return Run(trainer, "widget", grid_resolution=GRID_RESOLUTION)


def snapshot(run: Run) -> dict[str, Any]:
    """The server's snapshot of the run, without the training and test rows: they feed the page's
    data panel, which the widget has not (a digits snapshot would otherwise carry ~1 MB of JSON)."""
    message = views.snapshot(run, PACE, "widget", [run.summary()])
    message["data"].pop("train")
    message["data"].pop("test")
    return json.loads(dumps(message))  # NaN-free JSON types, as the page receives it


def step_frame(run: Run) -> bytes:
    """Parameters, the latest step's gradients and updates, and the traced sample (the server's
    step frame, named as the engine names each layer family's arrays)."""
    return bytes(views.step_frame(run, PACE))


def grid_frame(run: Run) -> bytes:
    """The thumbnails over the input plane, the fit along a line, or predicted against actual
    (the server's grid frame for this data)."""
    (frame,) = views.grid_frames(run)
    return bytes(frame)


def phase_frame(run: Run, phase: Phase) -> bytes:
    """One phase of the current step and the values it just computed (the server's answer to
    `phase`)."""
    _, frame = views.phase_frame(run, phase)
    return bytes(frame)


def probe_frame(run: Run, values: Sequence[float]) -> bytes:
    """A drawn input (the drawing pad's picture) forward through the network as it is now: the
    server's answer to `probe`. ValueError when it is not one sample of the data's shape."""
    shape = run.trainer.dataset.sample_shape
    pixels = np.asarray(values, dtype=np.float64)
    if pixels.ndim != 1 or pixels.size != math.prod(shape):
        raise ValueError(f"this network takes {'×'.join(map(str, shape))} = {math.prod(shape)}"
                         f" numbers, not {pixels.size}")
    return bytes(views.probe_frame(run, pixels.reshape(shape)))
