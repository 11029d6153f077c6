"""The recurrent lesson shows what it claims within the steps a learner watches."""

import copy

from engine.lessons import LESSONS
from engine.spec import Spec
from engine.trainer import Trainer

LESSON = LESSONS["vanishing_through_time"]


def _trainer(length: int | None = None) -> Trainer:
    raw = copy.deepcopy(LESSON.spec)
    if length is not None:
        raw["data"]["sequence_length"] = length
    return Trainer(Spec.from_dict(raw))


def test_the_first_steps_delta_is_thousands_of_times_smaller_than_the_last_steps():
    norms = _trainer().step().layers[0].delta_norms
    assert norms[0] < norms[-1] / 1000


def test_over_40_steps_the_network_stays_near_chance_within_the_watched_steps():
    trainer = _trainer()
    trainer.train(LESSON.steps_watched)
    assert trainer.evaluate().test_accuracy < 0.5  # four symbols: chance is 0.25


def test_over_5_steps_the_same_network_learns_to_recall():
    trainer = _trainer(length=5)
    first = trainer.step().layers[0].delta_norms
    assert first[0] > first[-1] / 10
    trainer.train(LESSON.steps_watched)
    assert trainer.evaluate().test_accuracy > 0.95
