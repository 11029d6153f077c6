"""The step record: everything one training step computed, for the visualiser to show.

A record is filled phase by phase — forward through each layer, loss, backward through each layer
in reverse, update — by the same code whether the step runs whole or one phase at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from engine.layers import Layer, LayerTrace
from engine.regularization import Regularization


@dataclass(slots=True, eq=False)
class StepRecord:
    step: int  # 1-based number of this step
    epoch: int  # complete passes over the training set before this step
    batch_indices: np.ndarray  # rows of the training set in this batch
    inputs: np.ndarray  # (B, n_in)
    targets: np.ndarray  # (B, n_out), encoded as the output layer sees them
    learning_rate: float
    parameters: np.ndarray | None = None  # the flat parameter vector the step used (no copy)
    regularization: Regularization | None = None  # the penalty the step used (kind and λ)
    layers: list[LayerTrace] = field(default_factory=list)
    sample_losses: np.ndarray | None = None  # (B,) data loss of each sample
    data_loss: float | None = None  # mean of sample_losses
    penalty: float | None = None  # L1/L2 term
    total_loss: float | None = None  # data_loss + penalty: what the gradients minimise
    grad_norms: list[float] = field(default_factory=list)  # ‖(∂L/∂W, ∂L/∂b)‖ per layer
    phases_done: int = 0
    divergence: Divergence | None = None

    @property
    def outputs(self) -> np.ndarray:
        return self.layers[-1].activation

    @property
    def complete(self) -> bool:
        return self.layers[-1].weight_update is not None if self.layers else False


@dataclass(frozen=True)
class Divergence:
    """Where a run stopped being finite, and what the learner can do about it."""

    step: int
    layer: int | None  # 0-based layer index, None when only the loss says so
    quantity: str
    suggestion: str


@dataclass(frozen=True)
class PlannedPhase:
    """One entry of a step's plan: its kind, its layer (0-based, None for loss/update) and the
    title every view shows for it (the browser never restates the plan)."""

    kind: str  # "forward" | "loss" | "backward" | "update"
    layer: int | None
    title: str


@dataclass(frozen=True)
class Phase:
    """One phase just run: what the plan said, and the values it computed, by name."""

    kind: str
    layer: int | None
    values: dict[str, object]
    record: StepRecord
    title: str


_KIND_NAMES = {
    "dense": "dense",
    "conv2d": "convolution",
    "maxpool": "max-pool",
    "avgpool": "average-pool",
    "flatten": "flatten",
    "rnn": "recurrent",
    "lstm": "LSTM",
}


def phase_plan(layers: Sequence[Layer]) -> list[PlannedPhase]:
    """The order of phases in one step: forward through every layer, the loss, backward through
    every layer in reverse, the update. Titles name the layer by position and family."""
    def name(k: int) -> str:
        if layers[k].kind == "dense":
            return f"layer {k + 1}"
        return f"layer {k + 1} ({_KIND_NAMES.get(layers[k].kind, layers[k].kind)})"

    plan = [PlannedPhase("forward", k, f"Forward · {name(k)}") for k in range(len(layers))]
    plan.append(PlannedPhase("loss", None, "Loss"))
    plan.extend(
        PlannedPhase("backward", k, f"Backward · {name(k)}") for k in reversed(range(len(layers)))
    )
    plan.append(PlannedPhase("update", None, "Update"))
    return plan
