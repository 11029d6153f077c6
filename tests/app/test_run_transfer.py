"""Runs lent to a training process and brought back (app/run_transfer.py): what comes back is
the state the process stepped to, bit for bit, in the server's own objects."""

from __future__ import annotations

import numpy as np
import pytest

from app.evolution_run import EvolutionRun
from app.run import Run
from app.run_transfer import adopt, dumps, loads, state_of
from engine.activations import ACTIVATIONS
from engine.evolution import EvolutionSettings, GeneticTrainer
from engine.features import FEATURES
from engine.spec import Spec
from engine.trainer import Trainer

SPECS = {
    "dense, every activation and feature": {
        "data": {"features": list(FEATURES)},
        "network": {"hidden": [{"units": 3, "activation": a, "dropout": 0.1}
                               for a, act in ACTIVATIONS.items() if not act.output_only]},
        "training": {"optimizer": {"name": "adam"}, "regularization": "l1",
                     "regularization_rate": 0.001}},
    "convolutional": {
        "data": {"dataset": "shapes"},
        "network": {"layers": [{"type": "conv2d", "filters": 2, "kernel": 3},
                               {"type": "maxpool", "size": 2}, {"type": "flatten"},
                               {"type": "dense", "units": 4}],
                    "output_activation": "softmax"},
        "training": {"optimizer": {"name": "momentum"}}},
    "recurrent": {
        "data": {"dataset": "adding"},
        "network": {"layers": [{"type": "rnn", "units": 4, "truncation": 3}]},
        "training": {"optimizer": {"name": "rmsprop"}}},
}


def lent(runs: list) -> list:
    """The runs as a training process gets them."""
    return loads(dumps(runs))


@pytest.mark.parametrize("name", SPECS)
def test_a_run_brought_back_is_the_same_object_holding_exactly_what_was_stepped_there(name):
    spec = Spec.from_dict(SPECS[name])
    here, reference = Run(Trainer(spec), "r0"), Trainer(spec)
    trainer = here.trainer
    (there,) = lent([here])
    for i in range(7):  # lean and recorded steps: pooled vectors and their views in use
        there.trainer.step(record=i % 3 == 0)
        reference.step(record=i % 3 == 0)
    adopt([here], state_of([there]))
    assert here.trainer is trainer and here.step == 7
    np.testing.assert_array_equal(trainer.network.flat, reference.network.flat)
    for _ in range(3):  # batch order, dropout masks, optimiser state and views carry on
        trainer.step(record=True)
        reference.step(record=True)
    np.testing.assert_array_equal(trainer.network.flat, reference.network.flat)
    for ours, theirs in zip(trainer.network.parameters(), reference.network.parameters(),
                            strict=True):
        np.testing.assert_array_equal(ours, theirs)


def test_a_genetic_run_comes_back_with_its_population_and_its_best_network_shared():
    here = EvolutionRun(GeneticTrainer(Spec(), EvolutionSettings()), "r1")
    reference = GeneticTrainer(Spec(), EvolutionSettings())
    best = here.trainer
    (there,) = lent([here])
    for _ in range(3):
        there.ga.step()
        reference.step()
    adopt([here], state_of([there]))
    assert here.trainer is best and here.ga.trainer is best and here.step == 3
    np.testing.assert_array_equal(here.ga.population, reference.population)


def test_side_by_side_runs_come_back_each_to_its_own_objects():
    spec = Spec()
    first, second = Run(Trainer(spec), "r0"), Run(Trainer(spec), "r1")
    first_trainer, second_trainer = first.trainer, second.trainer
    there = lent([first, second])
    there[0].trainer.step()
    for _ in range(2):
        there[1].trainer.step()
    adopt([first, second], state_of(there))
    assert (first.trainer, second.trainer) == (first_trainer, second_trainer)
    assert (first.step, second.step) == (1, 2)


def test_a_view_arrives_as_a_view_of_the_array_that_arrives_with_it():
    flat = np.arange(10.0)
    weight = flat[2:8].reshape(2, 3)
    flat2, weight2 = loads(dumps([flat, weight]))
    flat2[2] = -1.0
    assert weight2[0, 0] == -1.0 and weight2.base is flat2  # as the original's base is flat


def test_registry_entries_travel_by_name_and_arrive_as_the_registry_s_own():
    entries = [*ACTIVATIONS.values(), *FEATURES.values()]
    assert all(a is b for a, b in zip(lent(entries), entries, strict=True))
