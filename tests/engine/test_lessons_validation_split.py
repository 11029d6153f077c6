"""The validation split the early-stopping lesson needs: a share of the training part is held out,
never trained on, and evaluated beside the train and test losses."""

import numpy as np
import pytest

from engine.datasets import make_dataset
from engine.spec import Spec, SpecError
from engine.trainer import Trainer

DATA = {"dataset": "circle", "n_samples": 200, "train_ratio": 0.5, "seed": 3}


def trainer(**data) -> Trainer:
    return Trainer(Spec.from_dict({"data": {**DATA, **data}}))


def test_the_validation_part_is_the_tail_of_the_training_part_and_the_test_part_is_unchanged():
    whole = make_dataset("circle", n_samples=200, train_ratio=0.5, seed=3)
    split = make_dataset("circle", n_samples=200, train_ratio=0.5, seed=3, validation_ratio=0.25)
    assert (len(split.x_train), len(split.x_val), len(split.x_test)) == (75, 25, 100)
    np.testing.assert_array_equal(np.concatenate((split.x_train, split.x_val)), whole.x_train)
    np.testing.assert_array_equal(np.concatenate((split.y_train, split.y_val)), whole.y_train)
    np.testing.assert_array_equal(split.x_test, whole.x_test)


def test_without_a_validation_ratio_nothing_changes_and_no_validation_loss_is_reported():
    plain = trainer()
    assert len(plain.dataset.x_val) == 0 and plain.problem.x_val is None
    metrics = plain.evaluate()
    assert metrics.validation_loss is None and metrics.validation_accuracy is None


def test_validation_rows_are_never_trained_on_and_their_loss_is_the_mean_over_them():
    held = trainer(validation_ratio=0.2)
    n_train = len(held.problem.x_train)
    assert n_train == 80 and len(held.problem.x_val) == 20
    for _ in range(30):
        assert held.step().batch_indices.max() < n_train
    metrics = held.evaluate()
    expected = held.sample_loss(held.problem.x_val, held.problem.y_val).mean()
    assert metrics.validation_loss == pytest.approx(float(expected), rel=1e-12)
    predicted = held.problem.predicted_classes(held.network.predict(held.problem.x_val))
    assert metrics.validation_accuracy == float((predicted == held.dataset.y_val).mean())


def test_a_validation_ratio_above_one_half_is_refused_with_its_field():
    with pytest.raises(SpecError) as caught:
        Spec.from_dict({"data": {"validation_ratio": 0.7}})
    assert [path for path, _ in caught.value.problems] == ["data.validation_ratio"]


def test_uploaded_data_has_no_validation_split_and_says_so():
    with pytest.raises(SpecError) as caught:
        Spec.from_dict({"data": {"dataset": "custom", "validation_ratio": 0.2}})
    assert caught.value.problems == [
        ("data.validation_ratio", "a validation split is available for built-in datasets only")
    ]
