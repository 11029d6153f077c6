"""What the network does over its whole input space, for pictures rather than training.

For plane datasets: every neuron's output over a regular grid of the input plane (the thumbnails
and the decision boundary). For one-input datasets: every neuron's output along a line (the curve
a sine fit draws).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.trainer import Trainer


@dataclass(frozen=True)
class GridEvaluation:
    """Neuron outputs over a resolution × resolution grid, rows from the top (high x2) down."""

    resolution: int
    bounds: tuple[float, float]  # the plane is [lo, hi]² in raw input coordinates
    inputs: np.ndarray  # (R*R, n_in): the network's inputs (features after standardisation)
    layers: list[np.ndarray]  # per layer (R*R, units), the last one is the output

    @property
    def output(self) -> np.ndarray:
        return self.layers[-1]


@dataclass(frozen=True)
class LineEvaluation:
    x: np.ndarray  # (n,) raw input values, ascending
    inputs: np.ndarray
    layers: list[np.ndarray]
    fit: np.ndarray  # (n, n_out): the output in the targets' own units (the curve to draw)

    @property
    def output(self) -> np.ndarray:
        return self.layers[-1]


def plane_points(resolution: int, bounds: tuple[float, float]) -> np.ndarray:
    """Cell centres of the grid, row-major from the top-left corner: (R*R, 2) raw points."""
    lo, hi = bounds
    step = (hi - lo) / resolution
    centres = lo + step * (np.arange(resolution) + 0.5)
    x1, x2 = np.meshgrid(centres, centres[::-1])
    return np.column_stack((x1.ravel(), x2.ravel()))


def evaluate_plane(trainer: Trainer, resolution: int = 64) -> GridEvaluation:
    info = trainer.dataset.info
    if not info.plane or trainer.dataset.bounds is None:
        raise ValueError(f"dataset {info.name!r} has no 2-D input plane to evaluate")
    bounds = trainer.dataset.bounds
    inputs = trainer.problem.inputs(plane_points(resolution, bounds), trainer.dtype)
    return GridEvaluation(resolution, bounds, inputs, trainer.network.activations(inputs))


def evaluate_line(trainer: Trainer, points: int = 200) -> LineEvaluation:
    dataset = trainer.dataset
    if dataset.x_train.shape[1] != 1:
        raise ValueError(f"dataset {dataset.info.name!r} does not have exactly one input")
    everything = np.concatenate((dataset.x_train[:, 0], dataset.x_test[:, 0]))
    x = np.linspace(everything.min(), everything.max(), points)
    inputs = trainer.problem.inputs(x[:, None], trainer.dtype)
    layers = trainer.network.activations(inputs)
    return LineEvaluation(x, inputs, layers, trainer.problem.outputs_in_units(layers[-1]))
