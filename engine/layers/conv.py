"""A 2-D convolution layer whose forward/backward caches are the step's telemetry.

Images flow as (B, C, H, W) batches (channels first, as in PyTorch). Filter f of the kernel,
``kernel[f]`` of shape (C, k, k), slides over the zero-padded input with the given stride; at output
position (y, x) it computes

    z[b, f, y, x] = bias[f] + Σ_c Σ_i Σ_j kernel[f, c, i, j] · x_pad[b, c, y·s + i, x·s + j]

(a cross-correlation, exactly what ``torch.nn.functional.conv2d`` computes), then a = f(z).

How it is computed (im2col): the k×k patches of every sample are copied once into a matrix of
*columns*, one row per kernel weight (c, i, j) and one column per output position (b, y, x). Then
the forward pass is one matrix product ``K · columns``, and the backward pass is two:
∂L/∂K = δ · columnsᵀ (batch-averaged), ∂L/∂columns = Kᵀ · δ, which adds back onto the input at
the k×k kernel offsets (``col2im``). The columns stay in the trace: they are the forward's cache
and the reason the kernel gradient needs no second pass over the input.

Memory layout: the columns are laid out (C·k·k, B·H'·W'), so the product comes out filter-major,
(F, B, H', W'). The trace shows the usual (B, F, H', W') as a transposed *view* of it — no copy —
and the backward pass keeps δ filter-major so that both of its products read it without copying.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import numpy as np
from numpy.lib.stride_tricks import as_strided

from engine.activations import Activation
from engine.initializers import Initializer
from engine.layers.base import ParamLayout, Shape, shape_text

Padding = str | int

_FILTER_MAJOR = (1, 0, 2, 3)  # (B, F, H, W) ↔ (F, B, H, W); the permutation is its own inverse


@dataclass(slots=True, eq=False)
class ConvTrace:
    """Everything one convolution layer computed for one batch, in the order it was computed."""

    index: int
    kernel: np.ndarray  # (F, C, k, k): the parameters the step used (before its update)
    bias: np.ndarray  # (F,)
    input: np.ndarray  # (B, C, H, W): the previous layer's output
    pre_activation: np.ndarray  # z (B, F, H', W')
    activation: np.ndarray  # a = f(z)
    output: np.ndarray  # the same array as `activation` (a convolution has no dropout)
    # im2col cache: row (c, i, j), column (b, y, x) holds x_pad[b, c, y·s + i, x·s + j].
    columns: np.ndarray | None = None
    stride: int = 1  # the geometry the columns were cut with (kernel_weight_terms reads it)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)  # zero pixels (top, bottom, left, right)
    grad_output: np.ndarray | None = None  # ∂L/∂output (B, F, H', W')
    grad_activation: np.ndarray | None = None  # ∂L/∂a
    delta: np.ndarray | None = None  # ∂L/∂z, per sample and position
    kernel_grad_data: np.ndarray | None = None  # batch mean of Σ_(y,x) δ[f,y,x] · x_pad[c, …]
    kernel_grad_penalty: np.ndarray | None = None  # from L1/L2 (None when no regularisation)
    kernel_grad: np.ndarray | None = None  # what the optimiser receives
    bias_grad: np.ndarray | None = None  # batch mean of Σ_(y,x) δ[f, y, x]
    flat_update: np.ndarray | None = None  # the optimiser's update of every parameter
    layout: ParamLayout | None = None  # where this layer's part of it lies
    kind: str = "conv2d"

    FORWARD_FIELDS: ClassVar[tuple[str, ...]] = (
        "input",
        "pre_activation",
        "activation",
        "output",
    )
    BACKWARD_FIELDS: ClassVar[tuple[str, ...]] = (
        "grad_output",
        "grad_activation",
        "delta",
        "kernel_grad_data",
        "kernel_grad_penalty",
        "kernel_grad",
        "bias_grad",
    )

    @property
    def kernel_update(self) -> np.ndarray | None:
        """ΔK the optimiser applied."""
        return None if self.flat_update is None else self.layout.view("kernel", self.flat_update)

    @property
    def bias_update(self) -> np.ndarray | None:
        return None if self.flat_update is None else self.layout.view("bias", self.flat_update)


class Conv2D:
    """Multi-channel 2-D convolution with stride and zero padding, then an activation.

    ``padding``: ``"valid"`` (none), ``"same"`` (output H, W equal to the input's at stride 1; at
    stride s the output is ⌈H/s⌉ × ⌈W/s⌉ as in TensorFlow/Keras, the odd pixel going to the
    bottom/right, as PyTorch does for an even kernel), or a number of zero pixels on every side.
    """

    kind = "conv2d"
    regularized = ("kernel",)

    def __init__(
        self,
        input_shape: tuple[int, int, int],
        filters: int,
        kernel: int,
        stride: int = 1,
        padding: Padding = "valid",
        activation: Activation | None = None,
    ) -> None:
        if activation is None:
            raise ValueError("a conv2d layer needs an activation (relu, tanh, … or linear)")
        input_shape = tuple(int(n) for n in input_shape)
        if len(input_shape) != 3 or min(input_shape) < 1:
            raise ValueError(
                "a conv2d layer needs images (channels × height × width) as its input, "
                f"not data of shape {shape_text(input_shape) or '()'}; use an image data set "
                "such as digits or shapes, and no flatten or dense layer before it"
            )
        _check_count("filters", filters, "the number of filters (output channels)")
        _check_count("kernel", kernel, "the kernel's width and height in pixels")
        _check_count("stride", stride, "the step between two kernel positions, in pixels")
        if activation.output_only:
            raise ValueError(
                f"{activation.name} is only for the output layer; give the conv2d layer an "
                "element-wise activation such as relu or tanh"
            )
        channels, height, width = input_shape
        pads = _resolve_padding(padding, kernel, stride, height, width)
        top, bottom, left, right = pads
        padded_h, padded_w = height + top + bottom, width + left + right
        if kernel > padded_h or kernel > padded_w:
            where = f"a {height}×{width} image"
            if padded_h != height or padded_w != width:
                where += f" ({padded_h}×{padded_w} with its padding)"
            raise ValueError(
                f"a {kernel}×{kernel} kernel does not fit in {where}; use a kernel of at most "
                f"{min(padded_h, padded_w)} or pad the image"
            )
        self.input_shape: Shape = input_shape
        self.channels, self.height, self.width = channels, height, width
        self.filters, self.kernel_size, self.stride = filters, kernel, stride
        self.padding: Padding = padding if isinstance(padding, str) else int(padding)
        self.pads = pads  # (top, bottom, left, right) zero pixels
        self.padded_shape = (padded_h, padded_w)
        self.out_height = (padded_h - kernel) // stride + 1
        self.out_width = (padded_w - kernel) // stride + 1
        self.output_shape: Shape = (filters, self.out_height, self.out_width)
        self.fan_in = channels * kernel * kernel  # inputs feeding one output value
        self.activation = activation
        self._kernel = np.zeros((filters, channels, kernel, kernel))
        self._bias = np.zeros(filters)

    # --- parameters ------------------------------------------------------------------------

    def parameter_shapes(self) -> dict[str, Shape]:
        k = self.kernel_size
        return {"kernel": (self.filters, self.channels, k, k), "bias": (self.filters,)}

    def initial_parameters(
        self, rng: np.random.Generator, initializer: Initializer, dtype: np.dtype
    ) -> dict[str, np.ndarray]:
        """The kernel is drawn as a (C·k·k, F) matrix, fan-in C·k·k and fan-out F, like a dense
        layer from the C·k·k pixels of one patch to the F filters; column f is filter f's weights
        in (c, i, j) order. (PyTorch counts the fan-out of a convolution as F·k·k, so Glorot's
        limits differ slightly from its; He's depend on the fan-in only and agree.)"""
        matrix = initializer.sample(rng, self.fan_in, self.filters)
        return {
            "kernel": matrix.T.reshape(self.parameter_shapes()["kernel"]).astype(dtype),
            "bias": np.full(self.filters, initializer.bias, dtype=dtype),
        }

    @property
    def kernel(self) -> np.ndarray:
        return self._kernel

    @kernel.setter
    def kernel(self, value: np.ndarray) -> None:
        self._kernel[...] = value

    @property
    def bias(self) -> np.ndarray:
        return self._bias

    @bias.setter
    def bias(self, value: np.ndarray) -> None:
        self._bias[...] = value

    @property
    def params(self) -> dict[str, np.ndarray]:
        return {"kernel": self._kernel, "bias": self._bias}

    def bind(self, params: dict[str, np.ndarray]) -> None:
        """Point the layer at new parameter arrays (after an update) without copying."""
        self._kernel = params["kernel"]
        self._bias = params["bias"]

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "input_shape": list(self.input_shape),
            "output_shape": list(self.output_shape),
            "filters": self.filters,
            "kernel": self.kernel_size,
            "stride": self.stride,
            "padding": self.padding,
            "pads": list(self.pads),
            "activation": self.activation.name,
            "fan_in": self.fan_in,
        }

    # --- passes ----------------------------------------------------------------------------

    def forward(
        self,
        x: np.ndarray,
        index: int,
        dropout_rng: np.random.Generator | None = None,
        dropout_mask: np.ndarray | None = None,
    ) -> ConvTrace:
        """Training-time forward pass. A convolution has no dropout: the dropout arguments of the
        protocol are accepted and ignored."""
        kernel, bias = self._kernel, self._bias
        columns = self._columns(x)
        z = self._convolve(columns, kernel, bias, len(x))
        a = self.activation.value(z)
        return ConvTrace(index, kernel, bias, x, z, a, a, columns, self.stride, self.pads)

    def infer(self, x: np.ndarray) -> np.ndarray:
        """Evaluation-time forward pass: no trace."""
        z = self._convolve(self._columns(x), self._kernel, self._bias, len(x))
        return self.activation.value(z)

    def backward(self, trace: ConvTrace, grad_output: np.ndarray) -> None:
        """From ∂L/∂output to δ = ∂L/∂z (then parameter gradients via `accumulate`). δ is stored
        filter-major (a (B, F, H', W') view of an (F, B, H', W') array) so the two products that
        read it need no copy."""
        trace.grad_output = grad_output
        trace.grad_activation = grad_output
        z, a = trace.pre_activation, trace.activation
        delta = self.activation.backward(
            z.transpose(_FILTER_MAJOR),
            a.transpose(_FILTER_MAJOR),
            grad_output.transpose(_FILTER_MAJOR),
        )
        trace.delta = np.ascontiguousarray(delta).transpose(_FILTER_MAJOR)

    def accumulate(self, trace: ConvTrace, grads: dict[str, np.ndarray]) -> None:
        """Batch-mean gradients written into the given arrays (views of the step's flat gradient):
        ∂L/∂K[f, c, i, j] = (1/B) Σ_b Σ_(y,x) δ[b, f, y, x] · x_pad[b, c, y·s + i, x·s + j] and
        ∂L/∂bias[f] = (1/B) Σ_b Σ_(y,x) δ[b, f, y, x]."""
        delta = _filter_rows(trace.delta)
        scale = 1.0 / trace.delta.shape[0]  # applied to the small sums, not to every δ
        kernel = grads["kernel"].reshape(self.filters, -1)
        np.dot(delta, trace.columns.T, out=kernel)
        kernel *= scale
        bias = np.add.reduce(delta, axis=1, out=grads["bias"])
        bias *= scale

    def grad_input(self, trace: ConvTrace) -> np.ndarray:
        """∂L/∂x: Kᵀ·δ gives ∂L/∂columns; each kernel offset (i, j) adds its row block back onto
        the padded input it was copied from (col2im), then the padding is cut off."""
        delta = _filter_rows(trace.delta)
        k, s = self.kernel_size, self.stride
        batch = trace.delta.shape[0]
        grad_columns = np.dot(trace.kernel.reshape(self.filters, -1).T, delta)  # the step's K
        grad_columns = grad_columns.reshape(
            self.channels, k, k, batch, self.out_height, self.out_width
        )
        padded_h, padded_w = self.padded_shape
        grad = np.zeros((self.channels, batch, padded_h, padded_w), dtype=grad_columns.dtype)
        rows, cols = s * (self.out_height - 1) + 1, s * (self.out_width - 1) + 1
        for i in range(k):
            for j in range(k):
                grad[:, :, i : i + rows : s, j : j + cols : s] += grad_columns[:, i, j]
        top, _, left, _ = self.pads
        grad = grad[:, :, top : top + self.height, left : left + self.width]
        return grad.transpose(_FILTER_MAJOR)

    # --- im2col ----------------------------------------------------------------------------

    def _columns(self, x: np.ndarray) -> np.ndarray:
        """The (C·k·k, B·H'·W') patch matrix of a (B, C, H, W) batch: one copy of the input."""
        if x.ndim != 4 or x.shape[1:] != self.input_shape:
            raise ValueError(
                f"this conv2d layer takes images of shape {shape_text(self.input_shape)}, "
                f"not {shape_text(x.shape[1:])}"
            )
        batch = len(x)
        top, bottom, left, right = self.pads
        if top or bottom or left or right:
            padded = np.zeros((batch, self.channels, *self.padded_shape), dtype=x.dtype)
            padded[:, :, top : top + self.height, left : left + self.width] = x
            x = padded
        k, s = self.kernel_size, self.stride
        shape = (self.channels, k, k, batch, self.out_height, self.out_width)
        sb, sc, sh, sw = x.strides
        strides = (sc, sh, sw, sb, sh * s, sw * s)
        if x.flags.c_contiguous:  # the cheaper constructor needs a contiguous buffer
            patches = np.ndarray(shape, x.dtype, x, 0, strides)
        else:
            patches = as_strided(x, shape, strides, writeable=False)
        return np.ascontiguousarray(patches).reshape(self.fan_in, -1)

    def _convolve(
        self, columns: np.ndarray, kernel: np.ndarray, bias: np.ndarray, batch: int
    ) -> np.ndarray:
        """z = K·columns + b, filter-major, shown as (B, F, H', W')."""
        z = np.dot(kernel.reshape(self.filters, -1), columns)
        z += bias[:, None]
        return z.reshape(self.filters, batch, self.out_height, self.out_width).transpose(
            _FILTER_MAJOR
        )


class KernelTerm(NamedTuple):
    """One output position's share of ∂L/∂K[f, c, i, j] for one sample: input · δ."""

    output: tuple[int, int]  # (y, x) in the layer's output
    input_position: tuple[int, int] | None  # (row, column) of the input pixel; None in padding
    input: float  # x_pad[c, y·s + i, x·s + j] (0 in the padding)
    delta: float  # δ[f, y, x] = ∂L/∂z[f, y, x]
    product: float  # input · delta


def kernel_weight_terms(
    trace: ConvTrace, sample: int, f: int, c: int, i: int, j: int
) -> list[KernelTerm]:
    """The chain rule for one kernel weight and one sample, as a sum over the output positions
    the weight touched: ∂L_b/∂K[f, c, i, j] = Σ_(y,x) x_pad[b, c, y·s + i, x·s + j] · δ[b, f, y, x].
    Largest |product| first (ties in raster order). The step's gradient is the batch mean of
    these sums. Read from the trace's own columns and δ: nothing is recomputed."""
    batch, filters, out_h, out_w = trace.delta.shape
    channels, k = trace.kernel.shape[1], trace.kernel.shape[2]
    height, width = trace.input.shape[2:]
    columns = trace.columns.reshape(channels, k, k, batch, out_h, out_w)
    inputs = columns[c, i, j, sample]
    deltas = trace.delta[sample, f]
    products = inputs * deltas
    stride, (top, _, left, _) = trace.stride, trace.pads
    order = np.argsort(-np.abs(products), axis=None, kind="stable")
    terms = []
    for flat in order.tolist():
        y, x = divmod(flat, out_w)
        row, col = y * stride + i - top, x * stride + j - left
        inside = 0 <= row < height and 0 <= col < width
        terms.append(
            KernelTerm(
                (y, x),
                (row, col) if inside else None,
                float(inputs[y, x]),
                float(deltas[y, x]),
                float(products[y, x]),
            )
        )
    return terms


def _filter_rows(delta: np.ndarray) -> np.ndarray:
    """δ as an (F, B·H'·W') matrix; a view when δ is filter-major (as `backward` leaves it)."""
    rows = delta.transpose(_FILTER_MAJOR)
    if not rows.flags.c_contiguous:
        rows = np.ascontiguousarray(rows)
    return rows.reshape(rows.shape[0], -1)


def _check_count(name: str, value: int, meaning: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be a whole number of at least 1 ({meaning}); got {value!r}")


def _resolve_padding(
    padding: Padding, kernel: int, stride: int, height: int, width: int
) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) zero pixels for a padding setting."""
    if padding == "valid":
        return (0, 0, 0, 0)
    if padding == "same":
        top, bottom = _same(height, kernel, stride)
        left, right = _same(width, kernel, stride)
        return (top, bottom, left, right)
    if isinstance(padding, bool) or not isinstance(padding, int | np.integer):
        raise ValueError(
            f'padding must be "same", "valid" or a number of zero pixels; got {padding!r}'
        )
    if padding < 0:
        raise ValueError(f"padding is a number of zero pixels, at least 0; got {padding}")
    if padding >= kernel:
        raise ValueError(
            f"padding {padding} with a {kernel}×{kernel} kernel adds output positions that see "
            f"only padding; use at most {kernel - 1}"
        )
    p = int(padding)
    return (p, p, p, p)


def _same(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """Padding before/after one axis so that the output has ⌈size/stride⌉ positions."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2
