"""The lean step: what no view shows is computed the same way, into reused buffers."""

import pytest

from engine.explain import explain_weight
from engine.spec import Spec
from engine.trainer import Trainer
from tests.engine.helpers import params_equal
from tests.engine.test_convolutional_networks import cnn
from tests.engine.test_recurrent_networks import RECALL_LSTM, SINE_RNN

DENSE = {
    "network": {"hidden": [{"units": 6, "activation": "relu", "dropout": 0.2}, {"units": 3}]},
    "training": {
        "optimizer": {"name": "adam", "learning_rate": 0.01},
        "regularization": "l1",
        "regularization_rate": 0.001,
        "batch_size": 8,
    },
}


def _pair(raw: dict) -> tuple[Trainer, Trainer]:
    return Trainer(Spec.from_dict(raw)), Trainer(Spec.from_dict(raw))


@pytest.mark.parametrize(
    "raw",
    [DENSE, cnn(regularization="l2", regularization_rate=0.01), SINE_RNN, RECALL_LSTM],
    ids=["dense", "cnn", "rnn", "lstm"],
)
def test_lean_steps_follow_the_recorded_trajectory_bit_for_bit(raw):
    recorded, lean = _pair(raw)
    for _ in range(15):
        a, b = recorded.step(), lean.step(record=False)
        assert (a.total_loss, a.data_loss, a.penalty) == (b.total_loss, b.data_loss, b.penalty)
        assert a.grad_norms == b.grad_norms
        assert a.batch_indices.tolist() == b.batch_indices.tolist()
    assert params_equal(recorded, lean)


def test_a_lean_step_updates_in_place_and_keeps_no_trace():
    trainer = Trainer(Spec.from_dict(DENSE))
    trainer.step()
    flat = trainer.network.flat
    summary = trainer.step(record=False)
    assert trainer.network.flat is flat  # no new parameter vector
    assert summary.layers == [] and summary.parameters is None
    assert trainer.last_record is None and trainer.step_count == 2
    recorded = trainer.step()
    assert trainer.network.flat is not flat and recorded.parameters is flat


def test_after_a_lean_step_the_current_weights_are_explained():
    trainer = Trainer(Spec.from_dict(DENSE))
    trainer.step()
    trainer.step(record=False)
    assert explain_weight(trainer, 0, 0, 0, sample=0).weights == "current"


def test_a_lean_step_that_diverges_stops_training():
    trainer = Trainer(
        Spec.from_dict(
            {
                "data": {"dataset": "plane"},
                "network": {
                    "hidden": [{"units": 8, "activation": "relu"}] * 2,
                    "output_activation": "linear",
                },
                "training": {"optimizer": {"learning_rate": 10.0}},
            }
        )
    )
    for _ in range(200):
        summary = trainer.step(record=False)
        if summary.divergence is not None:
            break
    assert summary.divergence is not None
    assert trainer.stop_reason() == "diverged"


def test_a_lean_step_finishes_a_step_begun_phase_by_phase_as_recorded():
    trainer = Trainer(Spec.from_dict(DENSE))
    trainer.next_phase()
    record = trainer.step(record=False)
    assert record.layers and trainer.last_record is record
