"""Optimisers turn gradients into parameter updates.

They work on the network's flat parameter and gradient vectors and return the update ΔP instead
of changing parameters in place, so the step can record both the applied update and the
parameters before it without copying. The
formulas follow PyTorch's conventions so the two can be compared number for number.
The learning rate is a plain attribute: changing it between steps keeps all other state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class OptimizerInfo:
    name: str
    title: str
    formula: str
    hyperparameters: tuple[str, ...]


OPTIMIZERS: dict[str, OptimizerInfo] = {
    info.name: info
    for info in (
        OptimizerInfo("sgd", "SGD", "ΔP = −η·g", ()),
        OptimizerInfo(
            "momentum",
            "SGD + momentum",
            "v ← μ·v + g;  ΔP = −η·v  (Nesterov: ΔP = −η·(g + μ·v))",
            ("momentum", "nesterov"),
        ),
        OptimizerInfo(
            "rmsprop", "RMSProp", "s ← ρ·s + (1−ρ)·g²;  ΔP = −η·g / (√s + ε)", ("rho", "eps")
        ),
        OptimizerInfo(
            "adam",
            "Adam",
            "m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²;  ΔP = −η·m̂ / (√v̂ + ε)",
            ("beta1", "beta2", "eps"),
        ),
    )
}


@dataclass
class Optimizer:
    """Base: holds the learning rate, the step count and per-parameter state arrays."""

    learning_rate: float
    steps: int = 0
    state: dict[str, np.ndarray] = field(default_factory=dict)

    name = "sgd"

    def updates(self, params: np.ndarray, grads: np.ndarray) -> np.ndarray:
        """ΔP for the flat parameter vector given the flat gradient vector."""
        self.steps += 1
        return self._update(grads)

    def _update(self, g: np.ndarray) -> np.ndarray:
        return g * -self.learning_rate

    def _slot(self, key: str, like: np.ndarray) -> np.ndarray:
        slot = self.state.get(key)
        if slot is None:
            slot = self.state[key] = np.zeros_like(like)
        return slot

    def hyperparameters(self) -> dict[str, float | bool]:
        return {}

    def state_dict(self) -> dict:
        return {
            "name": self.name,
            "learning_rate": self.learning_rate,
            "steps": self.steps,
            "hyperparameters": self.hyperparameters(),
            "state": {key: array.copy() for key, array in self.state.items()},
        }

    def load_state(self, data: dict, dtype: np.dtype) -> None:
        self.learning_rate = float(data["learning_rate"])
        self.steps = int(data["steps"])
        self.state = {
            key: np.asarray(array, dtype=dtype) for key, array in data.get("state", {}).items()
        }


@dataclass
class SGD(Optimizer):
    name = "sgd"


@dataclass
class Momentum(Optimizer):
    momentum: float = 0.9
    nesterov: bool = False
    name = "momentum"

    def _update(self, g):
        v = self._slot("velocity", g)
        v *= self.momentum
        v += g
        step = g + self.momentum * v if self.nesterov else v
        return step * -self.learning_rate

    def hyperparameters(self):
        return {"momentum": self.momentum, "nesterov": self.nesterov}


@dataclass
class RMSProp(Optimizer):
    rho: float = 0.99
    eps: float = 1e-8
    name = "rmsprop"

    def _update(self, g):
        s = self._slot("square_avg", g)
        s *= self.rho
        s += (1.0 - self.rho) * g * g
        return -self.learning_rate * g / (np.sqrt(s) + self.eps)

    def hyperparameters(self):
        return {"rho": self.rho, "eps": self.eps}


@dataclass
class Adam(Optimizer):
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    name = "adam"

    def _update(self, g):
        b1, b2, t = self.beta1, self.beta2, self.steps
        step_size = self.learning_rate / (1.0 - b1**t)
        root_correction = math.sqrt(1.0 - b2**t)
        m, v = self._slot("m", g), self._slot("v", g)
        m *= b1
        m += (1.0 - b1) * g
        v *= b2
        v += (1.0 - b2) * g * g
        return -step_size * m / (np.sqrt(v) / root_correction + self.eps)

    def hyperparameters(self):
        return {"beta1": self.beta1, "beta2": self.beta2, "eps": self.eps}


_CLASSES: dict[str, type[Optimizer]] = {
    "sgd": SGD,
    "momentum": Momentum,
    "rmsprop": RMSProp,
    "adam": Adam,
}


def make_optimizer(name: str, learning_rate: float, **hyperparameters: float | bool) -> Optimizer:
    """Build an optimiser, ignoring hyperparameters that belong to other optimisers."""
    try:
        cls = _CLASSES[name]
    except KeyError:
        known = ", ".join(_CLASSES)
        raise ValueError(f"unknown optimizer {name!r}; choose one of: {known}") from None
    own = {k: v for k, v in hyperparameters.items() if k in OPTIMIZERS[name].hyperparameters}
    return cls(learning_rate=learning_rate, **own)
