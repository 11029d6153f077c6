"""A dense layer whose forward/backward caches are the step's telemetry.

``forward`` returns a fresh :class:`LayerTrace` holding what it computed; ``backward`` fills the
same object with gradients. The trace *is* the cache: the visualiser reads these arrays directly,
nothing is recomputed or copied to record a step.

Shapes: a batch of B samples flows as rows. ``weight[i, j]`` is the link from neuron i of the
previous layer to neuron j of this one, so ``z = x @ weight + bias``. An input with a time axis,
(B, T, n), is applied at every time step with the same weights (a time-distributed output layer).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from engine.activations import Activation
from engine.initializers import Initializer
from engine.layers.base import ParamLayout, Shape


@dataclass(slots=True, eq=False)
class LayerTrace:
    """Everything one dense layer computed for one batch, in the order it was computed."""

    index: int
    weight: np.ndarray  # parameters the step used (before its update)
    bias: np.ndarray
    input: np.ndarray  # (B, fan_in) or (B, T, fan_in): the previous layer's output
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
    layout: ParamLayout | None = None
    kind: str = "dense"
    # The output activation's intermediates the loss reuses (softmax: z − max z and its row
    # sums of e^(z − max z); None for an element-wise activation).
    activation_parts: tuple[np.ndarray, ...] | None = None

    # What a phase shows of this layer (engine.trainer's phases name their values by these).
    FORWARD_FIELDS: ClassVar[tuple[str, ...]] = (
        "input",
        "pre_activation",
        "activation",
        "dropout_mask",
        "output",
    )
    BACKWARD_FIELDS: ClassVar[tuple[str, ...]] = (
        "grad_output",
        "grad_activation",
        "delta",
        "weight_grad_data",
        "weight_grad_penalty",
        "weight_grad",
        "bias_grad",
    )

    @property
    def weight_update(self) -> np.ndarray | None:
        """ΔW the optimiser applied."""
        return None if self.flat_update is None else self.layout.view("weight", self.flat_update)

    @property
    def bias_update(self) -> np.ndarray | None:
        return None if self.flat_update is None else self.layout.view("bias", self.flat_update)


class Dense:
    """Fully connected layer: z = x·W + b, a = f(z), optional inverted dropout on a.

    ``weight`` and ``bias`` are views into the network's flat parameter vector (see
    :class:`engine.network.Network`); assigning to them copies values in, so the view stays bound.
    """

    kind = "dense"
    regularized = ("weight",)

    def __init__(
        self,
        input_shape: Shape,
        units: int,
        activation: Activation,
        dropout: float = 0.0,
    ) -> None:
        self.input_shape = tuple(input_shape)
        self.output_shape = (*self.input_shape[:-1], units)
        self.fan_in = self.input_shape[-1]
        self.units = units
        self.activation = activation
        self.dropout = dropout
        self._weight = np.zeros((self.fan_in, units))
        self._bias = np.zeros(units)

    def parameter_shapes(self) -> dict[str, Shape]:
        return {"weight": (self.fan_in, self.units), "bias": (self.units,)}

    def initial_parameters(
        self, rng: np.random.Generator, initializer: Initializer, dtype: np.dtype
    ) -> dict[str, np.ndarray]:
        return {
            "weight": initializer.sample(rng, self.fan_in, self.units).astype(dtype),
            "bias": np.full(self.units, initializer.bias, dtype=dtype),
        }

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "input_shape": list(self.input_shape),
            "output_shape": list(self.output_shape),
            "fan_in": self.fan_in,
            "units": self.units,
            "activation": self.activation.name,
            "dropout": self.dropout,
        }

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

    @property
    def params(self) -> dict[str, np.ndarray]:
        return {"weight": self._weight, "bias": self._bias}

    def bind(self, params: dict[str, np.ndarray]) -> None:
        """Point the layer at new parameter arrays (after an update) without copying."""
        self._weight = params["weight"]
        self._bias = params["bias"]

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
        z = x.dot(weight) if x.ndim == 2 else _over_time(x, weight)
        z += bias
        parts = self.activation.value_parts
        if parts is None:
            a = self.activation.value(z)
            trace = LayerTrace(index, weight, bias, x, z, a, a)
        else:
            a, kept = parts(z)
            trace = LayerTrace(index, weight, bias, x, z, a, a, activation_parts=kept)
        if dropout_mask is None and dropout_rng is not None and self.dropout > 0.0:
            keep = 1.0 - self.dropout
            dropout_mask = (dropout_rng.random(a.shape) < keep).astype(a.dtype) / keep
        if dropout_mask is not None:
            trace.dropout_mask = dropout_mask
            trace.output = a * dropout_mask
        return trace

    def infer(self, x: np.ndarray) -> np.ndarray:
        """Evaluation-time forward pass: no dropout, no trace."""
        z = x.dot(self._weight) if x.ndim == 2 else _over_time(x, self._weight)
        z += self._bias
        return self.activation.value(z)

    def backward(self, trace: LayerTrace, grad_output: np.ndarray) -> None:
        """From ∂L/∂output to this layer's delta (then parameter gradients via `accumulate`)."""
        trace.grad_output = grad_output
        mask = trace.dropout_mask
        grad_a = grad_output if mask is None else grad_output * mask
        trace.grad_activation = grad_a
        trace.delta = self.activation.backward(trace.pre_activation, trace.activation, grad_a)

    def accumulate(self, trace: LayerTrace, grads: dict[str, np.ndarray]) -> None:
        """Batch-averaged parameter gradients from the per-sample deltas, written into the given
        arrays (views of the step's flat gradient vector). Over a time axis the contributions of
        every time step add up (the loss already averages over time)."""
        delta, x = trace.delta, trace.input
        mean_delta = delta * (1.0 / delta.shape[0])  # (1/B) folded in once
        if delta.ndim > 2:
            mean_delta = mean_delta.reshape(-1, self.units)
            x = x.reshape(-1, self.fan_in)
        x.T.dot(mean_delta, out=grads["weight"])
        np.add.reduce(mean_delta, axis=0, out=grads["bias"])

    def grad_input(self, trace: LayerTrace) -> np.ndarray:
        """∂L/∂x: what the previous layer receives as its ∂L/∂output."""
        if trace.delta.ndim == 2:
            return trace.delta.dot(trace.weight.T)
        return _over_time(trace.delta, trace.weight.T)


def _over_time(x: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """x (B, T, n) · matrix (n, m) as one 2-D product (NumPy's 3-D dot is far slower)."""
    return x.reshape(-1, x.shape[-1]).dot(matrix).reshape(*x.shape[:-1], matrix.shape[1])
