"""The trainer: phases, determinism, live settings, stopping, divergence."""

import numpy as np
import pytest

from engine.spec import Spec, SpecError
from engine.trace import phase_plan
from engine.trainer import Trainer
from tests.engine.helpers import params_equal, trainer_from

DROPOUT_ADAM = {
    "network": {"hidden": [{"units": 6, "activation": "relu", "dropout": 0.3}, {"units": 3}]},
    "training": {"optimizer": {"name": "adam", "learning_rate": 0.01}, "batch_size": 7},
}


def test_phase_plan_runs_forward_loss_backward_in_reverse_then_update():
    plan = phase_plan(trainer_from().network.layers)
    assert [(p.kind, p.layer) for p in plan] == [
        ("forward", 0),
        ("forward", 1),
        ("forward", 2),
        ("loss", None),
        ("backward", 2),
        ("backward", 1),
        ("backward", 0),
        ("update", None),
    ]


def test_stepping_by_phases_gives_bit_identical_parameters_to_whole_steps():
    whole, phased = trainer_from(**DROPOUT_ADAM), trainer_from(**DROPOUT_ADAM)
    for _ in range(25):
        whole.step()
        for _ in phased.plan:
            phased.next_phase()
    assert phased.step_count == whole.step_count == 25
    assert params_equal(whole, phased)


def test_each_phase_exposes_what_it_computed():
    trainer = trainer_from()
    titles, keys = [], []
    for _ in trainer.plan:
        phase = trainer.next_phase()
        titles.append(phase.title)
        keys.append(sorted(phase.values))
    assert titles == [
        "Forward · layer 1",
        "Forward · layer 2",
        "Forward · layer 3",
        "Loss",
        "Backward · layer 3",
        "Backward · layer 2",
        "Backward · layer 1",
        "Update",
    ]
    assert "pre_activation" in keys[0] and "delta" not in keys[0]
    assert keys[3] == ["data_loss", "penalty", "sample_losses", "total_loss"]
    assert "delta" in keys[4] and "weight_grad" in keys[4]
    assert "weight_update" in keys[7]


def test_a_phase_values_are_the_records_arrays_not_copies():
    trainer = trainer_from()
    phase = trainer.next_phase()
    assert phase.values["pre_activation"] is phase.record.layers[0].pre_activation


def test_step_finishes_a_step_begun_by_phases():
    trainer = trainer_from()
    trainer.next_phase()
    trainer.next_phase()
    record = trainer.step()
    assert record.step == 1 and record.complete and not trainer.in_step


def test_same_seed_and_settings_give_bit_identical_trajectories():
    a, b = trainer_from(**DROPOUT_ADAM), trainer_from(**DROPOUT_ADAM)
    losses_a = [a.step().total_loss for _ in range(40)]
    losses_b = [b.step().total_loss for _ in range(40)]
    assert losses_a == losses_b
    assert params_equal(a, b)


def test_a_different_training_seed_gives_a_different_batch_order():
    a = trainer_from(training={"seed": 1})
    b = trainer_from(training={"seed": 2})
    assert not np.array_equal(a.step().batch_indices, b.step().batch_indices)


def test_record_holds_weights_before_the_update_and_the_applied_update():
    trainer = trainer_from()
    before = [layer.weight.copy() for layer in trainer.network.layers]
    record = trainer.step()
    for k, layer in enumerate(trainer.network.layers):
        trace = record.layers[k]
        assert np.array_equal(trace.weight, before[k])
        assert np.array_equal(layer.weight, trace.weight + trace.weight_update)
        assert np.allclose(trace.weight_update, -0.03 * trace.weight_grad, rtol=0, atol=1e-15)


def test_record_splits_total_loss_into_data_loss_and_penalty():
    trainer = trainer_from(training={"regularization": "l2", "regularization_rate": 0.1})
    record = trainer.step()
    weights = [t.weight for t in record.layers]
    expected_penalty = 0.05 * sum(float((w * w).sum()) for w in weights)
    assert record.penalty == pytest.approx(expected_penalty, rel=1e-12)
    assert record.data_loss == pytest.approx(float(record.sample_losses.mean()), rel=1e-12)
    assert record.total_loss == record.data_loss + record.penalty
    assert record.layers[0].weight_grad_penalty is not None


def test_batches_cover_every_training_sample_once_per_epoch():
    trainer = trainer_from(training={"batch_size": 7})
    n = len(trainer.problem.x_train)
    seen = np.concatenate([trainer.step().batch_indices for _ in range(-(-n // 7))])
    assert sorted(seen.tolist()) == list(range(n))
    assert trainer.epoch == 0
    trainer.step()
    assert trainer.epoch == 1


def test_batch_size_one_is_online_learning_and_full_batch_uses_every_sample():
    online = trainer_from(training={"batch_size": 1})
    assert online.step().inputs.shape == (1, 2)
    full = trainer_from(training={"batch_size": 250})
    assert full.step().inputs.shape == (250, 2)


def test_changing_the_learning_rate_keeps_optimizer_state():
    trainer = trainer_from(training={"optimizer": {"name": "adam", "learning_rate": 0.01}})
    for _ in range(5):
        trainer.step()
    moments = trainer.optimizer.state["m"].copy()
    trainer.set_learning_rate(0.001)
    record = trainer.step()
    assert trainer.optimizer.steps == 6
    assert record.learning_rate == 0.001
    assert not np.array_equal(moments, trainer.optimizer.state["m"])


def test_dropout_mask_is_recorded_and_zeroes_units_with_inverted_scaling():
    trainer = trainer_from(**DROPOUT_ADAM)
    trace = trainer.step().layers[0]
    mask = trace.dropout_mask
    assert set(np.unique(mask)) <= {0.0, 1.0 / 0.7}
    assert np.array_equal(trace.output, trace.activation * mask)
    assert trainer.step().layers[1].dropout_mask is None


def test_dropout_is_off_when_tracing_a_sample():
    trainer = trainer_from(**DROPOUT_ADAM)
    assert trainer.trace_samples([0]).layers[0].dropout_mask is None


def test_max_epochs_stops_training():
    trainer = trainer_from(training={"max_epochs": 2, "batch_size": 50})
    assert trainer.train(10_000) == "max_epochs"
    assert trainer.epochs_done == 2.0


def test_target_loss_stops_training():
    trainer = trainer_from(
        network={"hidden": [{"units": 8}, {"units": 8}]}, training={"target_loss": 0.05}
    )
    assert trainer.train(20_000) == "target_loss"
    assert trainer.evaluate().train_loss <= 0.05


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # diverging on purpose
def test_a_runaway_learning_rate_is_reported_as_divergence_with_its_step():
    trainer = trainer_from(
        network={"hidden": [{"units": 8, "activation": "relu"}] * 3, "output_activation": "linear"},
        data={"dataset": "plane"},
        training={"optimizer": {"learning_rate": 10.0}},
    )
    assert trainer.train(1000) == "diverged"
    divergence = trainer.last_record.divergence
    assert divergence.step == trainer.step_count
    assert "learning rate" in divergence.suggestion


def test_float32_networks_train_in_float32():
    trainer = trainer_from(network={"dtype": "float32"})
    record = trainer.step()
    assert record.layers[0].delta.dtype == np.float32
    assert trainer.network.layers[0].weight.dtype == np.float32
    assert trainer.optimizer.steps == 1


def test_a_network_too_large_for_the_limits_is_refused():
    hidden = [{"units": 512}] * 3
    with pytest.raises(SpecError, match="parameters; at most"):
        Trainer(Spec.from_dict({"network": {"hidden": hidden}}))


def test_batch_larger_than_the_training_set_is_refused():
    with pytest.raises(SpecError, match="larger than the 250 training samples"):
        trainer_from(training={"batch_size": 400})


def test_zero_initialisation_keeps_neurons_of_a_layer_identical():
    trainer = trainer_from(network={"initializer": "zeros"})
    for _ in range(20):
        trainer.step()
    first = trainer.network.layers[0].weight
    assert np.allclose(first, first[:, :1])


def test_a_rejected_optimizer_change_leaves_the_spec_unchanged():
    trainer = trainer_from()
    with pytest.raises(SpecError, match="momentum"):
        trainer.set_optimizer("momentum", momentum=1.5)
    assert trainer.spec.training.optimizer.name == "sgd"
    assert trainer.spec.training.optimizer.momentum == 0.9


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # diverging on purpose
def test_divergence_under_adam_does_not_suggest_switching_to_adam():
    trainer = trainer_from(training={"optimizer": {"name": "adam", "learning_rate": 0.01}})
    trainer.network.set_parameter(0, 0, 0, 1e308)  # one absurd weight: tanh saturates, then
    trainer.network.set_parameter(1, 0, 0, np.inf)  # an infinite one makes the loss NaN
    record = trainer.step()
    assert record.divergence is not None and record.divergence.step == 1
    assert "Adam" not in record.divergence.suggestion
    assert "learning rate" in record.divergence.suggestion
