"""A dense layer whose forward/backward caches are the step's telemetry.

``forward`` returns a fresh :class:`LayerTrace` holding what it computed; ``backward`` fills the
same object with gradients. The trace *is* the cache: the visualiser reads these arrays directly,
nothing is recomputed or copied to record a step.

Shapes: a batch of B samples flows as rows. ``weight[i, j]`` is the link from neuron i of the
previous layer to neuron j of this one, so ``z = x @ weight + bias``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from engine.activations import Activation

if TYPE_CHECKING:
    from engine.network import Block


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
    # The optimiser's update of every parameter, and where this layer's part lies in it: the
    # per-layer views below are made on demand (a frame reads them 30 times a second; a step
    # that nobody displays would make them for nothing).
    flat_update: np.ndarray | None = None
    block: Block | None = None

    @property
    def weight_update(self) -> np.ndarray | None:
        """ΔW the optimiser applied."""
        return None if self.flat_update is None else self.block.weight(self.flat_update)

    @property
    def bias_update(self) -> np.ndarray | None:
        return None if self.flat_update is None else self.block.bias(self.flat_update)


class Dense:
    """Fully connected layer: z = x·W + b, a = f(z), optional inverted dropout on a.

    ``weight`` and ``bias`` are views into the network's flat parameter vector (see
    :class:`engine.network.Network`); assigning to them copies values in, so the view stays bound.
    """

    def __init__(
        self, weight: np.ndarray, bias: np.ndarray, activation: Activation, dropout: float = 0.0
    ) -> None:
        self._weight = weight
        self._bias = bias
        self.activation = activation
        self.dropout = dropout

    @property
    def weight(self) -> np.ndarray:
        return self._weight

    @weight.setter
    def weight(self, value: np.ndarray) -> None:
        self._weight[...] = value

    @property
    def bias(self) -> np.ndarray:
        return self._bias

    @bias.setter
    def bias(self, value: np.ndarray) -> None:
        self._bias[...] = value

    def bind(self, weight: np.ndarray, bias: np.ndarray) -> None:
        """Point the layer at new parameter arrays (after an update) without copying."""
        self._weight = weight
        self._bias = bias

    @property
    def fan_in(self) -> int:
        return self._weight.shape[0]

    @property
    def units(self) -> int:
        return self._weight.shape[1]

    def forward(
        self,
        x: np.ndarray,
        index: int,
        dropout_rng: np.random.Generator | None = None,
        dropout_mask: np.ndarray | None = None,
    ) -> LayerTrace:
        """Training-time forward pass. Dropout applies when a generator is given (a fresh mask)
        or a mask is given (replaying a recorded step's mask); otherwise not at all."""
        weight, bias = self._weight, self._bias
        z = np.dot(x, weight)
        z += bias
        a = self.activation.value(z)
        trace = LayerTrace(index, weight, bias, x, z, a, a)
        if dropout_mask is None and dropout_rng is not None and self.dropout > 0.0:
            keep = 1.0 - self.dropout
            dropout_mask = (dropout_rng.random(a.shape) < keep).astype(a.dtype) / keep
        if dropout_mask is not None:
            trace.dropout_mask = dropout_mask
            trace.output = a * dropout_mask
        return trace

    def infer(self, x: np.ndarray) -> np.ndarray:
        """Evaluation-time forward pass: no dropout, no trace."""
        z = x @ self._weight
        z += self._bias
        return self.activation.value(z)

    def backward(self, trace: LayerTrace, grad_output: np.ndarray) -> None:
        """From ∂L/∂output to this layer's delta (then parameter gradients via `accumulate`)."""
        trace.grad_output = grad_output
        mask = trace.dropout_mask
        grad_a = grad_output if mask is None else grad_output * mask
        trace.grad_activation = grad_a
        trace.delta = self.activation.backward(trace.pre_activation, trace.activation, grad_a)

    def accumulate(
        self,
        trace: LayerTrace,
        weight_grad: np.ndarray,
        bias_grad: np.ndarray,
        penalty_grad: np.ndarray | None = None,
        total_weight_grad: np.ndarray | None = None,
    ) -> None:
        """Batch-averaged parameter gradients from the per-sample deltas, written into the given
        arrays (views of the step's flat gradient vector). With a penalty, ``total_weight_grad``
        receives data + penalty."""
        mean_delta = trace.delta * (1.0 / trace.delta.shape[0])  # (1/B) folded in once
        np.dot(trace.input.T, mean_delta, out=weight_grad)
        np.add.reduce(mean_delta, axis=0, out=bias_grad)
        trace.weight_grad_data = weight_grad
        trace.bias_grad = bias_grad
        trace.weight_grad_penalty = penalty_grad
        if penalty_grad is None:
            trace.weight_grad = weight_grad
        else:
            trace.weight_grad = np.add(weight_grad, penalty_grad, out=total_weight_grad)

    def grad_input(self, trace: LayerTrace) -> np.ndarray:
        """∂L/∂x: what the previous layer receives as its ∂L/∂output."""
        return trace.delta @ trace.weight.T
