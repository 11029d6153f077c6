"""Activation functions: each defines its value and its derivative once.

An activation maps a layer's pre-activation ``z`` to its activation ``a = f(z)``. During the
backward pass it turns ``dL/da`` into the layer's delta ``dL/dz``. Element-wise activations do this
with ``f'(z)``; softmax couples its outputs, so it supplies the Jacobian-vector product instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

LEAKY_SLOPE = 0.01


@dataclass(frozen=True)
class Activation:
    name: str
    title: str
    formula: str
    value: Callable[[np.ndarray], np.ndarray]
    # f'(z), given both z and a = f(z) so whichever is cheaper can be used.
    derivative: Callable[[np.ndarray, np.ndarray], np.ndarray] | None
    elementwise: bool = True
    output_only: bool = False
    # dL/dz straight from (z, a, dL/da) where that takes fewer passes than forming f'(z) first;
    # the same floats as dL/da · f'(z).
    chain: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray] | None = None
    # (a, parts) for an activation whose intermediates a fused loss reuses (softmax: z − max z
    # and Σ e^(z − max z), which categorical cross-entropy would otherwise compute again).
    value_parts: Callable[[np.ndarray], tuple[np.ndarray, tuple[np.ndarray, ...]]] | None = None

    def backward(self, z: np.ndarray, a: np.ndarray, grad_a: np.ndarray) -> np.ndarray:
        """dL/dz from dL/da: the chain rule through this activation. Every derivative is a fresh
        array, so the product goes into it: one array a layer instead of two."""
        if self.chain is not None:
            return self.chain(z, a, grad_a)
        if self.elementwise:
            slope = self.derivative(z, a)
            return np.multiply(grad_a, slope, out=slope)
        return _softmax_backward(a, grad_a)

    def __reduce__(self):
        # One of the registry's: it travels by name (a run lent to a training process).
        return (get_activation, (self.name,))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    # Two branches so exp never overflows: 1/(1+e^-z) for z >= 0, e^z/(1+e^z) for z < 0.
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _softmax(z: np.ndarray) -> np.ndarray:
    return _softmax_parts(z)[0]


def _softmax_parts(z: np.ndarray) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """softmax(z) with z − max z and the row sums Σ e^(z − max z): the same floats
    categorical cross-entropy's logsumexp computes, so a training step hands them on instead
    (4 NumPy calls fewer). The ufuncs' own reductions are what z.max and .sum call, without
    their Python wrappers (each adds ~0.5 µs at these sizes)."""
    shifted = z - np.maximum.reduce(z, axis=-1, keepdims=True)
    e = np.exp(shifted)
    sums = np.add.reduce(e, axis=-1)  # contiguous, as the loss's own sum would be
    return e / sums[..., None], (shifted, sums)


def _softmax_backward(a: np.ndarray, grad_a: np.ndarray) -> np.ndarray:
    # dL/dz_k = a_k (g_k - sum_j g_j a_j): the softmax Jacobian applied to g without forming it.
    return a * (grad_a - (grad_a * a).sum(axis=-1, keepdims=True))


def _tanh_derivative(z: np.ndarray, a: np.ndarray) -> np.ndarray:
    # 1 − a², computed into one array (a wide layer's batch is megabytes)
    slope = a * a
    if not isinstance(slope, np.ndarray):  # one number (an explanation's single unit)
        return 1.0 - slope
    return np.subtract(1.0, slope, out=slope)


def _sigmoid_derivative(z: np.ndarray, a: np.ndarray) -> np.ndarray:
    # a·(1 − a), computed into one array
    slope = 1.0 - a
    if not isinstance(slope, np.ndarray):
        return a * slope
    return np.multiply(a, slope, out=slope)


def _relu_derivative(z: np.ndarray, a: np.ndarray) -> np.ndarray:
    return (z > 0).astype(z.dtype)


def _relu_chain(z: np.ndarray, a: np.ndarray, grad_a: np.ndarray) -> np.ndarray:
    # dL/da · [z > 0]: the mask is cast to 1.0 or 0.0 inside the product (no float copy of it)
    return np.multiply(grad_a, z > 0)


def _linear_chain(z: np.ndarray, a: np.ndarray, grad_a: np.ndarray) -> np.ndarray:
    return grad_a.copy()  # dL/da · 1, a fresh array as every delta is


def _leaky_relu_derivative(z: np.ndarray, a: np.ndarray) -> np.ndarray:
    return np.where(z > 0, 1.0, LEAKY_SLOPE).astype(z.dtype)


ACTIVATIONS: dict[str, Activation] = {
    act.name: act
    for act in (
        Activation(
            "linear", "Linear", "a = z", lambda z: z, lambda z, a: np.ones_like(z),
            chain=_linear_chain,
        ),
        Activation(
            "relu", "ReLU", "a = max(0, z)", lambda z: np.maximum(z, 0), _relu_derivative,
            chain=_relu_chain,
        ),
        Activation(
            "leaky_relu",
            "Leaky ReLU",
            f"a = max({LEAKY_SLOPE}·z, z)",
            lambda z: np.where(z > 0, z, LEAKY_SLOPE * z),
            _leaky_relu_derivative,
        ),
        Activation("tanh", "tanh", "a = tanh(z)", np.tanh, _tanh_derivative),
        Activation(
            "sigmoid", "Sigmoid", "a = 1 / (1 + e^−z)", _sigmoid, _sigmoid_derivative
        ),
        Activation(
            "softmax",
            "Softmax",
            "a_k = e^z_k / Σ_j e^z_j",
            _softmax,
            None,
            elementwise=False,
            output_only=True,
            value_parts=_softmax_parts,
        ),
    )
}


def get_activation(name: str) -> Activation:
    try:
        return ACTIVATIONS[name]
    except KeyError:
        known = ", ".join(ACTIVATIONS)
        raise ValueError(f"unknown activation {name!r}; choose one of: {known}") from None
