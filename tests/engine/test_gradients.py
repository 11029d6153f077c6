"""Specification: backpropagation computes the true gradient of the batch's total loss.

The quantity differentiated is ``total_loss = mean sample loss + penalty`` of one batch, computed
by the engine itself (``Trainer.trace_samples``). Every layer's recorded ``weight_grad`` and
``bias_grad`` must match central finite differences of that number (float64, relative error below
1e-6) for every hidden activation × output activation/loss pair, with and without L1/L2, over
random shapes, weights, inputs and targets.

Fused cross-entropies must also stay finite, and exact, for logits of ±1000.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from engine.spec import Spec
from engine.trainer import Trainer

HIDDEN_ACTIVATIONS = ["linear", "relu", "leaky_relu", "tanh", "sigmoid"]
OUTPUT_LOSSES = [
    ("linear", "mse"),
    ("tanh", "mse"),
    ("sigmoid", "mse"),
    ("relu", "mse"),
    ("leaky_relu", "mse"),
    ("softmax", "mse"),
    ("sigmoid", "bce"),
    ("softmax", "cce"),
]
REGULARIZATIONS = ["none", "l1", "l2"]
KINKED = {"relu", "leaky_relu"}

# Plane datasets give 1-4 network inputs through the chosen features, and the number of output
# units through their classes: a non-softmax output has 1 unit on a binary set, one per class
# otherwise; a softmax output always has one unit per class.
FEATURES = ["x1", "x2", "x1_sq", "x2_sq"]
DATASET_FOR_OUTPUTS = {
    False: {1: "gauss", 3: "spiral3", 4: "blobs4"},
    True: {2: "gauss", 3: "spiral3", 4: "blobs4"},
}

STEP = 1e-5  # central-difference step
KINK_MARGIN = 1e-4  # how far from a ReLU kink (z = 0) or an L1 kink (w = 0) samples must stay
TOLERANCE = 1e-6  # relative error allowed
# Below this size (relative to the loss), a gradient is compared absolutely: a central difference
# of a loss L carries a rounding error of about ε·|L|/STEP ≈ 1e-11·|L|.
FLOOR = 1e-4


def build_trainer(
    n_inputs: int,
    hidden: list[int],
    hidden_activation: str,
    output_activation: str,
    loss: str,
    n_outputs: int,
    regularization: str = "none",
    rate: float = 0.0,
    dtype: str = "float64",
) -> Trainer:
    dataset = DATASET_FOR_OUTPUTS[output_activation == "softmax"][n_outputs]
    spec = Spec.from_dict(
        {
            "data": {"dataset": dataset, "n_samples": 24, "features": FEATURES[:n_inputs]},
            "network": {
                "hidden": [{"units": u, "activation": hidden_activation} for u in hidden],
                "output_activation": output_activation,
                "dtype": dtype,
            },
            "training": {
                "loss": loss,
                "batch_size": 4,
                "regularization": regularization,
                "regularization_rate": rate,
            },
        }
    )
    trainer = Trainer(spec)
    assert trainer.network.sizes == [n_inputs, *hidden, n_outputs]
    return trainer


def set_batch(trainer: Trainer, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Make (x, y) the training set; returns the indices of all its rows."""
    trainer.problem.x_train = x
    trainer.problem.y_train = y
    return np.arange(len(x))


def random_targets(rng: np.random.Generator, loss: str, batch: int, n_outputs: int) -> np.ndarray:
    if loss == "mse":
        return rng.uniform(-1.0, 1.0, size=(batch, n_outputs))
    if loss == "bce":
        return rng.integers(0, 2, size=(batch, n_outputs)).astype(np.float64)
    return np.eye(n_outputs)[rng.integers(0, n_outputs, size=batch)]


def kink_pattern(trainer: Trainer, record) -> list[np.ndarray]:
    """Which side of every kink the batch sits on: z > 0 for ReLU-type units, sign of L1 weights."""
    pattern = [
        trace.pre_activation > 0
        for trace, layer in zip(record.layers, trainer.network.layers, strict=True)
        if layer.activation.name in KINKED
    ]
    if trainer.regularization.kind == "l1":
        pattern.extend(layer.weight > 0 for layer in trainer.network.layers)
    return pattern


def near_kink(trainer: Trainer, record) -> bool:
    for trace, layer in zip(record.layers, trainer.network.layers, strict=True):
        if layer.activation.name in KINKED and np.abs(trace.pre_activation).min() < KINK_MARGIN:
            return True
        if trainer.regularization.kind == "l1" and np.abs(layer.weight).min() < KINK_MARGIN:
            return True
    return False


def finite_difference_check(trainer: Trainer, indices: np.ndarray) -> list[str]:
    """Compare every recorded parameter gradient with a central difference of total_loss.

    Returns the failures; rejects (hypothesis ``assume``) batches where a perturbation would
    cross a kink, where neither derivative is defined.
    """
    record = trainer.trace_samples(indices)
    assume(not near_kink(trainer, record))
    base_pattern = kink_pattern(trainer, record)
    scale = max(1.0, abs(record.total_loss))
    failures = []
    for k, (layer, trace) in enumerate(zip(trainer.network.layers, record.layers, strict=True)):
        for name, analytic in (("weight", trace.weight_grad), ("bias", trace.bias_grad)):
            param = getattr(layer, name)
            assert analytic.shape == param.shape
            for index in np.ndindex(param.shape):
                original = param[index]
                losses = []
                for shift in (STEP, -STEP):
                    param[index] = original + shift
                    shifted = trainer.trace_samples(indices)
                    assume(all(map(np.array_equal, kink_pattern(trainer, shifted), base_pattern)))
                    losses.append(shifted.total_loss)
                param[index] = original
                numeric = (losses[0] - losses[1]) / (2 * STEP)
                denominator = max(abs(numeric), abs(analytic[index]), FLOOR * scale)
                error = abs(numeric - analytic[index]) / denominator
                if not error < TOLERANCE:
                    failures.append(
                        f"layer {k} {name}{list(index)}: backprop {analytic[index]:.12g}, "
                        f"finite difference {numeric:.12g}, relative error {error:.2e}"
                    )
    return failures


@st.composite
def problems(draw, output_activation: str, loss: str):
    n_outputs = draw(st.sampled_from(sorted(DATASET_FOR_OUTPUTS[output_activation == "softmax"])))
    return {
        "n_inputs": draw(st.integers(1, 4)),
        "hidden": draw(st.lists(st.integers(1, 5), min_size=0, max_size=3)),
        "n_outputs": n_outputs,
        "batch": draw(st.integers(1, 6)),
        "rate": draw(st.sampled_from([0.01, 0.1, 0.5])),
        "seed": draw(st.integers(0, 2**32 - 1)),
    }


@pytest.mark.parametrize("regularization", REGULARIZATIONS)
@pytest.mark.parametrize(("output_activation", "loss"), OUTPUT_LOSSES)
@pytest.mark.parametrize("hidden_activation", HIDDEN_ACTIVATIONS)
def test_backprop_gradients_match_finite_differences_of_total_loss(
    hidden_activation, output_activation, loss, regularization
):
    @settings(derandomize=True, deadline=None, max_examples=12)
    @given(problem=problems(output_activation, loss))
    def check(problem):
        rate = problem["rate"] if regularization != "none" else 0.0
        trainer = build_trainer(
            problem["n_inputs"],
            problem["hidden"],
            hidden_activation,
            output_activation,
            loss,
            problem["n_outputs"],
            regularization,
            rate,
        )
        rng = np.random.default_rng(problem["seed"])
        for layer in trainer.network.layers:  # Glorot-sized weights keep the loss of order 1
            layer.weight = rng.normal(0.0, 1.0 / np.sqrt(layer.fan_in), layer.weight.shape)
            layer.bias = rng.normal(0.0, 0.5, layer.bias.shape)
        batch = problem["batch"]
        x = rng.normal(0.0, 1.0, size=(batch, problem["n_inputs"]))
        indices = set_batch(trainer, x, random_targets(rng, loss, batch, problem["n_outputs"]))
        assert finite_difference_check(trainer, indices) == []

    check()


def test_penalty_part_of_weight_gradient_is_recorded_beside_the_data_part():
    trainer = build_trainer(2, [3], "tanh", "tanh", "mse", 1, "l2", 0.5)
    rng = np.random.default_rng(0)
    indices = set_batch(trainer, rng.normal(size=(5, 2)), rng.uniform(-1, 1, size=(5, 1)))
    record = trainer.trace_samples(indices)
    for trace in record.layers:
        np.testing.assert_allclose(trace.weight_grad_penalty, 0.5 * trace.weight, rtol=1e-15)
        np.testing.assert_allclose(
            trace.weight_grad, trace.weight_grad_data + trace.weight_grad_penalty, rtol=1e-15
        )


# --- saturated outputs: logits of ±1000 -------------------------------------------------------


def record_arrays(record) -> dict[str, np.ndarray]:
    """Every number a step record holds, by name."""
    arrays = {"sample_losses": record.sample_losses, "total_loss": np.array(record.total_loss)}
    for trace in record.layers:
        for field in dataclasses.fields(trace):
            value = getattr(trace, field.name)
            if isinstance(value, np.ndarray):
                arrays[f"layer {trace.index} {field.name}"] = value
    return arrays


def non_finite(record) -> list[str]:
    return [name for name, value in record_arrays(record).items() if not np.isfinite(value).all()]


def huge_logit_trainer(loss: str, dtype: str, hidden: list[int]) -> Trainer:
    """One input; the output layer maps x = ±1 to logits of ±1000."""
    output = "sigmoid" if loss == "bce" else "softmax"
    trainer = build_trainer(1, hidden, "tanh", output, loss, 1 if loss == "bce" else 3, dtype=dtype)
    if hidden:  # a hidden layer that passes x through as tanh(x) in its first unit
        first = trainer.network.layers[0]
        first.weight = np.zeros_like(first.weight)
        first.weight[0, 0] = 1.0
        first.bias = np.zeros_like(first.bias)
    out = trainer.network.layers[-1]
    row = [1000.0] if loss == "bce" else [1000.0, -1000.0, 0.0]
    weight = np.zeros_like(out.weight)
    weight[0] = np.array(row) / (np.tanh(1.0) if hidden else 1.0)
    out.weight = weight
    out.bias = np.zeros_like(out.bias)
    return trainer


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_bce_of_logits_plus_minus_1000_equals_the_exact_asymptotic_loss(dtype):
    trainer = huge_logit_trainer("bce", dtype, hidden=[])
    x = np.array([[1.0], [-1.0], [1.0], [-1.0]], dtype=dtype)  # logits 1000, -1000, 1000, -1000
    y = np.array([[0.0], [1.0], [1.0], [0.0]], dtype=dtype)
    record = trainer.trace_samples(set_batch(trainer, x, y))
    np.testing.assert_array_equal(record.sample_losses, [1000.0, 1000.0, 0.0, 0.0])
    assert record.total_loss == 500.0
    np.testing.assert_array_equal(record.layers[-1].delta, [[1.0], [-1.0], [0.0], [0.0]])
    np.testing.assert_array_equal(record.layers[-1].weight_grad, [[0.5]])  # mean of x·delta
    np.testing.assert_array_equal(record.layers[-1].bias_grad, [0.0])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_cce_of_logits_plus_minus_1000_equals_the_exact_asymptotic_loss(dtype):
    trainer = huge_logit_trainer("cce", dtype, hidden=[])
    x = np.array([[1.0], [-1.0], [1.0]], dtype=dtype)  # logits (1000, -1000, 0) and negated
    y = np.eye(3, dtype=dtype)[[1, 2, 0]]
    record = trainer.trace_samples(set_batch(trainer, x, y))
    # logsumexp − z_target: 1000 − (−1000), 1000 − 0, 1000 − 1000
    np.testing.assert_array_equal(record.sample_losses, [2000.0, 1000.0, 0.0])
    np.testing.assert_array_equal(
        record.layers[-1].delta, [[1.0, -1.0, 0.0], [0.0, 1.0, -1.0], [0.0, 0.0, 0.0]]
    )
    np.testing.assert_allclose(record.layers[-1].weight_grad, [[1 / 3, -2 / 3, 1 / 3]], rtol=1e-6)


@pytest.mark.parametrize("hidden", [[], [2]], ids=["no-hidden", "one-hidden"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("loss", ["bce", "cce"])
def test_every_recorded_number_stays_finite_for_logits_plus_minus_1000(loss, dtype, hidden):
    trainer = huge_logit_trainer(loss, dtype, hidden)
    x = np.array([[1.0], [-1.0], [1.0], [-1.0]], dtype=dtype)
    if loss == "bce":
        y = np.array([[0.0], [1.0], [1.0], [0.0]], dtype=dtype)
    else:
        y = np.eye(3, dtype=dtype)[[1, 2, 0, 1]]
    record = trainer.trace_samples(set_batch(trainer, x, y))
    assert non_finite(record) == []


@pytest.mark.parametrize("loss", ["bce", "cce"])
def test_training_step_at_logits_plus_minus_1000_is_not_reported_as_divergence(loss):
    trainer = huge_logit_trainer(loss, "float64", hidden=[2])
    x = np.array([[1.0], [-1.0], [1.0], [-1.0]])
    y = np.array([[0.0], [1.0], [1.0], [0.0]]) if loss == "bce" else np.eye(3)[[1, 2, 0, 1]]
    set_batch(trainer, x, y)
    record = trainer.step()
    assert record.divergence is None
    assert np.isfinite(record.total_loss) and record.total_loss > 100.0
    assert all(np.isfinite(p).all() for p in trainer.network.parameters())


def test_float32_bce_output_gradient_is_finite_for_a_confident_prediction():
    """σ(20) rounds to 1 in float32; dL/da = −1/a for target 1, (1/(1−a) clipped) for target 0."""
    trainer = huge_logit_trainer("bce", "float32", hidden=[])
    x = np.array([[0.02], [0.02]], dtype=np.float32)  # logit 20 (weight 1000)
    y = np.array([[1.0], [0.0]], dtype=np.float32)
    record = trainer.trace_samples(set_batch(trainer, x, y))
    grad_a = record.layers[-1].grad_activation
    assert np.isfinite(grad_a).all()
    assert grad_a[0, 0] == pytest.approx(-1.0, rel=1e-6)
    assert grad_a[1, 0] > 1e6
