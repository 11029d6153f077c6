"""Max- and average-pooling layers: no parameters, and a backward pass a learner can follow.

A pool of size p and stride s (s = p unless given) looks at p×p windows of every channel of a
(B, C, H, W) batch and keeps one number per window: the largest (max) or the mean (avg). The
output is (C, H', W') with H' = ⌊(H − p)/s⌋ + 1; rows and columns that no window reaches are
ignored (as in PyTorch with ``ceil_mode=False``).

Backward: average pooling shares each output's gradient equally among its p² inputs; max
pooling *routes* it, whole, to the one input that won its window (the first of equal maxima, as
PyTorch does) and gives the others nothing. That routing is the forward pass's cache and lives in
the trace, so the visualiser can draw which pixel receives each gradient.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from numpy.lib.stride_tricks import as_strided

from engine.initializers import Initializer
from engine.layers.base import ParamLayout, Shape, shape_text


@dataclass(slots=True, eq=False)
class PoolTrace:
    """What one pooling layer computed for one batch."""

    index: int
    input: np.ndarray  # (B, C, H, W)
    output: np.ndarray  # (B, C, H', W')
    # Max pooling: for every output, the flat index y·W + x of the input pixel (in its sample's
    # channel plane) that won the window and so receives the gradient — PyTorch's
    # ``return_indices``. Average pooling routes to every pixel of the window: None.
    routing: np.ndarray | None = None
    grad_output: np.ndarray | None = None  # ∂L/∂output
    grad_input_value: np.ndarray | None = None  # ∂L/∂input, what the previous layer receives
    flat_update: np.ndarray | None = None  # set by the step loop for every layer (no part here)
    layout: ParamLayout | None = None
    kind: str = "maxpool"

    FORWARD_FIELDS: ClassVar[tuple[str, ...]] = ("input", "output", "routing")
    BACKWARD_FIELDS: ClassVar[tuple[str, ...]] = ("grad_output", "grad_input_value")


class _Pool2D:
    """Shared geometry and protocol plumbing of the two pools."""

    kind = "pool"
    regularized: tuple[str, ...] = ()

    def __init__(self, input_shape: tuple[int, int, int], size: int, stride: int | None = None):
        input_shape = tuple(int(n) for n in input_shape)
        name = self.kind
        if len(input_shape) != 3 or min(input_shape) < 1:
            raise ValueError(
                f"a {name} layer pools images (channels × height × width), not data of shape "
                f"{shape_text(input_shape) or '()'}; put it after a conv2d layer, before flatten"
            )
        stride = size if stride is None else stride
        for label, value, meaning in (
            ("size", size, "the width and height of the pooling window"),
            ("stride", stride, "the step between two windows"),
        ):
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
                raise ValueError(
                    f"the {name} {label} must be a whole number of at least 1 ({meaning}); "
                    f"got {value!r}"
                )
        channels, height, width = input_shape
        if size > height or size > width:
            raise ValueError(
                f"a {size}×{size} {name} window does not fit in a {height}×{width} input; "
                f"use a size of at most {min(height, width)}"
            )
        self.input_shape: Shape = input_shape
        self.channels, self.height, self.width = channels, height, width
        self.size, self.stride = int(size), int(stride)
        self.out_height = (height - size) // stride + 1
        self.out_width = (width - size) // stride + 1
        self.output_shape: Shape = (channels, self.out_height, self.out_width)

    def parameter_shapes(self) -> dict[str, Shape]:
        return {}

    def initial_parameters(
        self, rng: np.random.Generator, initializer: Initializer, dtype: np.dtype
    ) -> dict[str, np.ndarray]:
        return {}

    def bind(self, params: dict[str, np.ndarray]) -> None:
        """Nothing to bind: a pool has no parameters."""

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "input_shape": list(self.input_shape),
            "output_shape": list(self.output_shape),
            "size": self.size,
            "stride": self.stride,
        }

    def accumulate(self, trace: PoolTrace, grads: dict[str, np.ndarray]) -> None:
        """No parameters, no gradients to write."""

    def grad_input(self, trace: PoolTrace) -> np.ndarray:
        return trace.grad_input_value

    def _windows(self, x: np.ndarray) -> np.ndarray:
        """(B, C, H', W', p, p) view of every window (no copy)."""
        if x.ndim != 4 or x.shape[1:] != self.input_shape:
            raise ValueError(
                f"this {self.kind} layer takes images of shape {shape_text(self.input_shape)}, "
                f"not {shape_text(x.shape[1:])}"
            )
        sb, sc, sh, sw = x.strides
        s, p = self.stride, self.size
        shape = (len(x), self.channels, self.out_height, self.out_width, p, p)
        return as_strided(x, shape, (sb, sc, sh * s, sw * s, sh, sw), writeable=False)


class MaxPool2D(_Pool2D):
    """Keeps each window's largest value; the gradient goes to that one input."""

    kind = "maxpool"

    def __init__(self, input_shape: tuple[int, int, int], size: int, stride: int | None = None):
        super().__init__(input_shape, size, stride)
        p, s = self.size, self.stride
        # Flat input index (y·W + x) of window element e of output (oy, ox), to turn a window's
        # argmax into the pixel it names with one gather.
        oy, ox, e = np.ogrid[: self.out_height, : self.out_width, : p * p]
        self._pixel = ((oy * s + e // p) * self.width + (ox * s + e % p)).ravel()
        self._window_start = (np.arange(self.out_height * self.out_width) * (p * p)).reshape(
            self.out_height, self.out_width
        )
        self._overlapping = s < p  # then one input can win several windows

    def forward(
        self,
        x: np.ndarray,
        index: int,
        dropout_rng: np.random.Generator | None = None,
        dropout_mask: np.ndarray | None = None,
    ) -> PoolTrace:
        """Training-time forward pass (the dropout arguments are part of the protocol, unused)."""
        windows = self._flat_windows(x)
        winner = windows.argmax(axis=-1)  # the first of equal maxima
        output = np.take_along_axis(windows, winner[..., None], axis=-1)[..., 0]
        routing = self._pixel[winner + self._window_start]
        return PoolTrace(index, x, output, routing, kind=self.kind)

    def infer(self, x: np.ndarray) -> np.ndarray:
        return self._flat_windows(x).max(axis=-1)

    def backward(self, trace: PoolTrace, grad_output: np.ndarray) -> None:
        """Each output's gradient, whole, to the input pixel recorded in ``routing``; summed where
        windows overlap and one pixel won several."""
        trace.grad_output = grad_output
        batch = len(grad_output)
        planes = batch * self.channels
        plane = self.height * self.width
        targets = trace.routing.reshape(planes, -1) + (np.arange(planes) * plane)[:, None]
        if self._overlapping:
            grad = np.bincount(
                targets.ravel(), weights=grad_output.ravel(), minlength=planes * plane
            ).astype(grad_output.dtype, copy=False)
        else:
            grad = np.zeros(planes * plane, dtype=grad_output.dtype)
            grad[targets.ravel()] = grad_output.ravel()
        trace.grad_input_value = grad.reshape(batch, self.channels, self.height, self.width)

    def _flat_windows(self, x: np.ndarray) -> np.ndarray:
        """(B, C, H', W', p²): a copy of the windows with each one's pixels in a row."""
        windows = self._windows(x)
        return windows.reshape(*windows.shape[:4], self.size * self.size)


class AvgPool2D(_Pool2D):
    """Keeps each window's mean; the gradient is shared equally by the window's p² inputs."""

    kind = "avgpool"

    def forward(
        self,
        x: np.ndarray,
        index: int,
        dropout_rng: np.random.Generator | None = None,
        dropout_mask: np.ndarray | None = None,
    ) -> PoolTrace:
        """Training-time forward pass (the dropout arguments are part of the protocol, unused)."""
        return PoolTrace(index, x, self.infer(x), None, kind=self.kind)

    def infer(self, x: np.ndarray) -> np.ndarray:
        windows = self._windows(x)
        total = np.add.reduce(windows, axis=(4, 5))
        total *= 1.0 / (self.size * self.size)
        return total

    def backward(self, trace: PoolTrace, grad_output: np.ndarray) -> None:
        """∂L/∂x[y, x] = Σ over the windows containing (y, x) of ∂L/∂out / p²: one add per
        window offset (p² adds of the whole batch)."""
        trace.grad_output = grad_output
        p, s = self.size, self.stride
        share = grad_output * (1.0 / (p * p))
        grad = np.zeros((len(grad_output), *self.input_shape), dtype=grad_output.dtype)
        rows, cols = s * (self.out_height - 1) + 1, s * (self.out_width - 1) + 1
        for i in range(p):
            for j in range(p):
                grad[:, :, i : i + rows : s, j : j + cols : s] += share
        trace.grad_input_value = grad
