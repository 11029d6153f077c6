"""Custom regression targets are learnt standardised and reported in their own units."""

import numpy as np
import pytest

from engine.csv_data import load_csv
from engine.spec import Spec
from engine.trainer import Trainer


def _prices(n: int = 300) -> str:
    rng = np.random.default_rng(3)
    size = rng.uniform(40, 200, n)
    rooms = rng.integers(1, 6, n)
    price = 50 + 1.1 * size + 8 * rooms + rng.normal(0, 4, n)  # 100–300, like a price column
    rows = "\n".join(f"{s:.1f},{r},{p:.2f}" for s, r, p in zip(size, rooms, price, strict=True))
    return "size,rooms,price\n" + rows


def _trainer(standardize: bool = True) -> Trainer:
    dataset = load_csv(_prices(), target="price", task="regression", seed=1)
    spec = Spec.from_dict(
        {
            "data": {"dataset": "custom", "standardize": standardize},
            "network": {
                "hidden": [{"units": 8, "activation": "relu"}],
                "output_activation": "linear",
                "initializer": "he_uniform",
            },
            "training": {"optimizer": {"name": "adam", "learning_rate": 0.01}, "batch_size": 16},
        }
    )
    return Trainer(spec, dataset)


def test_a_price_column_trains_far_better_than_predicting_the_mean():
    trainer = _trainer()
    trainer.train(1500)
    metrics = trainer.evaluate()
    y = trainer.dataset.y_test
    mean_guess = float(((y - trainer.dataset.y_train.mean(axis=0)) ** 2).mean())
    assert metrics.test_loss_units < 0.05 * mean_guess


def test_losses_in_units_are_the_standardised_losses_times_the_target_variance():
    trainer = _trainer()
    trainer.train(50)
    metrics = trainer.evaluate()
    variance = float(trainer.problem.target_scale.scale[0] ** 2)
    assert metrics.train_loss_units == pytest.approx(metrics.train_loss * variance, rel=1e-9)


def test_outputs_are_reported_in_the_targets_units():
    trainer = _trainer()
    trainer.train(1500)
    predicted = trainer.problem.outputs_in_units(trainer.network.predict(trainer.problem.x_test))
    assert 100 < float(predicted.mean()) < 300
    np.testing.assert_allclose(predicted[:, 0], trainer.dataset.y_test[:, 0], rtol=0.1)


def test_catalog_regression_sets_keep_their_targets_as_generated():
    trainer = Trainer(
        Spec.from_dict({"data": {"dataset": "house"}, "network": {"output_activation": "linear"}})
    )
    assert trainer.problem.target_scale is None
    assert trainer.evaluate().train_loss_units is None
