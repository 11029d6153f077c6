"""Explain one weight: the chain rule with actual numbers, checked by finite differences.

For the weight w_ij from neuron i (layer k−1) to neuron j (layer k) and one sample:

    ∂L/∂w_ij = a_i · δ_j,   δ_j = f'(z_j) · Σ_m w_jm δ_m   (hidden layer)
                            δ_j = ∂L/∂z_j from the loss     (output layer)

Every factor comes from the same traced forward/backward code the training step uses; the
finite-difference estimate perturbs the one weight and re-evaluates the loss, independently.

By default the explanation is of the latest step: it uses the parameters that step used (before
its update), its batch and its dropout masks, so the batch gradient is exactly the one the
update applied. Before any step,
after a hand edit of a parameter, or with ``at_step=False``, it uses the current parameters.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from engine.trainer import Trainer


@dataclass(frozen=True)
class DeltaSource:
    """How δ_j arises: from the loss (output layer) or from the next layer's deltas."""

    kind: str  # "loss" | "hidden"
    grad_activation: float  # ∂L/∂a_j
    activation_derivative: float | None  # f'(z_j); None when the loss is fused with softmax/sigmoid
    outgoing_weights: list[float]  # w_jm to each neuron m of the next layer (hidden only)
    next_deltas: list[float]  # δ_m of the next layer (hidden only)
    target: float | None  # y_j (output only)
    dropout_scale: float | None = None  # the unit's dropout mask in the explained step, if any
    weighted_sum: float | None = None  # Σ_m w_jm δ_m (hidden only); ∂L/∂a_j = this × dropout_scale


@dataclass(frozen=True)
class WeightExplanation:
    layer: int  # 0-based index of the layer the weight feeds
    source: int | None  # neuron i of the previous layer; None for the bias
    target: int  # neuron j of this layer
    sample: int  # training-set row
    weight: float
    upstream_activation: float  # a_i (1 for the bias)
    pre_activation: float  # z_j
    activation: float  # a_j
    delta: float  # δ_j = ∂L/∂z_j for this sample
    delta_source: DeltaSource
    sample_loss: float
    sample_gradient: float  # a_i · δ_j: this sample's contribution (data part)
    penalty_gradient: float  # ∂penalty/∂w (0 for biases)
    batch: list[int]  # rows averaged for the batch gradient
    batch_gradient: float  # mean over the batch of a_i·δ_j, plus the penalty gradient
    finite_difference: float  # (L(w+h) − L(w−h)) / 2h on the same batch, penalty included
    finite_difference_noise: float  # rounding error of that estimate: ~ε·|L| / h
    relative_error: float
    step: int  # the step explained (its parameters before its update), or the steps done so far
    weights: str  # "step": the parameters step `step` used; "current": the parameters now
    dropout_replayed: bool  # the sample's dropout mask from that step is part of the chain rule


def explain_weight(
    trainer: Trainer,
    layer: int,
    source: int | None,
    target: int,
    sample: int,
    batch: list[int] | None = None,
    at_step: bool = True,
) -> WeightExplanation:
    """The chain-rule factors of ∂L/∂w for one sample and a finite-difference check on a batch
    (by default the batch of the latest step, else the sample alone)."""
    _check_indices(trainer, layer, source, target, sample)
    last = trainer.last_record
    use_step = at_step and last is not None and not trainer.edited_since_step
    if batch is None:
        batch = [int(i) for i in last.batch_indices] if last is not None else [sample]
    with parameters_of_step(trainer, last.parameters if use_step else None):
        return _explain(trainer, layer, source, target, sample, batch, use_step)


@contextmanager
def parameters_of_step(trainer: Trainer, flat):
    """Temporarily evaluate the network at another flat parameter vector."""
    if flat is None:
        yield
        return
    current = trainer.network.flat
    trainer.network.bind(flat)
    try:
        yield
    finally:
        trainer.network.bind(current)


def _explain(trainer, layer, source, target, sample, batch, use_step) -> WeightExplanation:
    dense = trainer.network.layers[layer]
    # A recorded step is explained with the penalty it used, even if λ changed since.
    regularization = trainer.last_record.regularization if use_step else trainer.regularization
    batch_masks = step_masks(trainer, batch) if use_step else None
    sample_masks = None
    if batch_masks is not None and sample in batch:
        row = batch.index(sample)
        sample_masks = [None if m is None else m[row : row + 1] for m in batch_masks]
    traced = trainer.trace_samples(
        [sample], dropout_masks=sample_masks, regularization=regularization
    )
    trace = traced.layers[layer]
    upstream = 1.0 if source is None else float(trace.input[0, source])
    delta = float(trace.delta[0, target])
    is_weight = source is not None
    penalty = regularization.gradient(dense.weight) if is_weight else None
    penalty_gradient = 0.0 if penalty is None else float(penalty[source, target])
    batch_trace = trainer.trace_samples(
        batch, dropout_masks=batch_masks, regularization=regularization
    ).layers[layer]
    grad = batch_trace.weight_grad[source, target] if is_weight else batch_trace.bias_grad[target]
    batch_gradient = float(grad)
    numeric, noise = _finite_difference(
        trainer, layer, source, target, batch, batch_masks, regularization
    )
    return WeightExplanation(
        layer=layer,
        source=source,
        target=target,
        sample=sample,
        weight=float(dense.weight[source, target] if is_weight else dense.bias[target]),
        upstream_activation=upstream,
        pre_activation=float(trace.pre_activation[0, target]),
        activation=float(trace.activation[0, target]),
        delta=delta,
        delta_source=_delta_source(trainer, traced, layer, target),
        sample_loss=float(traced.sample_losses[0]),
        sample_gradient=upstream * delta,
        penalty_gradient=penalty_gradient,
        batch=list(batch),
        batch_gradient=batch_gradient,
        finite_difference=numeric,
        finite_difference_noise=noise,
        relative_error=relative_error(batch_gradient, numeric, noise),
        step=trainer.last_record.step if use_step else trainer.step_count,
        weights="step" if use_step else "current",
        dropout_replayed=sample_masks is not None,
    )


def _delta_source(trainer: Trainer, traced, layer: int, target: int) -> DeltaSource:
    trace = traced.layers[layer]
    activation = trainer.network.layers[layer].activation
    fused = trainer.loss.requires_output is not None
    derivative = None
    if activation.elementwise and not (fused and layer == len(traced.layers) - 1):
        z, a = trace.pre_activation[0, target], trace.activation[0, target]
        derivative = float(activation.derivative(np.asarray(z), np.asarray(a)))
    grad_a = float(trace.grad_activation[0, target])
    if layer == len(traced.layers) - 1:
        return DeltaSource("loss", grad_a, derivative, [], [], float(traced.targets[0, target]))
    following = traced.layers[layer + 1]
    mask = trace.dropout_mask
    return DeltaSource(
        "hidden",
        grad_a,
        derivative,
        [float(w) for w in following.weight[target]],
        [float(d) for d in following.delta[0]],
        None,
        None if mask is None else float(mask[0, target]),
        float(trace.grad_output[0, target]),
    )


def step_masks(trainer: Trainer, batch: list[int]) -> list[np.ndarray | None] | None:
    """The latest step's dropout masks, when it had dropout and `batch` is its batch."""
    last = trainer.last_record
    if last.batch_indices.tolist() != batch:
        return None
    masks = [getattr(trace, "dropout_mask", None) for trace in last.layers]  # dense only
    return masks if any(m is not None for m in masks) else None


def _finite_difference(
    trainer: Trainer,
    layer: int,
    source: int | None,
    target: int,
    batch: list[int],
    masks: list[np.ndarray | None] | None,
    regularization,
) -> tuple[float, float]:
    dense = trainer.network.layers[layer]
    array = dense.weight if source is not None else dense.bias
    index = (source, target) if source is not None else (target,)
    return finite_difference(trainer, array, index, batch, masks, regularization)


def finite_difference(
    trainer: Trainer,
    array: np.ndarray,
    index: tuple[int, ...],
    batch: list[int],
    masks: list[np.ndarray | None] | None,
    regularization,
) -> tuple[float, float]:
    """Central difference of the batch's total loss (data + penalty) in one parameter entry
    (``array`` is a view of the live parameters), with the same dropout masks as the analytic
    gradient, and the size of its rounding noise: the two losses are each known to about ε·|L|,
    so their difference over 2h is uncertain by ~ε·|L|/h."""
    value = float(array[index])
    h = (1e-6 if array.dtype == np.float64 else 1e-2) * max(1.0, abs(value))

    def loss_at(w: float) -> float:
        array[index] = w
        try:
            return trainer.samples_loss(batch, masks, regularization)
        finally:
            array[index] = value

    up, down = loss_at(value + h), loss_at(value - h)
    eps = float(np.finfo(array.dtype).eps)
    noise = _NOISE_FACTOR * eps * max(abs(up), abs(down), eps) / h
    return (up - down) / (2.0 * h), noise


# Several roundings enter each loss (a sum over the batch, exp/log): a few ε of |L| in all.
_NOISE_FACTOR = 4.0


def relative_error(analytic: float, numeric: float, noise: float = 0.0) -> float:
    """How far the analytic gradient lies outside the finite difference's noise band, relative
    to the larger of them: a correct gradient of 1e-12 against an estimate known only to ±1e-10
    is agreement (0), not a 100 % error; a wrong one far above the noise is reported as before."""
    scale = max(abs(analytic), abs(numeric), noise)
    if scale < 1e-12:
        return 0.0
    return max(abs(analytic - numeric) - noise, 0.0) / scale


def _check_indices(
    trainer: Trainer, layer: int, source: int | None, target: int, sample: int
) -> None:
    layers = trainer.network.layers
    if not 0 <= layer < len(layers):
        raise ValueError(f"layer {layer} does not exist; the network has {len(layers)} layers")
    dense = layers[layer]
    if source is not None and not 0 <= source < dense.fan_in:
        raise ValueError(f"layer {layer} has inputs 0…{dense.fan_in - 1}, not {source}")
    if not 0 <= target < dense.units:
        raise ValueError(f"layer {layer} has neurons 0…{dense.units - 1}, not {target}")
    n = len(trainer.problem.x_train)
    if not 0 <= sample < n:
        raise ValueError(f"sample {sample} does not exist; there are {n} training samples")
