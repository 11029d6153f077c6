"""Recurrent networks through the whole engine: spec, trainer, phases, files and convergence."""

import pytest

from engine import persistence
from engine.spec import Spec, SpecError
from engine.trainer import Trainer
from tests.engine.helpers import params_equal

SINE_RNN = {
    "data": {"dataset": "sine_next", "noise": 0.05},
    "network": {"layers": [{"type": "rnn", "units": 16}], "output_activation": "linear"},
    "training": {
        "optimizer": {"name": "adam", "learning_rate": 0.01},
        "batch_size": 16,
        "regularization": "l2",
        "regularization_rate": 0.0001,
    },
}
RECALL_LSTM = {
    "data": {"dataset": "recall", "sequence_length": 6},
    "network": {
        "layers": [{"type": "lstm", "units": 12, "truncation": 3}, {"type": "dense", "units": 8}],
        "output_activation": "softmax",
    },
    "training": {"loss": "cce", "optimizer": {"name": "momentum", "learning_rate": 0.05}},
}


def _trainer(raw: dict) -> Trainer:
    return Trainer(Spec.from_dict(raw))


@pytest.mark.parametrize("raw", [SINE_RNN, RECALL_LSTM], ids=["rnn", "lstm"])
def test_stepping_by_phases_equals_whole_steps_bit_for_bit(raw):
    whole, phased = _trainer(raw), _trainer(raw)
    for _ in range(12):
        whole.step()
        for _ in phased.plan:
            phased.next_phase()
    assert params_equal(whole, phased)


@pytest.mark.parametrize("raw", [SINE_RNN, RECALL_LSTM], ids=["rnn", "lstm"])
@pytest.mark.parametrize("codec", ["json", "npz"])
def test_a_saved_recurrent_run_continues_bit_identically(raw, codec):
    original = _trainer(raw)
    for _ in range(9):
        original.step()
    original.next_phase()
    copy = (
        persistence.from_json(persistence.to_json(original))
        if codec == "json"
        else persistence.from_npz(persistence.to_npz(original))
    )
    for _ in range(7):
        original.step()
        copy.step()
    assert params_equal(original, copy)


def test_a_many_to_many_rnn_returns_every_step_and_its_output_layer_applies_at_each():
    trainer = _trainer(SINE_RNN)
    record = trainer.step()
    rnn, out = record.layers
    assert rnn.output.shape == (16, 20, 16)
    assert out.activation.shape == (16, 20, 1)
    assert record.sample_losses.shape == (16,)


def test_a_many_to_one_layer_hands_on_its_last_hidden_state():
    trainer = _trainer(RECALL_LSTM)
    record = trainer.step()
    assert record.layers[0].output.shape == (10, 12)
    assert trainer.problem.input_shape == (6, 4)


def test_the_phase_plan_names_the_recurrent_layer():
    titles = [p.title for p in _trainer(RECALL_LSTM).plan]
    assert titles[0] == "Forward · layer 1 (LSTM)"
    assert titles[-2] == "Backward · layer 1 (LSTM)"


def test_an_rnn_learns_the_next_value_of_a_sine_well_below_repeating_the_input():
    # Repeating the current input scores MSE ≈ 0.156 + noise² (engine/sequence_data.py); the
    # documented bound (docs/engine.md) is a tenth of that within 1 500 steps.
    trainer = _trainer(SINE_RNN)
    trainer.train(1500)
    assert trainer.evaluate().test_loss < 0.0156


def test_sequence_length_is_a_setting_of_sequence_sets():
    trainer = _trainer({**RECALL_LSTM, "data": {"dataset": "recall", "sequence_length": 17}})
    assert trainer.problem.x_train.shape[1:] == (17, 4)


@pytest.mark.parametrize(
    ("raw", "path", "message"),
    [
        (
            {"data": {"dataset": "circle"}, "network": {"layers": [{"type": "rnn"}]}},
            "network.layers[0]",
            "a recurrent layer needs sequences",
        ),
        (
            {"data": {"dataset": "recall"}, "network": {"hidden": []}},
            "network",
            "add a recurrent layer",
        ),
        (
            {"data": {"dataset": "circle", "sequence_length": 9}},
            "data.sequence_length",
            "circle is not a sequence set",
        ),
        (
            {"data": {"dataset": "recall", "sequence_length": 1000}},
            "data.sequence_length",
            "must be between 2 and 64",
        ),
    ],
)
def test_impossible_recurrent_setups_are_refused_with_a_path_and_a_reason(raw, path, message):
    with pytest.raises(SpecError) as error:
        _trainer(raw)
    paths = dict(error.value.problems)
    assert path in paths and message in paths[path]
