"""Every ready-made lesson is a valid setup and really shows what it tells the learner to see."""

import numpy as np
import pytest

from engine.lessons import LESSONS
from engine.spec import Spec
from engine.trainer import Trainer


def lesson(name: str, **training) -> Trainer:
    spec = Spec.from_dict(LESSONS[name].spec)
    for key, value in training.items():
        setattr(spec.training, key, value)
    return Trainer(spec)


@pytest.mark.parametrize("name", sorted(LESSONS))
def test_every_lesson_builds_and_steps(name):
    trainer = lesson(name)
    with np.errstate(all="ignore"):
        trainer.step()
    assert LESSONS[name].look_for and LESSONS[name].title


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # it diverges: that is the lesson
def test_too_high_a_learning_rate_diverges():
    assert lesson("learning_rate_too_high").train(1000) == "diverged"


def test_too_low_a_learning_rate_barely_moves_the_loss():
    slow = lesson("learning_rate_too_low")
    start = slow.evaluate().train_loss
    slow.train(2000)
    assert slow.evaluate().train_loss > 0.8 * start


def _median_grad_norms(trainer: Trainer, steps: int = 20) -> np.ndarray:
    return np.median([trainer.step().grad_norms for _ in range(steps)], axis=0)


def test_deep_sigmoid_gradients_vanish_towards_the_inputs():
    norms = _median_grad_norms(lesson("vanishing_gradients"))
    assert norms[0] < norms[-1] / 100


def test_relu_with_he_weights_keeps_gradients_within_an_order_of_magnitude():
    norms = _median_grad_norms(lesson("relu_keeps_gradients"))
    assert norms.min() > norms.max() / 10


def test_zero_initialisation_keeps_every_neuron_of_a_layer_equal():
    trainer = lesson("symmetry")
    trainer.train(200)
    for layer in trainer.network.layers:
        assert np.ptp(layer.weight, axis=1).max() == 0.0


def _trained(name: str) -> tuple[float, float]:
    trainer = lesson(name)
    trainer.train(3000)
    metrics = trainer.evaluate()
    return metrics.train_loss, metrics.test_loss


def test_the_overfitting_lesson_overfits_and_l2_and_dropout_narrow_the_gap():
    train, test = _trained("overfitting")
    assert test > 100 * train
    for remedy in ("l2_regularization", "dropout"):
        remedy_train, remedy_test = _trained(remedy)
        assert remedy_test < test
        assert remedy_test / remedy_train < test / train


def test_l1_drives_most_weights_to_nearly_zero_and_still_classifies():
    trainer = lesson("l1_sparsity")
    trainer.train(3000)
    weights = np.concatenate([layer.weight.ravel() for layer in trainer.network.layers])
    assert (np.abs(weights) < 0.01).mean() > 0.5
    assert trainer.evaluate().test_accuracy > 0.95


def test_batch_size_one_makes_the_batch_loss_jump_far_more_than_a_large_batch():
    def jumpiness(batch_size: int) -> float:
        trainer = lesson("mini_batches", batch_size=batch_size)
        return float(np.std(np.diff([trainer.step().total_loss for _ in range(400)])))

    assert jumpiness(1) > 5 * jumpiness(50)


def test_softmax_lesson_separates_three_classes():
    trainer = lesson("softmax")
    trainer.train(3000)
    assert trainer.evaluate().test_accuracy > 0.9


def test_squared_features_separate_the_circle_without_hidden_layers():
    trainer = lesson("features")
    assert len(trainer.network.layers) == 1
    trainer.train(3000)
    assert trainer.evaluate().test_accuracy > 0.95
