"""Explaining one weight: the chain-rule factors multiply to the gradient the step uses."""

import numpy as np
import pytest

from engine.explain import explain_weight
from tests.engine.helpers import trainer_from


def _trained(**sections):
    trainer = trainer_from(**sections)
    for _ in range(15):
        trainer.step()
    return trainer


def test_hidden_delta_is_derivative_times_sum_of_outgoing_weights_times_next_deltas():
    trainer = _trained()
    e = explain_weight(trainer, layer=0, source=1, target=2, sample=4)
    source = e.delta_source
    assert source.kind == "hidden"
    weighted = sum(w * d for w, d in zip(source.outgoing_weights, source.next_deltas, strict=True))
    assert source.grad_activation == pytest.approx(weighted, rel=1e-12)
    assert e.delta == pytest.approx(source.activation_derivative * weighted, rel=1e-12)
    assert source.activation_derivative == pytest.approx(1 - np.tanh(e.pre_activation) ** 2)


def test_sample_gradient_is_upstream_activation_times_delta():
    trainer = _trained()
    e = explain_weight(trainer, layer=1, source=3, target=0, sample=9, at_step=False)
    assert e.sample_gradient == e.upstream_activation * e.delta
    traced = trainer.trace_samples([9])
    assert e.sample_gradient == pytest.approx(traced.layers[1].weight_grad[3, 0], rel=1e-12)


def test_batch_gradient_matches_finite_differences():
    trainer = _trained(training={"regularization": "l1", "regularization_rate": 0.01})
    e = explain_weight(trainer, layer=0, source=0, target=1, sample=0)
    assert e.relative_error < 1e-6
    assert e.batch == trainer.last_record.batch_indices.tolist()
    assert e.penalty_gradient == pytest.approx(0.01 * np.sign(e.weight))


def test_output_layer_delta_under_fused_cross_entropy_is_prediction_minus_target():
    trainer = _trained(
        data={"dataset": "spiral3"},
        network={"output_activation": "softmax"},
        training={"loss": "cce"},
    )
    e = explain_weight(trainer, layer=2, source=None, target=1, sample=3)
    assert e.delta_source.kind == "loss"
    assert e.delta_source.activation_derivative is None
    assert e.delta == pytest.approx(e.activation - e.delta_source.target, rel=1e-12)
    assert e.upstream_activation == 1.0


def test_explaining_leaves_the_parameters_untouched():
    trainer = _trained()
    before = [p.copy() for p in trainer.network.parameters()]
    explain_weight(trainer, layer=0, source=0, target=0, sample=0)
    assert all(
        np.array_equal(a, b) for a, b in zip(before, trainer.network.parameters(), strict=True)
    )


@pytest.mark.parametrize(
    ("layer", "source", "target", "sample", "message"),
    [
        (5, 0, 0, 0, "layer 5 does not exist"),
        (0, 9, 0, 0, "has inputs 0…1, not 9"),
        (0, 0, 7, 0, "has neurons 0…3, not 7"),
        (0, 0, 0, 999, "sample 999 does not exist"),
    ],
)
def test_bad_indices_are_refused_with_a_reason(layer, source, target, sample, message):
    with pytest.raises(ValueError, match=message):
        explain_weight(trainer_from(), layer, source, target, sample)


def test_by_default_the_latest_step_is_explained_with_the_weights_it_used():
    trainer = _trained()
    record = trainer.last_record
    e = explain_weight(trainer, layer=1, source=2, target=1, sample=5)
    assert e.weights == "step" and e.step == record.step
    assert e.weight == record.layers[1].weight[2, 1]
    assert e.batch_gradient == record.layers[1].weight_grad[2, 1]  # what the update applied


def test_current_weights_can_be_explained_instead():
    trainer = _trained()
    e = explain_weight(trainer, layer=1, source=2, target=1, sample=5, at_step=False)
    assert e.weights == "current" and e.step == trainer.step_count
    assert e.weight == trainer.network.layers[1].weight[2, 1]


def test_before_any_step_the_current_weights_are_explained():
    e = explain_weight(trainer_from(), layer=0, source=0, target=0, sample=0)
    assert e.weights == "current" and e.step == 0 and e.batch == [0]


def test_after_a_hand_edit_the_current_weights_are_explained():
    trainer = _trained()
    trainer.edit_parameter(1, 2, 1, 2.5)
    e = explain_weight(trainer, layer=1, source=2, target=1, sample=5)
    assert e.weights == "current" and e.weight == 2.5


def test_with_dropout_the_steps_masks_are_replayed_so_the_batch_gradient_is_the_updates():
    trainer = _trained(network={"hidden": [{"units": 6, "dropout": 0.5}, {"units": 3}]})
    record = trainer.last_record
    sample = int(record.batch_indices[2])
    e = explain_weight(trainer, layer=1, source=4, target=0, sample=sample)
    assert e.dropout_replayed
    assert e.batch_gradient == record.layers[1].weight_grad[4, 0]
    assert e.upstream_activation == record.layers[1].input[2, 4]  # 0 when unit 4 was dropped
    assert e.relative_error < 1e-6


def test_dropout_scale_appears_in_the_hidden_chain_rule():
    trainer = _trained(network={"hidden": [{"units": 6, "dropout": 0.5}, {"units": 3}]})
    record = trainer.last_record
    sample = int(record.batch_indices[0])
    e = explain_weight(trainer, layer=0, source=0, target=1, sample=sample)
    mask = record.layers[0].dropout_mask[0, 1]
    assert e.delta_source.dropout_scale == mask
    assert e.delta_source.grad_activation == e.delta_source.weighted_sum * mask
    source = e.delta_source
    weighted = sum(w * d for w, d in zip(source.outgoing_weights, source.next_deltas, strict=True))
    assert source.weighted_sum == pytest.approx(weighted, rel=1e-12)
    assert e.delta == pytest.approx(source.activation_derivative * weighted * mask)
