"""A saved run continues exactly where it stopped."""

import numpy as np

from engine import persistence
from engine.csv_data import load_csv
from engine.spec import Spec
from engine.trainer import Trainer
from tests.engine.helpers import params_equal, trainer_from

SPEC = {
    "network": {"hidden": [{"units": 5, "activation": "relu", "dropout": 0.2}]},
    "training": {"optimizer": {"name": "adam", "learning_rate": 0.01}, "batch_size": 8},
}


def _continues_identically(original, restored, steps=30):
    for _ in range(steps):
        a, b = original.step(), restored.step()
        assert a.total_loss == b.total_loss
    return params_equal(original, restored)


def test_json_round_trip_continues_bit_identically():
    trainer = trainer_from(**SPEC)
    for _ in range(37):  # mid-epoch, with Adam moments and dropout draws under way
        trainer.step()
    restored = persistence.from_json(persistence.to_json(trainer))
    assert restored.step_count == 37
    assert _continues_identically(trainer, restored)


def test_npz_round_trip_continues_bit_identically():
    trainer = trainer_from(**SPEC)
    for _ in range(37):
        trainer.step()
    restored = persistence.from_npz(persistence.to_npz(trainer))
    assert _continues_identically(trainer, restored)


def test_float32_parameters_survive_json_exactly():
    trainer = trainer_from(network={"dtype": "float32"})
    trainer.step()
    restored = persistence.from_json(persistence.to_json(trainer))
    assert restored.network.layers[0].weight.dtype == np.float32
    assert params_equal(trainer, restored)


def test_custom_data_travels_with_the_file():
    rows = "\n".join(f"{i},{i % 3},{2 * i + 1}" for i in range(30))
    dataset = load_csv("a,b,y\n" + rows, target="y", task="regression")
    spec = Spec.from_dict(
        {"data": {"dataset": "custom"}, "network": {"output_activation": "linear"}}
    )
    trainer = Trainer(spec, dataset)
    trainer.step()
    restored = persistence.from_json(persistence.to_json(trainer))
    assert np.array_equal(restored.dataset.x_train, dataset.x_train)
    assert _continues_identically(trainer, restored, steps=5)
