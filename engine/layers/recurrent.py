"""Recurrent layers (an Elman RNN and an LSTM) trained by backpropagation through time.

Shapes: a batch of B sequences of T steps with n features flows as (B, T, n). The Elman layer
computes, with h₋₁ = 0,

    z_t = x_t·W_ih + h_{t−1}·W_hh + b,    h_t = f(z_t)

and backpropagation through time (BPTT) walks the steps backwards:

    δ_t = ∂L/∂z_t = f'(z_t) ⊙ (∂L/∂h_t|from above + δ_{t+1}·W_hhᵀ)
    ∂L/∂W_hh = mean over the batch of Σ_t h_{t−1}ᵀ·δ_t  (and likewise x_tᵀ·δ_t, δ_t)

The trace keeps every step: hidden states, pre-activations, δ_t, each step's share of ∂L/∂W_hh
and ‖δ_t‖ — the numbers that show a gradient fading as it travels back in time.

Truncation k (``truncation=k``): the gradient that reaches the hidden state h_s from above
(the loss's contribution at step s) travels back through at most k recurrent links, so it
reaches δ_s, δ_{s−1}, …, δ_{s−k} and no earlier step. Many-to-one, the only contribution
enters at the last step, so only the last k + 1 steps get a δ. k = 0 keeps no path through time
at all; k ≥ T − 1 is full BPTT. Each contribution is tracked separately (by its age), so the
window is per contribution, not a chunking of the sequence.

Internally the per-step arrays are stored time-major, (T, B, …), so each step is a contiguous
slice; the trace shows them as (B, T, …) views of the same memory (nothing is copied).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from engine.activations import Activation, get_activation
from engine.initializers import Initializer
from engine.layers.base import ParamLayout, Shape, shape_text

NO_TIME_AXIS = (
    "a recurrent layer needs sequences (samples × time steps × features); this data has none"
)


def _check_config(input_shape: Shape, units: int, truncation: int | None) -> tuple[int, int]:
    """(T, n_in) of a valid configuration; a plain sentence for an impossible one."""
    if len(input_shape) != 2:
        raise ValueError(NO_TIME_AXIS)
    steps, n_in = (int(n) for n in input_shape)
    if steps < 1 or n_in < 1:
        raise ValueError(
            f"a recurrent layer needs at least one time step and one feature, "
            f"not {shape_text(input_shape)}"
        )
    if units < 1:
        raise ValueError(f"a recurrent layer needs at least one unit, not {units}")
    if truncation is not None and truncation < 0:
        raise ValueError(
            f"the truncation length counts time steps back, so it cannot be negative ({truncation})"
        )
    return steps, n_in


def _check_input(x: np.ndarray, input_shape: Shape) -> None:
    if x.ndim != 3:
        raise ValueError(NO_TIME_AXIS)
    if tuple(x.shape[1:]) != tuple(input_shape):
        raise ValueError(
            f"this recurrent layer expects sequences of {shape_text(input_shape)} "
            f"(time steps × features), not {shape_text(x.shape[1:])}"
        )


def _time_major(x: np.ndarray) -> np.ndarray:
    return x.transpose(1, 0, 2)


def _batch_major(x: np.ndarray) -> np.ndarray:
    return x.transpose(1, 0, 2)


def _flat_time_major(x: np.ndarray) -> np.ndarray:
    """(B, T, n) → (T·B, n), rows ordered by time then sample (a view when x is already a
    batch-major view of time-major memory, else one copy)."""
    return _time_major(x).reshape(-1, x.shape[2])


def _upstream(grad_output: np.ndarray, return_sequences: bool) -> np.ndarray | None:
    """∂L/∂h from above, time-major (T, B, H); None many-to-one, where only the last step
    receives one (the (B, H) ``grad_output`` itself)."""
    return _time_major(grad_output) if return_sequences else None


@dataclass(frozen=True)
class RecurrentTerm:
    """One time step's share of ∂L/∂W_hh[i, j] for one sample: h_{t−1, i} · δ_{t, j}."""

    step: int
    hidden_before: float  # h_{t−1, i} (0 at the first step: h₋₁ = 0)
    delta: float  # δ_{t, j} = ∂L/∂z_{t, j}
    contribution: float  # their product


def recurrent_weight_terms(trace: Any, sample: int, i: int, j: int) -> list[RecurrentTerm]:
    """Per time step contributions to ∂L/∂W_hh[i, j] for one sample (row of the batch), sorted
    by time; they sum to that sample's part of the gradient (the batch gradient is their mean
    over the samples). Works for both the RNN and the LSTM trace (j indexes the 4H gates)."""
    hidden, delta = trace.hidden, trace.delta
    terms = []
    for t in range(delta.shape[1]):
        before = float(hidden[sample, t - 1, i]) if t > 0 else 0.0
        d = float(delta[sample, t, j])
        terms.append(RecurrentTerm(t, before, d, before * d))
    return terms


class _Recurrent:
    """What the Elman layer and the LSTM share: parameters, binding, shapes, gradients."""

    kind = "recurrent"
    regularized = ("weight_ih", "weight_hh")
    _gates = 1  # columns of z per unit: 1 for the Elman layer, 4 for the LSTM (i, f, g, o)

    def __init__(
        self,
        input_shape: Shape,
        units: int,
        return_sequences: bool,
        truncation: int | None,
    ) -> None:
        self.steps, self.n_in = _check_config(tuple(input_shape), units, truncation)
        self.input_shape = (self.steps, self.n_in)
        self.units = units
        self.return_sequences = bool(return_sequences)
        self.truncation = truncation
        self.output_shape = (self.steps, units) if self.return_sequences else (units,)
        width = self._gates * units
        self._weight_ih = np.zeros((self.n_in, width))
        self._weight_hh = np.zeros((units, width))
        self._bias = np.zeros(width)

    @property
    def full_bptt(self) -> bool:
        return self.truncation is None or self.truncation >= self.steps - 1

    def parameter_shapes(self) -> dict[str, Shape]:
        width = self._gates * self.units
        return {
            "weight_ih": (self.n_in, width),
            "weight_hh": (self.units, width),
            "bias": (width,),
        }

    def initial_parameters(
        self, rng: np.random.Generator, initializer: Initializer, dtype: np.dtype
    ) -> dict[str, np.ndarray]:
        width = self._gates * self.units
        return {
            "weight_ih": initializer.sample(rng, self.n_in, width).astype(dtype),
            "weight_hh": initializer.sample(rng, self.units, width).astype(dtype),
            "bias": np.full(width, initializer.bias, dtype=dtype),
        }

    def _describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "input_shape": list(self.input_shape),
            "output_shape": list(self.output_shape),
            "units": self.units,
            "return_sequences": self.return_sequences,
            "truncation": self.truncation,
        }

    @property
    def weight_ih(self) -> np.ndarray:
        return self._weight_ih

    @weight_ih.setter
    def weight_ih(self, value: np.ndarray) -> None:
        self._weight_ih[...] = value

    @property
    def weight_hh(self) -> np.ndarray:
        return self._weight_hh

    @weight_hh.setter
    def weight_hh(self, value: np.ndarray) -> None:
        self._weight_hh[...] = value

    @property
    def bias(self) -> np.ndarray:
        return self._bias

    @bias.setter
    def bias(self, value: np.ndarray) -> None:
        self._bias[...] = value

    @property
    def params(self) -> dict[str, np.ndarray]:
        return {"weight_ih": self._weight_ih, "weight_hh": self._weight_hh, "bias": self._bias}

    def bind(self, params: dict[str, np.ndarray]) -> None:
        """Point the layer at new parameter arrays (after an update) without copying."""
        self._weight_ih = params["weight_ih"]
        self._weight_hh = params["weight_hh"]
        self._bias = params["bias"]

    def _input_projection(self, x: np.ndarray) -> np.ndarray:
        """x_t·W_ih + b for every step at once, time-major (T, B, gates·H), a fresh array.
        One 2-D product (NumPy's N-d ``dot`` does not use BLAS and is ~20× slower here)."""
        _check_input(x, self.input_shape)
        batch = x.shape[0]
        z = np.dot(_flat_time_major(x), self._weight_ih)
        z += self._bias
        return z.reshape(self.steps, batch, -1)

    def _output(self, hidden: np.ndarray) -> np.ndarray:
        """(B, T, H) for many-to-many, the last step's (B, H) for many-to-one (views)."""
        return hidden if self.return_sequences else hidden[:, -1]

    def accumulate(self, trace: Any, grads: dict[str, np.ndarray]) -> None:
        """Batch-mean gradients written into the given arrays. ∂L/∂W_hh is the sum of its
        per-step shares h_{t−1}ᵀ·δ_t / B, which the trace keeps (one (H, gates·H) matrix a step)."""
        delta_tm = _time_major(trace.delta)  # contiguous (T, B, gates·H)
        hidden_tm = _time_major(trace.hidden)
        steps, batch, width = delta_tm.shape
        scale = 1.0 / batch
        flat_delta = delta_tm.reshape(steps * batch, width)
        flat_x = _flat_time_major(trace.input)
        np.dot(flat_x.T, flat_delta, out=grads["weight_ih"])
        grads["weight_ih"] *= scale
        np.add.reduce(flat_delta, axis=0, out=grads["bias"])
        grads["bias"] *= scale
        per_step = np.empty((steps, self.units, width), dtype=delta_tm.dtype)
        per_step[0] = 0.0  # h₋₁ = 0: the first step adds nothing to ∂L/∂W_hh
        if steps > 1:
            np.matmul(hidden_tm[:-1].transpose(0, 2, 1), delta_tm[1:], out=per_step[1:])
            per_step[1:] *= scale
        np.add.reduce(per_step, axis=0, out=grads["weight_hh"])
        trace.weight_hh_grad_steps = per_step

    def grad_input(self, trace: Any) -> np.ndarray:
        """∂L/∂x_t = δ_t·W_ihᵀ: what the previous layer receives, (B, T, n_in) (a view of a
        time-major array, like the trace's own per-step arrays)."""
        grad = np.dot(_flat_time_major(trace.delta), trace.weight_ih.T)
        steps, batch = trace.delta.shape[1], trace.delta.shape[0]
        return _batch_major(grad.reshape(steps, batch, self.n_in))


def _delta_norms(delta_tm: np.ndarray) -> np.ndarray:
    """‖δ_t‖ (over units) averaged over the batch, one number per step: (T,). The squares are
    summed by a product with ones (a reduction along a short last axis is twice as slow)."""
    steps, batch, width = delta_tm.shape
    flat = delta_tm.reshape(steps * batch, width)
    norms = np.dot(flat * flat, np.ones(width, dtype=flat.dtype))
    np.sqrt(norms, out=norms)
    return np.add.reduce(norms.reshape(steps, batch), axis=1) * (1.0 / batch)


# ---------------------------------------------------------------------------------------------
# Elman RNN


@dataclass(slots=True, eq=False)
class RecurrentTrace:
    """Everything one Elman layer computed for one batch; per-step arrays are (B, T, H)."""

    index: int
    weight_ih: np.ndarray  # parameters the step used (before its update)
    weight_hh: np.ndarray
    bias: np.ndarray
    input: np.ndarray  # (B, T, n_in)
    pre_activation: np.ndarray  # z_t = x_t·W_ih + h_{t−1}·W_hh + b, (B, T, H)
    activation: np.ndarray  # h_t = f(z_t), (B, T, H)
    output: np.ndarray  # all of h (many-to-many) or the last step's h, (B, H) (many-to-one)
    grad_output: np.ndarray | None = None  # ∂L/∂output from the next layer
    delta: np.ndarray | None = None  # δ_t = ∂L/∂z_t per sample, (B, T, H)
    delta_norms: np.ndarray | None = None  # ‖δ_t‖ batch mean, (T,): the fading through time
    weight_hh_grad_steps: np.ndarray | None = None  # (T, H, H): step t's share of ∂L/∂W_hh
    weight_ih_grad_data: np.ndarray | None = None
    weight_ih_grad_penalty: np.ndarray | None = None
    weight_ih_grad: np.ndarray | None = None
    weight_hh_grad_data: np.ndarray | None = None  # = weight_hh_grad_steps summed over time
    weight_hh_grad_penalty: np.ndarray | None = None
    weight_hh_grad: np.ndarray | None = None
    bias_grad: np.ndarray | None = None
    flat_update: np.ndarray | None = None
    layout: ParamLayout | None = None
    kind: str = "rnn"
    truncation: int | None = None  # the truncation the backward pass used (None: full BPTT)

    FORWARD_FIELDS: ClassVar[tuple[str, ...]] = ("input", "pre_activation", "activation", "output")
    BACKWARD_FIELDS: ClassVar[tuple[str, ...]] = (
        "grad_output",
        "delta",
        "delta_norms",
        "weight_hh_grad_steps",
        "weight_ih_grad_data",
        "weight_ih_grad_penalty",
        "weight_ih_grad",
        "weight_hh_grad_data",
        "weight_hh_grad_penalty",
        "weight_hh_grad",
        "bias_grad",
    )

    @property
    def hidden(self) -> np.ndarray:
        """h_t for every step, (B, T, H) (the same array as ``activation``)."""
        return self.activation

    def _update(self, name: str) -> np.ndarray | None:
        return None if self.flat_update is None else self.layout.view(name, self.flat_update)

    @property
    def weight_ih_update(self) -> np.ndarray | None:
        return self._update("weight_ih")

    @property
    def weight_hh_update(self) -> np.ndarray | None:
        return self._update("weight_hh")

    @property
    def bias_update(self) -> np.ndarray | None:
        return self._update("bias")


class RNN(_Recurrent):
    """Elman recurrent layer: h_t = f(x_t·W_ih + h_{t−1}·W_hh + b), h₋₁ = 0, trained by BPTT.

    ``weight_ih[i, j]`` links input feature i to unit j, ``weight_hh[i, j]`` unit i at step t−1
    to unit j at step t (so ``z = x @ weight_ih + h @ weight_hh + bias`` as in the dense layer).
    ``return_sequences``: output every step's h, (B, T, H) (many-to-many), else the last, (B, H)
    (many-to-one). ``truncation``: None for full BPTT, else k ≥ 0 — each gradient from above
    travels at most k steps back (see the module docstring). The layer needs a layer after it
    (the step loop's loss path is for output layers such as dense).
    """

    kind = "rnn"

    def __init__(
        self,
        input_shape: tuple[int, int],
        units: int,
        activation: Activation | None = None,
        return_sequences: bool = False,
        truncation: int | None = None,
    ) -> None:
        super().__init__(input_shape, units, return_sequences, truncation)
        activation = get_activation("tanh") if activation is None else activation
        if not activation.elementwise:
            raise ValueError(
                f"a recurrent layer needs an element-wise activation, not {activation.title}"
            )
        self.activation = activation
        # np.tanh (a ufunc) can write into the step's slice; other activations return arrays.
        self._ufunc = activation.value if isinstance(activation.value, np.ufunc) else None

    def describe(self) -> dict[str, Any]:
        return {**self._describe(), "activation": self.activation.name}

    def _run(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Time-major pre-activations and hidden states, (T, B, H) each."""
        z = self._input_projection(x)
        h = np.empty_like(z)
        f, ufunc, w_hh = self.activation.value, self._ufunc, self._weight_hh
        carry = np.empty_like(z[0])
        previous = None
        for zt, ht in zip(z, h, strict=True):  # per-step views, made once
            if previous is not None:
                np.dot(previous, w_hh, out=carry)
                np.add(zt, carry, out=zt)
            if ufunc is not None:
                ufunc(zt, out=ht)
            else:
                ht[...] = f(zt)
            previous = ht
        return z, h

    def forward(
        self,
        x: np.ndarray,
        index: int,
        dropout_rng: np.random.Generator | None = None,
        dropout_mask: np.ndarray | None = None,
    ) -> RecurrentTrace:
        """Training-time forward pass over every step (dropout does not apply here)."""
        z, h = self._run(x)
        hidden = _batch_major(h)
        return RecurrentTrace(
            index,
            self._weight_ih,
            self._weight_hh,
            self._bias,
            x,
            _batch_major(z),
            hidden,
            self._output(hidden),
            truncation=self.truncation,
        )

    def infer(self, x: np.ndarray) -> np.ndarray:
        """Evaluation-time forward pass: the output only, no trace."""
        return self._output(_batch_major(self._run(x)[1]))

    def backward(self, trace: RecurrentTrace, grad_output: np.ndarray) -> None:
        """Backpropagation through time from ∂L/∂output to δ_t at every step."""
        trace.grad_output = grad_output
        z_tm, h_tm = _time_major(trace.pre_activation), _time_major(trace.activation)
        steps, batch, units = z_tm.shape
        slope = self.activation.derivative(z_tm, h_tm)  # f'(z_t) for every step at once
        upstream = _upstream(grad_output, self.return_sequences)
        w_hh_t = trace.weight_hh.T
        delta = np.empty_like(z_tm)
        if self.full_bptt:
            carry = np.zeros((batch, units), dtype=delta.dtype)  # δ_{t+1}·W_hhᵀ
            if upstream is None:
                carry += grad_output
            for t in range(steps - 1, -1, -1):
                d, slope_t = delta[t], slope[t]
                if upstream is not None:
                    np.add(upstream[t], carry, out=d)
                    np.multiply(d, slope_t, out=d)
                else:
                    np.multiply(carry, slope_t, out=d)
                if t:
                    np.dot(d, w_hh_t, out=carry)
        else:
            self._truncated(delta, slope, upstream, grad_output, w_hh_t)
        trace.delta = _batch_major(delta)
        trace.delta_norms = _delta_norms(delta)

    def _truncated(self, delta, slope, upstream, grad_output, w_hh_t) -> None:
        """BPTT where each contribution from above travels at most k steps back: the gradient
        in flight is kept per age (0…k steps travelled), (k+1, B, H), and the oldest is dropped."""
        steps, batch, units = delta.shape
        ages = self.truncation + 1
        cur = np.zeros((ages, batch, units), dtype=delta.dtype)
        moved = np.zeros_like(cur)  # cur[:k]·W_hhᵀ, aged by one step
        flat_cur = cur.reshape(ages * batch, units)
        flat_moved = moved.reshape(ages * batch, units)
        for t in range(steps - 1, -1, -1):
            cur[1:] = moved[:-1]
            if upstream is not None:
                cur[0] = upstream[t]
            else:
                cur[0] = grad_output if t == steps - 1 else 0.0
            cur *= slope[t]
            np.add.reduce(cur, axis=0, out=delta[t])
            if t and ages > 1:
                np.dot(flat_cur[: (ages - 1) * batch], w_hh_t, out=flat_moved[: (ages - 1) * batch])


# ---------------------------------------------------------------------------------------------
# LSTM


@dataclass(slots=True, eq=False)
class LSTMTrace:
    """Everything one LSTM layer computed for one batch. Gate columns are ordered i, f, g, o
    (input, forget, candidate, output), as in PyTorch: z and δ are (B, T, 4H)."""

    index: int
    weight_ih: np.ndarray
    weight_hh: np.ndarray
    bias: np.ndarray
    input: np.ndarray  # (B, T, n_in)
    pre_activation: np.ndarray  # z_t = x_t·W_ih + h_{t−1}·W_hh + b, (B, T, 4H)
    gates: np.ndarray  # σ(z_i), σ(z_f), tanh(z_g), σ(z_o), (B, T, 4H)
    cell: np.ndarray  # c_t = f ⊙ c_{t−1} + i ⊙ g, (B, T, H)
    activation: np.ndarray  # h_t = o ⊙ tanh(c_t), (B, T, H)
    output: np.ndarray
    grad_output: np.ndarray | None = None
    delta: np.ndarray | None = None  # ∂L/∂z_t per sample, (B, T, 4H)
    cell_grad: np.ndarray | None = None  # ∂L/∂c_t per sample, (B, T, H)
    delta_norms: np.ndarray | None = None  # ‖δ_t‖ batch mean, (T,)
    weight_hh_grad_steps: np.ndarray | None = None  # (T, H, 4H)
    weight_ih_grad_data: np.ndarray | None = None
    weight_ih_grad_penalty: np.ndarray | None = None
    weight_ih_grad: np.ndarray | None = None
    weight_hh_grad_data: np.ndarray | None = None
    weight_hh_grad_penalty: np.ndarray | None = None
    weight_hh_grad: np.ndarray | None = None
    bias_grad: np.ndarray | None = None
    flat_update: np.ndarray | None = None
    layout: ParamLayout | None = None
    kind: str = "lstm"
    truncation: int | None = None

    FORWARD_FIELDS: ClassVar[tuple[str, ...]] = (
        "input",
        "pre_activation",
        "gates",
        "cell",
        "activation",
        "output",
    )
    BACKWARD_FIELDS: ClassVar[tuple[str, ...]] = (
        "grad_output",
        "delta",
        "cell_grad",
        "delta_norms",
        "weight_hh_grad_steps",
        "weight_ih_grad_data",
        "weight_ih_grad_penalty",
        "weight_ih_grad",
        "weight_hh_grad_data",
        "weight_hh_grad_penalty",
        "weight_hh_grad",
        "bias_grad",
    )

    @property
    def hidden(self) -> np.ndarray:
        return self.activation

    def _update(self, name: str) -> np.ndarray | None:
        return None if self.flat_update is None else self.layout.view(name, self.flat_update)

    @property
    def weight_ih_update(self) -> np.ndarray | None:
        return self._update("weight_ih")

    @property
    def weight_hh_update(self) -> np.ndarray | None:
        return self._update("weight_hh")

    @property
    def bias_update(self) -> np.ndarray | None:
        return self._update("bias")


class LSTM(_Recurrent):
    """Long short-term memory layer (no peepholes), gates i, f, g, o in PyTorch's order:

        [i f g o] = [σ σ tanh σ](x_t·W_ih + h_{t−1}·W_hh + b)
        c_t = f ⊙ c_{t−1} + i ⊙ g,    h_t = o ⊙ tanh(c_t),    h₋₁ = c₋₁ = 0

    The cell state's additive path is what lets a gradient survive many steps back.
    """

    kind = "lstm"
    _gates = 4

    def __init__(
        self,
        input_shape: tuple[int, int],
        units: int,
        return_sequences: bool = False,
        truncation: int | None = None,
    ) -> None:
        super().__init__(input_shape, units, return_sequences, truncation)

    def describe(self) -> dict[str, Any]:
        return self._describe()

    def _run(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Time-major z (T, B, 4H), gates (T, B, 4H), cell (T, B, H), hidden (T, B, H)."""
        z = self._input_projection(x)
        steps, batch, _ = z.shape
        units = self.units
        gates = np.empty_like(z)
        cell = np.empty((steps, batch, units), dtype=z.dtype)
        h = np.empty_like(cell)
        carry = np.empty_like(z[0])
        w_hh = self._weight_hh
        for t in range(steps):
            zt, gt = z[t], gates[t]
            if t:
                np.dot(h[t - 1], w_hh, out=carry)
                np.add(zt, carry, out=zt)
            # σ(z) = 1 / (1 + e^−z) on all 4H columns in place (e^−z capped at e^700, where σ
            # is 0 to double precision anyway: no overflow), then tanh on the g columns.
            np.negative(zt, out=gt)
            np.minimum(gt, 700.0, out=gt)
            np.exp(gt, out=gt)
            gt += 1.0
            np.reciprocal(gt, out=gt)
            np.tanh(zt[:, 2 * units : 3 * units], out=gt[:, 2 * units : 3 * units])
            i, f, g, o = (gt[:, k * units : (k + 1) * units] for k in range(4))
            np.multiply(i, g, out=cell[t])
            if t:
                cell[t] += f * cell[t - 1]
            np.tanh(cell[t], out=h[t])
            h[t] *= o
        return z, gates, cell, h

    def forward(
        self,
        x: np.ndarray,
        index: int,
        dropout_rng: np.random.Generator | None = None,
        dropout_mask: np.ndarray | None = None,
    ) -> LSTMTrace:
        """Training-time forward pass over every step (dropout does not apply here)."""
        z, gates, cell, h = self._run(x)
        hidden = _batch_major(h)
        return LSTMTrace(
            index,
            self._weight_ih,
            self._weight_hh,
            self._bias,
            x,
            _batch_major(z),
            _batch_major(gates),
            _batch_major(cell),
            hidden,
            self._output(hidden),
            truncation=self.truncation,
        )

    def infer(self, x: np.ndarray) -> np.ndarray:
        return self._output(_batch_major(self._run(x)[3]))

    def _full_backward(self, gates_tm, cell_tm, upstream, grad_output, w_hh_t):
        """Full BPTT with every per-step factor computed for all steps at once, so each step
        is a handful of array operations: dc_t = dh_t ⊙ o(1 − tanh²c) + dc_{t+1} ⊙ f_{t+1};
        δ_t = [dc·g·i(1−i), dc·c_{t−1}·f(1−f), dc·i·(1−g²), dh·tanh c·o(1−o)]."""
        steps, batch, width = gates_tm.shape
        units = self.units
        i, f, g, o = (gates_tm[:, :, k * units : (k + 1) * units] for k in range(4))
        tanh_c = np.tanh(cell_tm)
        through_h = o * (1.0 - tanh_c * tanh_c)  # ∂c-path factor of dh
        factors = np.empty_like(gates_tm)  # what dc (i, f, g columns) or dh (o) is multiplied by
        factors[:, :, :units] = g * i * (1.0 - i)
        factors[:, :, units : 2 * units] = f * (1.0 - f)
        factors[1:, :, units : 2 * units] *= cell_tm[:-1]
        factors[0, :, units : 2 * units] = 0.0  # c₋₁ = 0
        factors[:, :, 2 * units : 3 * units] = i * (1.0 - g * g)
        factors[:, :, 3 * units :] = tanh_c * o * (1.0 - o)
        delta = np.empty_like(gates_tm)
        cell_grad = np.empty_like(cell_tm)
        dh = np.zeros((batch, units), dtype=delta.dtype)  # ∂L/∂h_t from step t+1 (then + above)
        dc_next = np.zeros_like(dh)  # ∂L/∂c_{t+1} ⊙ f_{t+1}
        if upstream is None:
            dh += grad_output
        for t in range(steps - 1, -1, -1):
            if upstream is not None:
                dh += upstream[t]
            dc = cell_grad[t]
            np.multiply(dh, through_h[t], out=dc)
            dc += dc_next
            d = delta[t]
            np.multiply(
                factors[t, :, : 3 * units].reshape(batch, 3, units),
                dc[:, None, :],
                out=d[:, : 3 * units].reshape(batch, 3, units),
            )
            np.multiply(factors[t, :, 3 * units :], dh, out=d[:, 3 * units :])
            if t:
                np.dot(d, w_hh_t, out=dh)
                np.multiply(dc, f[t], out=dc_next)
        return delta, cell_grad

    def backward(self, trace: LSTMTrace, grad_output: np.ndarray) -> None:
        """BPTT through the gates and the cell state; truncation as for the Elman layer (each
        contribution from above travels at most k steps back, along both h and c)."""
        trace.grad_output = grad_output
        gates_tm = _time_major(trace.gates)
        cell_tm = _time_major(trace.cell)
        steps, batch, width = gates_tm.shape
        units = self.units
        upstream = _upstream(grad_output, self.return_sequences)
        w_hh_t = trace.weight_hh.T
        if self.full_bptt:
            delta, cell_grad = self._full_backward(gates_tm, cell_tm, upstream, grad_output, w_hh_t)
            trace.delta = _batch_major(delta)
            trace.cell_grad = _batch_major(cell_grad)
            trace.delta_norms = _delta_norms(delta)
            return
        ages = self.truncation + 1
        tanh_c = np.tanh(cell_tm)
        # Gradients in flight per age: into h_t (from step t+1's z) and into c_t (via f).
        carry_h = np.zeros((ages, batch, units), dtype=gates_tm.dtype)
        carry_c = np.zeros_like(carry_h)
        delta = np.empty_like(gates_tm)
        cell_grad = np.empty_like(cell_tm)
        dz = np.empty((ages, batch, width), dtype=gates_tm.dtype)
        for t in range(steps - 1, -1, -1):
            i, f, g, o = (gates_tm[t][:, k * units : (k + 1) * units] for k in range(4))
            dh = carry_h.copy()
            dc_in = carry_c.copy()
            if upstream is not None:
                dh[0] += upstream[t]
            elif t == steps - 1:
                dh[0] += grad_output
            dc = dh * (o * (1.0 - tanh_c[t] * tanh_c[t])) + dc_in
            c_before = cell_tm[t - 1] if t else 0.0
            dz[:, :, :units] = dc * g * (i * (1.0 - i))
            dz[:, :, units : 2 * units] = dc * c_before * (f * (1.0 - f))
            dz[:, :, 2 * units : 3 * units] = dc * i * (1.0 - g * g)
            dz[:, :, 3 * units :] = dh * tanh_c[t] * (o * (1.0 - o))
            np.add.reduce(dz, axis=0, out=delta[t])
            np.add.reduce(dc, axis=0, out=cell_grad[t])
            if t:  # age by one step; the oldest contribution stops here
                carry_h[1:] = dz[:-1] @ w_hh_t
                carry_c[1:] = dc[:-1] * f
                carry_h[0] = 0.0
                carry_c[0] = 0.0
        trace.delta = _batch_major(delta)
        trace.cell_grad = _batch_major(cell_grad)
        trace.delta_norms = _delta_norms(delta)
