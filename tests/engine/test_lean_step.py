"""The lean step: what no view shows is computed the same way, into reused buffers."""

import tracemalloc

import numpy as np
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


@pytest.mark.parametrize(("optimizer", "regularization"),
                         [({"name": "sgd"}, "l2"), ({"name": "momentum"}, "l1"),
                          ({"name": "rmsprop"}, "l1"), ({"name": "adam"}, "l2")],
                         ids=["sgd-l2", "momentum-l1", "rmsprop-l1", "adam-l2"])
def test_float32_lean_steps_follow_every_optimiser_bit_for_bit(optimizer, regularization):
    raw = {"network": {"hidden": [{"units": 5}, {"units": 3}], "dtype": "float32"},
           "training": {"optimizer": {**optimizer, "learning_rate": 0.05},
                        "regularization": regularization, "regularization_rate": 0.01}}
    recorded, lean = _pair(raw)
    for _ in range(30):
        a, b = recorded.step(), lean.step(record=False)
        assert (a.total_loss, a.penalty, a.grad_norms) == (b.total_loss, b.penalty, b.grad_norms)
    assert params_equal(recorded, lean)
    assert all(np.array_equal(recorded.optimizer.state[k], lean.optimizer.state[k])
               for k in recorded.optimizer.state)


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


WIDE_OPTIMIZERS = [
    ({"name": "sgd"}, "none"),
    ({"name": "momentum", "nesterov": True}, "l1"),
    ({"name": "rmsprop"}, "l2"),
    ({"name": "adam"}, "l1"),
]


def _wide(optimizer: dict, regularization: str) -> Trainer:
    """66 000 parameters (0.5 MB) against batches of 2 rows: a parameter-sized array stands
    out from the per-sample values (2 × 256 numbers a layer) every step makes."""
    return Trainer(
        Spec.from_dict(
            {
                "data": {"dataset": "circle"},
                "network": {"hidden": [{"units": 256}, {"units": 256}]},
                "training": {
                    "optimizer": {**optimizer, "learning_rate": 0.001},
                    "regularization": regularization,
                    "regularization_rate": 0.001,
                    "batch_size": 2,
                },
            }
        )
    )


def _peak_bytes(step, n: int) -> int:
    tracemalloc.start()
    try:
        for _ in range(n):
            step()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize(("optimizer", "regularization"), WIDE_OPTIMIZERS,
                         ids=lambda v: v["name"] if isinstance(v, dict) else v)
def test_a_hundred_lean_steps_allocate_no_parameter_sized_array(optimizer, regularization):
    trainer = _wide(optimizer, regularization)
    trainer.step(record=False)  # reused vectors and optimiser state are made once, here
    parameter_bytes = trainer.network.flat.nbytes
    peak = _peak_bytes(lambda: trainer.step(record=False), 100)
    assert peak < parameter_bytes / 4, f"peak {peak} B against {parameter_bytes} B of parameters"


def test_a_recorded_step_keeps_parameter_sized_arrays_the_lean_step_does_not():
    trainer = _wide({"name": "adam"}, "l2")
    trainer.step(record=False)
    recorded = _peak_bytes(trainer.step, 1)
    # the new parameters, the update and the data and total gradients stay with the record
    assert recorded >= 4 * trainer.network.flat.nbytes
