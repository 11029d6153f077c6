"""Optimisers turn gradients into parameter updates.

They work on the network's flat parameter and gradient vectors and return the update ΔP instead
of changing parameters in place, so the step can record both the applied update and the
parameters before it without copying. ΔP is written into ``out`` when given (a lean step's reused
vector) and every intermediate into one scratch vector kept between steps: the state updates in
place and a step allocates no array the size of the parameters. Each formula is evaluated in one
fixed order of operations whichever way it is called, so both give the same floats. The
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
    # intermediate values of the formulas, reused from step to step (not part of the state)
    _scratch: np.ndarray | None = field(default=None, repr=False, compare=False)

    name = "sgd"

    def updates(
        self, params: np.ndarray, grads: np.ndarray, out: np.ndarray | None = None
    ) -> np.ndarray:
        """ΔP for the flat parameter vector given the flat gradient vector (into ``out``, or a
        fresh vector when it is None)."""
        self.steps += 1
        return self._update(grads, np.empty_like(grads) if out is None else out)

    def _update(self, g: np.ndarray, out: np.ndarray) -> np.ndarray:
        return np.multiply(g, -self.learning_rate, out=out)

    def _slot(self, key: str, like: np.ndarray) -> np.ndarray:
        slot = self.state.get(key)
        if slot is None:
            slot = self.state[key] = np.zeros_like(like)
        return slot

    def _work(self, like: np.ndarray) -> np.ndarray:
        work = self._scratch
        if work is None or work.shape != like.shape or work.dtype != like.dtype:
            work = self._scratch = np.empty_like(like)
        return work

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

    def _update(self, g, out):
        # v ← μ·v + g;  ΔP = (g + μ·v)·(−η) with Nesterov, v·(−η) without
        v = self._slot("velocity", g)
        v *= self.momentum
        v += g
        if not self.nesterov:
            return np.multiply(v, -self.learning_rate, out=out)
        np.multiply(v, self.momentum, out=out)
        out += g
        out *= -self.learning_rate
        return out

    def hyperparameters(self):
        return {"momentum": self.momentum, "nesterov": self.nesterov}


@dataclass
class RMSProp(Optimizer):
    rho: float = 0.99
    eps: float = 1e-8
    name = "rmsprop"

    def _update(self, g, out):
        # s ← ρ·s + ((1−ρ)·g)·g;  ΔP = (−η·g) / (√s + ε)
        s, work = self._slot("square_avg", g), self._work(g)
        s *= self.rho
        np.multiply(g, 1.0 - self.rho, out=work)
        work *= g
        s += work
        np.sqrt(s, out=work)
        work += self.eps
        np.multiply(g, -self.learning_rate, out=out)
        out /= work
        return out

    def hyperparameters(self):
        return {"rho": self.rho, "eps": self.eps}


@dataclass
class Adam(Optimizer):
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    name = "adam"

    def _update(self, g, out):
        # m ← β₁m + (1−β₁)g;  v ← β₂v + ((1−β₂)g)g;  ΔP = (−α·m) / (√v / √(1−β₂ᵗ) + ε)
        b1, b2, t = self.beta1, self.beta2, self.steps
        step_size = self.learning_rate / (1.0 - b1**t)
        root_correction = math.sqrt(1.0 - b2**t)
        m, v, work = self._slot("m", g), self._slot("v", g), self._work(g)
        m *= b1
        m += np.multiply(g, 1.0 - b1, out=work)
        v *= b2
        np.multiply(g, 1.0 - b2, out=work)
        work *= g
        v += work
        np.sqrt(v, out=work)
        work /= root_correction
        work += self.eps
        np.multiply(m, -step_size, out=out)
        out /= work
        return out

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
