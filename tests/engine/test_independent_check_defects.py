"""Regressions for the defects an independent check of the engine found (issue 9, item 7)."""

import numpy as np
import pytest

from engine import persistence
from engine.activations import get_activation
from engine.explain import explain_weight
from engine.losses import LOSSES, get_loss
from tests.engine.helpers import params_equal, trainer_from

DROPOUT_L2 = {
    "network": {"hidden": [{"units": 6, "activation": "relu", "dropout": 0.3}, {"units": 3}]},
    "training": {
        "optimizer": {"name": "adam", "learning_rate": 0.01},
        "regularization": "l2",
        "regularization_rate": 0.01,
        "batch_size": 7,
    },
}


def test_explaining_a_step_after_lambda_changed_uses_the_lambda_that_step_used():
    trainer = trainer_from(**DROPOUT_L2)
    for _ in range(5):
        trainer.step()
    record = trainer.last_record
    trainer.set_regularization("l2", 2.0)
    e = explain_weight(trainer, layer=1, source=2, target=1, sample=int(record.batch_indices[0]))
    assert e.weights == "step"
    assert e.batch_gradient == record.layers[1].weight_grad[2, 1]
    assert e.penalty_gradient == pytest.approx(0.01 * record.layers[1].weight[2, 1], rel=1e-12)
    assert e.relative_error < 1e-6


@pytest.mark.parametrize("phases", [1, 3, 6, 7])
@pytest.mark.parametrize("codec", ["json", "npz"])
def test_a_save_taken_mid_step_continues_exactly_like_the_unsaved_run(phases, codec):
    saved, reference = trainer_from(**DROPOUT_L2), trainer_from(**DROPOUT_L2)
    for _ in range(4):
        saved.step()
        reference.step()
    for _ in range(phases):
        saved.next_phase()
    if codec == "json":
        restored = persistence.from_json(persistence.to_json(saved))
    else:
        restored = persistence.from_npz(persistence.to_npz(saved))
    assert restored.in_step and restored.last_phase_count == phases
    for _ in range(6):
        reference.step()
        restored.step()
    assert params_equal(reference, restored)
    assert (
        restored.last_record.batch_indices.tolist() == reference.last_record.batch_indices.tolist()
    )


def test_an_edit_mid_step_drops_the_step_but_not_its_batch():
    trainer = trainer_from(**DROPOUT_L2)
    trainer.step()
    drawn = trainer.next_phase().record.batch_indices.tolist()
    trainer.edit_parameter(0, 0, 0, 0.5)
    assert not trainer.in_step
    assert trainer.step().batch_indices.tolist() == drawn


def test_finite_difference_check_accepts_correct_gradients_far_below_its_noise():
    # Deep saturated sigmoids: the first layer's gradients are ~1e-10 and smaller, below what a
    # central difference of the loss can resolve; the check must not call them 20–100 % wrong.
    trainer = trainer_from(
        data={"dataset": "circle"},
        network={
            "hidden": [{"units": 8, "activation": "sigmoid"}] * 10,
            "output_activation": "sigmoid",
            "initializer": "small_uniform",
        },
        training={"loss": "bce"},
    )
    trainer.step()
    e = explain_weight(trainer, layer=0, source=0, target=0, sample=0)
    assert abs(e.batch_gradient) < 1e-9
    assert e.finite_difference_noise > abs(e.batch_gradient - e.finite_difference)
    naive = abs(e.batch_gradient - e.finite_difference) / abs(e.batch_gradient)
    assert naive > 0.05  # what the check used to report
    assert e.relative_error == 0.0


def test_the_check_still_flags_a_wrong_gradient_far_above_the_noise():
    from engine.explain import relative_error

    assert relative_error(1.0e-3, 1.1e-3, noise=1e-10) == pytest.approx(0.1 / 1.1, rel=1e-6)


def test_float32_cross_entropy_keeps_its_precision_at_large_logits():
    softmax = get_activation("softmax")
    z = np.array([[1000.0, -1000.0, 999.0]], dtype=np.float32)
    y = np.array([[0.0, 0.0, 1.0]], dtype=np.float32)
    loss = get_loss("cce").per_sample(z, softmax.value(z), y)[0]
    exact = 1.0 + np.log1p(np.exp(-1.0))
    assert abs(loss - exact) / exact < 1e-6


def test_binary_cross_entropy_with_several_outputs_states_the_delta_it_computes():
    bce = LOSSES["bce"]
    sigmoid = get_activation("sigmoid")
    z = np.array([[0.3, -1.2, 2.0]])
    y = np.array([[1.0, 0.0, 1.0]])
    a = sigmoid.value(z)
    _, delta = bce.output_delta(z, a, y, sigmoid)
    np.testing.assert_allclose(delta, (a - y) / 3)
    assert bce.delta_formula == "∂L/∂z = (a − y)/K"


def test_a_time_axis_averages_the_loss_over_time_steps():
    mse, linear = get_loss("mse"), get_activation("linear")
    a = np.arange(12.0).reshape(2, 3, 2)
    y = np.zeros_like(a)
    per_sample = mse.per_sample(a, a, y)
    np.testing.assert_allclose(per_sample, (a**2).mean(axis=(1, 2)))
    _, delta = mse.output_delta(a, a, y, linear)
    np.testing.assert_allclose(delta, 2 * a / (3 * 2))
