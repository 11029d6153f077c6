"""Flatten: the bridge from feature maps (C, H, W) to a dense layer's vector of C·H·W inputs.

No parameters and no arithmetic: the forward pass reshapes each sample in row-major order
(channel, then row, then column — PyTorch's ``flatten(1)``), and the backward pass reshapes the
gradient back, so input (c, y, x) is vector entry (c·H + y)·W + x.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from engine.initializers import Initializer
from engine.layers.base import ParamLayout, Shape, shape_text


@dataclass(slots=True, eq=False)
class FlattenTrace:
    index: int
    input: np.ndarray  # (B, *input_shape)
    output: np.ndarray  # (B, prod(input_shape)); a view of the input when it is contiguous
    grad_output: np.ndarray | None = None  # ∂L/∂output
    grad_input_value: np.ndarray | None = None  # the same numbers in the input's shape
    flat_update: np.ndarray | None = None  # set by the step loop for every layer (no part here)
    layout: ParamLayout | None = None
    kind: str = "flatten"

    FORWARD_FIELDS: ClassVar[tuple[str, ...]] = ("input", "output")
    BACKWARD_FIELDS: ClassVar[tuple[str, ...]] = ("grad_output", "grad_input_value")


class Flatten:
    kind = "flatten"
    regularized: tuple[str, ...] = ()

    def __init__(self, input_shape: Shape) -> None:
        input_shape = tuple(int(n) for n in input_shape)
        if not input_shape or min(input_shape) < 1:
            raise ValueError(
                f"flatten needs an input with a shape, not {shape_text(input_shape) or '()'}"
            )
        self.input_shape: Shape = input_shape
        self.output_shape: Shape = (int(np.prod(input_shape)),)

    def parameter_shapes(self) -> dict[str, Shape]:
        return {}

    def initial_parameters(
        self, rng: np.random.Generator, initializer: Initializer, dtype: np.dtype
    ) -> dict[str, np.ndarray]:
        return {}

    def bind(self, params: dict[str, np.ndarray]) -> None:
        """Nothing to bind: flatten has no parameters."""

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "input_shape": list(self.input_shape),
            "output_shape": list(self.output_shape),
        }

    def forward(
        self,
        x: np.ndarray,
        index: int,
        dropout_rng: np.random.Generator | None = None,
        dropout_mask: np.ndarray | None = None,
    ) -> FlattenTrace:
        """Training-time forward pass (the dropout arguments are part of the protocol, unused)."""
        return FlattenTrace(index, x, self.infer(x))

    def infer(self, x: np.ndarray) -> np.ndarray:
        if x.shape[1:] != self.input_shape:
            raise ValueError(
                f"this flatten layer takes inputs of shape {shape_text(self.input_shape)}, "
                f"not {shape_text(x.shape[1:])}"
            )
        return x.reshape(len(x), self.output_shape[0])

    def backward(self, trace: FlattenTrace, grad_output: np.ndarray) -> None:
        trace.grad_output = grad_output
        trace.grad_input_value = grad_output.reshape(len(grad_output), *self.input_shape)

    def accumulate(self, trace: FlattenTrace, grads: dict[str, np.ndarray]) -> None:
        """No parameters, no gradients to write."""

    def grad_input(self, trace: FlattenTrace) -> np.ndarray:
        return trace.grad_input_value
