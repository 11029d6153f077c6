"""Learning works: each teaching example reaches its goal within a documented step budget.

Budgets (documented in docs/engine.md): 3 000 steps of batch 10 for circle, xor and the sine fit;
4 000 steps of batch 32 for the 3-class spiral.
"""

from tests.engine.helpers import trainer_from

TANH_8_8 = {"hidden": [{"units": 8, "activation": "tanh"}, {"units": 8, "activation": "tanh"}]}


def test_tanh_2_8_8_1_separates_the_circle():
    trainer = trainer_from(data={"dataset": "circle", "noise": 0.1}, network=TANH_8_8)
    trainer.train(3000)
    assert trainer.evaluate().test_accuracy > 0.95


def test_tanh_2_8_8_1_learns_xor():
    trainer = trainer_from(data={"dataset": "xor", "noise": 0.1}, network=TANH_8_8)
    trainer.train(3000)
    assert trainer.evaluate().test_accuracy > 0.95


def test_softmax_network_separates_the_three_class_spiral():
    trainer = trainer_from(
        data={"dataset": "spiral3"},
        network={
            "hidden": [{"units": 16, "activation": "relu"}, {"units": 16, "activation": "relu"}],
            "output_activation": "softmax",
        },
        training={
            "loss": "cce",
            "optimizer": {"name": "adam", "learning_rate": 0.01},
            "batch_size": 32,
        },
    )
    trainer.train(4000)
    assert trainer.evaluate().test_accuracy > 0.90


def test_sine_fit_reaches_small_squared_error():
    trainer = trainer_from(
        data={"dataset": "sine"},
        network={"hidden": [{"units": 16, "activation": "tanh"}], "output_activation": "linear"},
        training={"optimizer": {"name": "adam", "learning_rate": 0.01}},
    )
    trainer.train(3000)
    assert trainer.evaluate().test_loss < 0.01
