"""A dense layer whose forward/backward caches are the step's telemetry.

``forward`` returns a fresh :class:`LayerTrace` holding what it computed; ``backward`` fills the
same object with gradients. The trace *is* the cache: the visualiser reads these arrays directly,
nothing is recomputed or copied to record a step.

Shapes: a batch of B samples flows as rows. ``weight[i, j]`` is the link from neuron i of the
previous layer to neuron j of this one, so ``z = x @ weight + bias``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.activations import Activation


@dataclass(slots=True, eq=False)
class LayerTrace:
    """Everything one layer computed for one batch, in the order it was computed."""

    index: int
    weight: np.ndarray  # parameters the step used (before its update)
    bias: np.ndarray
    input: np.ndarray  # (B, fan_in): the previous layer's output
    pre_activation: np.ndarray  # z = x·W + b
    activation: np.ndarray  # a = f(z)
    output: np.ndarray  # a ⊙ dropout mask (the same array as `activation` without dropout)
    dropout_mask: np.ndarray | None = None  # 0 or 1/(1−p) per unit and sample (inverted dropout)
    grad_output: np.ndarray | None = None  # ∂L/∂output
    grad_activation: np.ndarray | None = None  # ∂L/∂a
    delta: np.ndarray | None = None  # ∂L/∂z, per sample
    weight_grad_data: np.ndarray | None = None  # batch mean of input_iᵀ·delta_j
    weight_grad_penalty: np.ndarray | None = None  # from L1/L2 (None when no regularisation)
    weight_grad: np.ndarray | None = None  # what the optimiser receives
    bias_grad: np.ndarray | None = None
    weight_update: np.ndarray | None = None  # ΔW the optimiser applied
    bias_update: np.ndarray | None = None


class Dense:
    """Fully connected layer: z = x·W + b, a = f(z), optional inverted dropout on a."""

    def __init__(
        self, weight: np.ndarray, bias: np.ndarray, activation: Activation, dropout: float = 0.0
    ) -> None:
        self.weight = weight
        self.bias = bias
        self.activation = activation
        self.dropout = dropout

    @property
    def fan_in(self) -> int:
        return self.weight.shape[0]

    @property
    def units(self) -> int:
        return self.weight.shape[1]

    def forward(
        self, x: np.ndarray, index: int, dropout_rng: np.random.Generator | None = None
    ) -> LayerTrace:
        """Training-time forward pass; dropout applies only when a generator is given."""
        z = x @ self.weight
        z += self.bias
        a = self.activation.value(z)
        trace = LayerTrace(index, self.weight, self.bias, x, z, a, a)
        if dropout_rng is not None and self.dropout > 0.0:
            keep = 1.0 - self.dropout
            mask = (dropout_rng.random(a.shape) < keep).astype(a.dtype) / keep
            trace.dropout_mask = mask
            trace.output = a * mask
        return trace

    def infer(self, x: np.ndarray) -> np.ndarray:
        """Evaluation-time forward pass: no dropout, no trace."""
        z = x @ self.weight
        z += self.bias
        return self.activation.value(z)

    def backward(self, trace: LayerTrace, grad_output: np.ndarray) -> None:
        """From ∂L/∂output to this layer's delta (then parameter gradients via `accumulate`)."""
        trace.grad_output = grad_output
        mask = trace.dropout_mask
        grad_a = grad_output if mask is None else grad_output * mask
        trace.grad_activation = grad_a
        trace.delta = self.activation.backward(trace.pre_activation, trace.activation, grad_a)

    def accumulate(self, trace: LayerTrace, penalty_grad: np.ndarray | None) -> None:
        """Batch-averaged parameter gradients from the per-sample deltas."""
        delta = trace.delta
        scale = 1.0 / delta.shape[0]
        weight_grad = trace.input.T @ delta
        weight_grad *= scale
        trace.weight_grad_data = weight_grad
        trace.bias_grad = np.add.reduce(delta, axis=0) * scale
        trace.weight_grad_penalty = penalty_grad
        trace.weight_grad = weight_grad if penalty_grad is None else weight_grad + penalty_grad

    def grad_input(self, trace: LayerTrace) -> np.ndarray:
        """∂L/∂x: what the previous layer receives as its ∂L/∂output."""
        return trace.delta @ trace.weight.T
