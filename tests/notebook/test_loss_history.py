"""The trainer keeps a loss history: every completed step's true numbers, bounded in memory."""

import numpy as np

from engine.history import LossHistory
from engine.spec import Spec
from engine.trainer import Trainer


def _trainer(**sections) -> Trainer:
    return Trainer(Spec.from_dict(sections))


def test_each_step_adds_its_own_loss_and_gradient_norms():
    trainer = _trainer(data={"dataset": "xor"})
    records = [trainer.step() for _ in range(5)]
    history = trainer.history
    assert history.steps == [1, 2, 3, 4, 5]
    assert history.loss == [r.total_loss for r in records]
    assert history.data_loss == [r.data_loss for r in records]
    assert history.grad_norms == [r.grad_norms for r in records]


def test_train_fills_the_history_it_used_to_throw_away():
    trainer = _trainer(data={"dataset": "circle"})
    trainer.train(30)
    assert len(trainer.history) == 30
    assert trainer.history.loss[-1] == trainer.last_record.total_loss


def test_stepping_phase_by_phase_records_the_step_once_it_completes():
    trainer = _trainer(data={"dataset": "xor"})
    trainer.next_phase()
    assert len(trainer.history) == 0
    while trainer.in_step:
        trainer.next_phase()
    assert trainer.history.steps == [1]


def test_inspecting_samples_adds_nothing():
    trainer = _trainer(data={"dataset": "xor"})
    trainer.step()
    trainer.trace_samples([0, 1, 2])
    assert len(trainer.history) == 1


def test_a_long_run_keeps_every_other_step_exactly_when_full():
    trainer = _trainer(data={"dataset": "xor"})
    trainer.history = LossHistory(max_rows=8)
    losses = [trainer.step().total_loss for _ in range(20)]
    history = trainer.history
    assert len(history) < 8
    assert history.stride == 4
    assert history.steps == [4, 8, 12, 16, 20]
    assert history.loss == [losses[s - 1] for s in history.steps]  # true values, not means
    assert np.all(np.diff(history.steps) == history.stride)


def test_the_history_grows_from_small_arrays_past_its_first_size():
    trainer = _trainer(data={"dataset": "xor"})
    losses = [trainer.step().total_loss for _ in range(150)]  # past 64 and 128 rows
    assert trainer.history.steps == list(range(1, 151))
    assert trainer.history.loss == losses
