"""Weight initialisers: how the first weights are drawn, and why it matters.

Glorot keeps the variance of signals roughly constant through tanh/sigmoid layers, He does the same
for ReLU; the Playground's small uniform is what its users know. Zeros and constant show the
symmetry problem: every neuron of a layer starts equal, receives the same gradient and never becomes
different (with zeros most weights do not even move; with a non-zero constant the units move, but
in lockstep).
Standard normal ignores the fan-in: in a deep, wide network the signal and the gradients grow by a
factor of about √(n_in/2) per ReLU layer — the exploding-gradient lesson.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

WeightSampler = Callable[[np.random.Generator, int, int], np.ndarray]


@dataclass(frozen=True)
class Initializer:
    name: str
    title: str
    formula: str
    sample: WeightSampler
    bias: float = 0.0


def _glorot_uniform(rng, fan_in, fan_out):
    limit = np.sqrt(6.0 / (fan_in + fan_out))  # W ~ U(−√(6/(n_in+n_out)), +…)
    return rng.uniform(-limit, limit, size=(fan_in, fan_out))


def _glorot_normal(rng, fan_in, fan_out):
    return rng.normal(0.0, np.sqrt(2.0 / (fan_in + fan_out)), size=(fan_in, fan_out))


def _he_uniform(rng, fan_in, fan_out):
    limit = np.sqrt(6.0 / fan_in)  # W ~ U(−√(6/n_in), +√(6/n_in))
    return rng.uniform(-limit, limit, size=(fan_in, fan_out))


def _he_normal(rng, fan_in, fan_out):
    return rng.normal(0.0, np.sqrt(2.0 / fan_in), size=(fan_in, fan_out))


def _small_uniform(rng, fan_in, fan_out):
    return rng.uniform(-0.5, 0.5, size=(fan_in, fan_out))


def _zeros(rng, fan_in, fan_out):
    return np.zeros((fan_in, fan_out))


CONSTANT_WEIGHT = 0.5


def _constant(rng, fan_in, fan_out):
    return np.full((fan_in, fan_out), CONSTANT_WEIGHT)


def _standard_normal(rng, fan_in, fan_out):
    return rng.normal(0.0, 1.0, size=(fan_in, fan_out))


INITIALIZERS: dict[str, Initializer] = {
    init.name: init
    for init in (
        Initializer(
            "xavier_uniform", "Xavier/Glorot uniform", "U(±√(6/(n_in+n_out)))", _glorot_uniform
        ),
        Initializer(
            "xavier_normal", "Xavier/Glorot normal", "N(0, 2/(n_in+n_out))", _glorot_normal
        ),
        Initializer("he_uniform", "He uniform", "U(±√(6/n_in))", _he_uniform),
        Initializer("he_normal", "He normal", "N(0, 2/n_in)", _he_normal),
        Initializer(
            "small_uniform",
            "Small uniform (Playground)",
            "U(−0.5, 0.5), bias 0.1",
            _small_uniform,
            bias=0.1,
        ),
        Initializer("zeros", "Zeros (symmetry problem)", "W = 0, b = 0", _zeros),
        Initializer(
            "constant", "Constant (symmetry problem)", f"W = {CONSTANT_WEIGHT}, b = 0", _constant
        ),
        Initializer(
            "standard_normal", "Standard normal (too large)", "N(0, 1), ignores n_in",
            _standard_normal,
        ),
    )
}


def get_initializer(name: str) -> Initializer:
    try:
        return INITIALIZERS[name]
    except KeyError:
        known = ", ".join(INITIALIZERS)
        raise ValueError(f"unknown initializer {name!r}; choose one of: {known}") from None
