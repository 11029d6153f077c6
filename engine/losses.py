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

    @abstractmethod
    def per_sample(self, z: np.ndarray, a: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The loss of each sample, shape (batch,)."""
        ...

    @abstractmethod
    def grad_activation(self, z: np.ndarray, a: np.ndarray, y: np.ndarray) -> np.ndarray:
        """dL/da for each sample: what the output neurons receive from the loss."""
        ...

    def output_delta(
        self, z: np.ndarray, a: np.ndarray, y: np.ndarray, activation: Activation
    ) -> tuple[np.ndarray, np.ndarray]:
        """(dL/da, dL/dz) at the output layer for each sample."""
        grad_a = self.grad_activation(z, a, y)
        return grad_a, activation.backward(z, a, grad_a)


class MeanSquaredError(Loss):
    # L = (1/K) Σ_k (a_k − y_k)²  → dL/da = 2 (a − y) / K
    def per_sample(self, z, a, y):
        diff = a - y
        return np.add.reduce(diff * diff, axis=1) / a.shape[1]

    def grad_activation(self, z, a, y):
        return (2.0 / a.shape[1]) * (a - y)


class BinaryCrossEntropy(Loss):
    # L = −[y log σ(z) + (1−y) log(1−σ(z))] = max(z,0) − z·y + log(1 + e^−|z|)  → dL/dz = σ(z) − y
    def per_sample(self, z, a, y):
        return (np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))).mean(axis=1)

    def grad_activation(self, z, a, y):
        eps = np.finfo(a.dtype).eps  # 1 − 1e-12 would round to 1 in float32
        p = np.clip(a, eps, 1.0 - eps)
        return ((p - y) / (p * (1.0 - p))) / a.shape[1]

    def output_delta(self, z, a, y, activation):
        return self.grad_activation(z, a, y), (a - y) / a.shape[1]


class CategoricalCrossEntropy(Loss):
    # L = −Σ_k y_k log softmax(z)_k = logsumexp(z) − Σ_k y_k z_k  → dL/dz = softmax(z) − y
    def per_sample(self, z, a, y):
        # logsumexp from the softmax already computed: at the largest logit, a_max = 1/Σe^(z−max)
        # is at least 1/K, so log(a_max) never sees 0 and logsumexp = max(z) − log(a_max).
        log_sum = z.max(axis=1) - np.log(a.max(axis=1))
        return log_sum - np.add.reduce(y * z, axis=1)

    def grad_activation(self, z, a, y):
        return -y / np.maximum(a, _PROB_EPS)

    def output_delta(self, z, a, y, activation):
        return self.grad_activation(z, a, y), a - y


LOSSES: dict[str, Loss] = {
    loss.name: loss
    for loss in (
        MeanSquaredError("mse", "Mean squared error", "L = (1/K) Σ (a − y)²", "∂L/∂a = 2(a − y)/K"),
        BinaryCrossEntropy(
            "bce",
            "Binary cross-entropy",
            "L = −[y·log a + (1 − y)·log(1 − a)]",
            "∂L/∂z = a − y",
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
