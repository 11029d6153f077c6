"""Recorded steps reuse their records' vectors, but never one that a record still holds."""

import numpy as np
import pytest

from engine.reuse import VectorPool
from engine.spec import Spec
from engine.trainer import Trainer
from tests.engine.test_lean_step import _peak_bytes, _wide

PENALISED = {
    "network": {"hidden": [{"units": 4}, {"units": 3}]},
    "training": {"optimizer": {"name": "adam", "learning_rate": 0.05},
                 "regularization": "l2", "regularization_rate": 0.01},
}


def _copies(record) -> list[np.ndarray]:
    """Everything of a record that lives in a parameter-sized vector, copied."""
    out = [record.parameters.copy()]
    for trace in record.layers:
        out += [trace.weight.copy(), trace.weight_grad.copy(), trace.weight_grad_data.copy(),
                trace.bias_grad.copy(), trace.weight_update.copy(), trace.flat_update.copy()]
    return out


@pytest.mark.parametrize("lean_between", [0, 3])
def test_records_still_held_keep_every_value_while_later_steps_run(lean_between):
    trainer = Trainer(Spec.from_dict(PENALISED))
    held = []
    for _ in range(8):
        record = trainer.step()
        held.append((record, _copies(record)))
        for _ in range(lean_between):
            trainer.step(record=False)
    for record, copies in held:
        assert all(np.array_equal(a, b) for a, b in zip(_copies(record), copies, strict=True))


def test_a_held_view_keeps_its_vector_out_of_the_pool():
    trainer = Trainer(Spec.from_dict(PENALISED))
    pool = VectorPool(trainer.network.flat, trainer.network.layouts, size=2)
    first = pool.take()
    piece = first.vector[2:5].T  # a view of a view still refers to the vector
    assert pool.take() is not first
    del piece
    assert pool.take() is first


def test_a_held_layer_view_keeps_its_vector_out_of_the_pool():
    trainer = Trainer(Spec.from_dict(PENALISED))
    pool = VectorPool(trainer.network.flat, trainer.network.layouts, size=2)
    first = pool.take()
    weight = first.views[1]["weight"]
    assert pool.take() is not first
    del weight
    assert pool.take() is first


def test_a_full_pool_hands_out_fresh_vectors():
    trainer = Trainer(Spec.from_dict(PENALISED))
    pool = VectorPool(trainer.network.flat, trainer.network.layouts, size=1)
    kept = [pool.take().vector for _ in range(3)]  # held: none goes back to the pool
    assert len({id(vector) for vector in kept}) == 3


def test_recorded_steps_whose_records_are_dropped_allocate_no_parameter_sized_array():
    trainer = _wide({"name": "adam"}, "l2")
    for _ in range(4):  # the pools fill
        trainer.step()
    peak = _peak_bytes(trainer.step, 50)
    assert peak < trainer.network.flat.nbytes / 4
