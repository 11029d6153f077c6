"""Explain any parameter of any layer: its gradient as the sum the chain rule makes, with the
true numbers of one sample, the batch gradient the step used and a finite-difference check.

A dense weight's gradient is one product per sample (see :mod:`engine.explain`); a kernel weight
is shared by every output position it slides over, and a recurrent weight by every time step, so
their per-sample gradient is a *sum*: over positions (largest contributions first) or over time
(in order, so a gradient fading back in time is visible term by term). The terms are read from
the layer's trace — the same cache the training step filled — and nothing is recomputed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.explain import finite_difference, parameters_of_step, relative_error, step_masks
from engine.layers import kernel_weight_terms, recurrent_weight_terms
from engine.trainer import Trainer

# Terms named one by one; the rest of the sum is reported as one number.
SHOWN_TERMS = 8


@dataclass(frozen=True)
class Term:
    """One addend of a per-sample gradient: where it comes from and its two factors."""

    # Where the addend comes from, as array indices (0-based): the output position (y, x) a
    # kernel slid over, or the time step (t,); the page words them ("output (1, 2)", "t = 1").
    at: tuple[int, ...]
    upstream: float  # the input pixel, h_{t−1}, x_t (or 1 for a bias)
    delta: float  # δ at that position or time step
    product: float


@dataclass(frozen=True)
class ParameterExplanation:
    layer: int
    kind: str  # the layer family: "conv2d", "rnn", "lstm"
    name: str  # "kernel", "weight_hh", "weight_ih", "bias"
    index: tuple[int, ...]
    sample: int
    value: float
    sum_over: str  # "output positions" or "time steps"
    terms: list[Term]  # the largest (positions) or every one in order (time), at most SHOWN
    terms_total: int  # how many addends the sum has
    rest: float  # the sum of the addends not listed
    sample_gradient: float  # Σ of all addends: this sample's ∂L/∂θ (data part)
    penalty_gradient: float
    batch: list[int]
    batch_gradient: float  # the step's mean over the batch, penalty included
    finite_difference: float
    finite_difference_noise: float
    relative_error: float
    step: int
    weights: str  # "step" or "current"
    # Truncated backpropagation through time follows each gradient back a limited number of
    # steps, so it is *not* the loss's true gradient: the finite difference (the true one) then
    # differs, and by how much is what truncation costs.
    truncated: bool = False


def explain_parameter(
    trainer: Trainer,
    layer: int,
    name: str,
    index: tuple[int, ...],
    sample: int,
    batch: list[int] | None = None,
    at_step: bool = True,
) -> ParameterExplanation:
    """Explain ``network.layers[layer]``'s parameter ``name`` at ``index`` for training row
    ``sample``; by default at the latest step's weights, batch and penalty."""
    network = trainer.network
    if not 0 <= layer < len(network.layers):
        raise ValueError(f"layer {layer} does not exist; the network has {len(network.layers)}")
    family = network.layers[layer]
    shapes = family.parameter_shapes()
    if name not in shapes:
        raise ValueError(f"layer {layer} ({family.kind}) has no parameter {name!r}: {list(shapes)}")
    index = tuple(int(i) for i in index)
    shape = shapes[name]
    if len(index) != len(shape) or not all(0 <= i < n for i, n in zip(index, shape, strict=True)):
        raise ValueError(f"{name} has shape {shape}; index {index} is outside it")
    n = len(trainer.problem.x_train)
    if not 0 <= sample < n:
        raise ValueError(f"sample {sample} does not exist; there are {n} training samples")
    last = trainer.last_record
    use_step = at_step and last is not None and not trainer.edited_since_step
    if batch is None:
        batch = [int(i) for i in last.batch_indices] if last is not None else [sample]
    regularization = last.regularization if use_step else trainer.regularization
    with parameters_of_step(trainer, last.parameters if use_step else None):
        masks = step_masks(trainer, batch) if use_step else None
        row_masks = None
        if masks is not None and sample in batch:
            row = batch.index(sample)
            row_masks = [None if m is None else m[row : row + 1] for m in masks]
        traced = trainer.trace_samples(
            [sample], dropout_masks=row_masks, regularization=regularization
        )
        trace = traced.layers[layer]
        terms, over = _terms(family.kind, name, index, trace)
        view = network.layouts[layer].view(name, network.flat)
        value = float(view[index])
        penalty = 0.0
        if name in family.regularized and regularization.active:
            penalty = float(regularization.gradient(np.asarray(view[index])))
        batch_trace = trainer.trace_samples(
            batch, dropout_masks=masks, regularization=regularization
        ).layers[layer]
        batch_gradient = float(getattr(batch_trace, f"{name}_grad")[index])
        numeric, noise = finite_difference(trainer, view, index, batch, masks, regularization)
    ordered = terms if over == "time steps" else sorted(terms, key=lambda t: -abs(t.product))
    shown = ordered[:SHOWN_TERMS] if over == "output positions" else ordered
    total = float(sum(t.product for t in terms))
    return ParameterExplanation(
        layer=layer,
        kind=family.kind,
        name=name,
        index=index,
        sample=sample,
        value=value,
        sum_over=over,
        terms=shown,
        terms_total=len(terms),
        rest=total - float(sum(t.product for t in shown)),
        sample_gradient=total,
        penalty_gradient=penalty,
        batch=list(batch),
        batch_gradient=batch_gradient,
        finite_difference=numeric,
        finite_difference_noise=noise,
        relative_error=relative_error(batch_gradient, numeric, noise),
        step=last.step if use_step else trainer.step_count,
        weights="step" if use_step else "current",
        truncated=not getattr(family, "full_bptt", True),
    )


def _terms(kind: str, name: str, index: tuple[int, ...], trace) -> tuple[list[Term], str]:
    """The addends of one sample's gradient (the traced batch holds that sample alone)."""
    if kind == "conv2d":
        if name == "bias":
            (f,) = index
            deltas = trace.delta[0, f]
            return [
                Term((y, x), 1.0, float(deltas[y, x]), float(deltas[y, x]))
                for y in range(deltas.shape[0])
                for x in range(deltas.shape[1])
            ], "output positions"
        f, c, i, j = index
        return [
            Term(tuple(t.output), t.input, t.delta, t.product)
            for t in kernel_weight_terms(trace, 0, f, c, i, j)
        ], "output positions"
    if kind in ("rnn", "lstm"):
        if name == "weight_hh":
            i, j = index
            return [
                Term((t.step,), t.hidden_before, t.delta, t.contribution)
                for t in recurrent_weight_terms(trace, 0, i, j)
            ], "time steps"
        steps = trace.delta.shape[1]
        if name == "weight_ih":
            i, j = index
            upstream = [float(trace.input[0, t, i]) for t in range(steps)]
        else:
            (j,) = index
            upstream = [1.0] * steps
        deltas = [float(trace.delta[0, t, j]) for t in range(steps)]
        return [
            Term((t,), u, d, u * d)
            for t, (u, d) in enumerate(zip(upstream, deltas, strict=True))
        ], "time steps"
    raise ValueError(f"{kind} layers are explained by engine.explain.explain_weight")
