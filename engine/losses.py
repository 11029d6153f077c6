"""Loss functions over a batch, per sample.

Every loss returns one number per sample; the data loss of a step is their mean. Deltas here are
the gradient of a *single sample's* loss (not divided by the batch size), so a sample's
contribution to a weight gradient reads as ``upstream activation × delta``; the layer averages.

Cross-entropies are fused with their output activation and computed from the logits ``z``:
that is what keeps them finite for logits of ±1000 (no log(0), no overflow in exp).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from engine.activations import Activation

_PROB_EPS = 1e-12  # floor for probabilities in the displayed ∂L/∂a of cross-entropy


@dataclass(frozen=True)
class Loss(ABC):
    name: str
    title: str
    formula: str
    delta_formula: str
    requires_output: str | None = None  # the output activation a fused loss is defined on

    def per_sample(
        self, z: np.ndarray, a: np.ndarray, y: np.ndarray, parts: tuple | None = None
    ) -> np.ndarray:
        """The loss of each sample, shape (batch,). With a time axis, (batch, T, K), a sample's
        loss is the mean of its time steps' losses. ``parts`` are the output activation's
        intermediates (Activation.value_parts) when the forward pass kept them: a fused loss
        reads them instead of computing the same floats again."""
        if a.ndim == 2:
            return self.rows(z, a, y) if parts is None else self.rows_from_parts(z, a, y, parts)
        batch, steps, k = a.shape
        flat = self.rows(z.reshape(-1, k), a.reshape(-1, k), y.reshape(-1, k))
        return flat.reshape(batch, steps).mean(axis=1)

    def output_delta(
        self, z: np.ndarray, a: np.ndarray, y: np.ndarray, activation: Activation
    ) -> tuple[np.ndarray, np.ndarray]:
        """(dL/da, dL/dz) at the output layer for each sample (each time step carries 1/T of
        its sample's loss)."""
        grad_a, delta = self.rows_delta(z, a, y, activation)
        if a.ndim == 3:
            scale = 1.0 / a.shape[1]
            grad_a, delta = grad_a * scale, delta * scale
        return grad_a, delta

    def output_delta_only(
        self, z: np.ndarray, a: np.ndarray, y: np.ndarray, activation: Activation
    ) -> np.ndarray:
        """dL/dz alone, the same floats as :meth:`output_delta`'s: a fused loss's dL/da is
        only shown, so a step nobody sees skips it."""
        if self.requires_output is None:
            return self.output_delta(z, a, y, activation)[1]
        delta = self.fused_delta(a, y)
        return delta * (1.0 / a.shape[1]) if a.ndim == 3 else delta

    def fused_delta(self, a: np.ndarray, y: np.ndarray) -> np.ndarray:
        """dL/dz of a loss fused with its output activation (see rows_delta)."""
        raise TypeError(f"{self.name} is not fused with its output activation")

    @abstractmethod
    def rows(self, z: np.ndarray, a: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The loss of each row of (rows, K) outputs."""
        ...

    def rows_from_parts(
        self, z: np.ndarray, a: np.ndarray, y: np.ndarray, parts: tuple
    ) -> np.ndarray:
        """:meth:`rows` given the output activation's intermediates (only a loss fused with
        that activation uses them)."""
        return self.rows(z, a, y)

    @abstractmethod
    def grad_activation(self, z: np.ndarray, a: np.ndarray, y: np.ndarray) -> np.ndarray:
        """dL/da for each row: what the output neurons receive from the loss."""
        ...

    def rows_delta(
        self, z: np.ndarray, a: np.ndarray, y: np.ndarray, activation: Activation
    ) -> tuple[np.ndarray, np.ndarray]:
        grad_a = self.grad_activation(z, a, y)
        return grad_a, activation.backward(z, a, grad_a)


class MeanSquaredError(Loss):
    # L = (1/K) Σ_k (a_k − y_k)²  → dL/da = 2 (a − y) / K
    def rows(self, z, a, y):
        diff = a - y
        return np.add.reduce(diff * diff, axis=-1) / a.shape[-1]

    def grad_activation(self, z, a, y):
        return (2.0 / a.shape[-1]) * (a - y)


class BinaryCrossEntropy(Loss):
    # L = −[y log σ(z) + (1−y) log(1−σ(z))] = max(z,0) − z·y + log(1 + e^−|z|)  → dL/dz = σ(z) − y
    def rows(self, z, a, y):
        return (np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))).mean(axis=-1)

    def grad_activation(self, z, a, y):
        eps = np.finfo(a.dtype).eps  # 1 − 1e-12 would round to 1 in float32
        p = np.clip(a, eps, 1.0 - eps)
        return ((p - y) / (p * (1.0 - p))) / a.shape[-1]

    def rows_delta(self, z, a, y, activation):
        return self.grad_activation(z, a, y), self.fused_delta(a, y)

    def fused_delta(self, a, y):
        return (a - y) / a.shape[-1]


class CategoricalCrossEntropy(Loss):
    # L = −Σ_k y_k log softmax(z)_k = logsumexp(z) − Σ_k y_k z_k  → dL/dz = softmax(z) − y
    def rows(self, z, a, y):
        # Relative to the largest logit: L = log Σ e^(z−m) − Σ y·(z−m) for one-hot y. Subtracting
        # m first is exact for nearby logits, so float32 keeps its precision at logits of ±1000
        # (max(z) − log a_max − y·z would cancel 1000 against 1000 and lose 5 digits).
        shifted = z - np.maximum.reduce(z, axis=-1, keepdims=True)
        log_sum = np.log(np.add.reduce(np.exp(shifted), axis=-1))
        return log_sum - np.add.reduce(y * shifted, axis=-1)

    def rows_from_parts(self, z, a, y, parts):
        # softmax's own z − m and Σ e^(z−m) (engine.activations._softmax_parts): the floats
        # rows() computes, so the loss is bit-identical.
        shifted, sums = parts
        return np.log(sums) - np.add.reduce(y * shifted, axis=-1)

    def grad_activation(self, z, a, y):
        return -y / np.maximum(a, _PROB_EPS)

    def rows_delta(self, z, a, y, activation):
        return self.grad_activation(z, a, y), self.fused_delta(a, y)

    def fused_delta(self, a, y):
        return a - y


LOSSES: dict[str, Loss] = {
    loss.name: loss
    for loss in (
        MeanSquaredError("mse", "Mean squared error", "L = (1/K) Σ (a − y)²", "∂L/∂a = 2(a − y)/K"),
        BinaryCrossEntropy(
            "bce",
            "Binary cross-entropy",
            "L = −(1/K) Σ [y·log a + (1 − y)·log(1 − a)]",
            "∂L/∂z = (a − y)/K",
            requires_output="sigmoid",
        ),
        CategoricalCrossEntropy(
            "cce",
            "Categorical cross-entropy",
            "L = −Σ y_k·log a_k",
            "∂L/∂z = a − y",
            requires_output="softmax",
        ),
    )
}


def get_loss(name: str) -> Loss:
    try:
        return LOSSES[name]
    except KeyError:
        known = ", ".join(LOSSES)
        raise ValueError(f"unknown loss {name!r}; choose one of: {known}") from None
