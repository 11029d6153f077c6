"""Specification: the genetic algorithm trains the same Network without gradients — seeded,
elitist (its best loss never rises), counting every forward pass it spends."""

from __future__ import annotations

import numpy as np
import pytest

from engine.activations import get_activation
from engine.evolution import EvolutionConfig, GeneticTrainer
from engine.layers import RNN, Dense
from engine.losses import get_loss
from engine.network import Network
from engine.sequence_data import sine_next

X = np.linspace(-3.0, 3.0, 64)[:, None]
Y = np.sin(X)


def sine_fit_network(seed: int = 0) -> Network:
    hidden = Dense((1,), 8, get_activation("tanh"))
    output = Dense((8,), 1, get_activation("linear"))
    return Network.build([hidden, output], "xavier_uniform", "float64", seed)


def evolve(config: EvolutionConfig, generations: int = 0) -> GeneticTrainer:
    trainer = GeneticTrainer(sine_fit_network(), get_loss("mse"), X, Y, config)
    trainer.run(generations)
    return trainer


def mse(network: Network) -> float:
    return float(np.mean((network.predict(X) - Y) ** 2))


def test_the_same_seed_evolves_the_same_parameters():
    a = evolve(EvolutionConfig(seed=4), 20)
    b = evolve(EvolutionConfig(seed=4), 20)
    assert a.network.flat.tobytes() == b.network.flat.tobytes()
    assert a.history == b.history


def test_another_seed_evolves_differently():
    a = evolve(EvolutionConfig(seed=4), 5)
    b = evolve(EvolutionConfig(seed=5), 5)
    assert a.network.flat.tobytes() != b.network.flat.tobytes()


def test_the_first_member_is_the_networks_own_parameters():
    network = sine_fit_network()
    start = network.flat.copy()
    trainer = GeneticTrainer(network, get_loss("mse"), X, Y, EvolutionConfig(population=6))
    np.testing.assert_array_equal(trainer.population[0], start)
    assert trainer.population.shape == (6, start.size)


def test_the_best_loss_never_rises_with_an_elite():
    history = evolve(EvolutionConfig(elite=1, seed=2), 60).history
    best = [g.best_loss for g in history]
    assert all(later <= earlier for earlier, later in zip(best, best[1:], strict=False))


def test_forward_passes_count_every_scored_member():
    config = EvolutionConfig(population=10, elite=3)
    trainer = evolve(config, 4)
    assert [g.forward_passes for g in trainer.history] == [10, 17, 24, 31, 38]
    assert trainer.history[-1].samples_evaluated == 38 * len(X)


def test_it_fits_a_sine_without_any_gradient():
    trainer = evolve(EvolutionConfig(seed=1), 150)
    first, last = trainer.history[0], trainer.history[-1]
    assert last.best_loss < 0.01 < first.best_loss  # measured: 0.117 → 0.0076
    assert mse(trainer.network) == pytest.approx(last.best_loss, rel=1e-12)


def test_the_network_ends_bound_to_a_copy_of_the_best_member():
    trainer = evolve(EvolutionConfig(seed=3), 10)
    np.testing.assert_array_equal(trainer.network.flat, trainer.best)
    assert not np.shares_memory(trainer.network.flat, trainer.population)


def test_it_evolves_a_recurrent_network_too():
    rng = np.random.default_rng(0)
    x, y = sine_next(rng, 64, 0.0)
    rnn = RNN((20, 1), 4, get_activation("tanh"), return_sequences=True)
    network = Network.build(
        [rnn, Dense(rnn.output_shape, 1, get_activation("linear"))], "xavier_uniform", "float64", 0
    )
    trainer = GeneticTrainer(network, get_loss("mse"), x, y, EvolutionConfig(seed=0))
    trainer.run(30)
    assert trainer.history[-1].best_loss < 0.6 * trainer.history[0].best_loss


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (dict(population=1), "at least 2 members"),
        (dict(population=4, elite=4), "elite must be from 0 to population − 1"),
        (dict(population=4, tournament=5), "tournament draws 1 to 4"),
        (dict(mutation_rate=1.5), "mutation rate is a probability"),
        (dict(mutation_scale=-0.1), "cannot be negative"),
        (dict(initializer="gauss"), "unknown initializer"),
    ],
)
def test_impossible_settings_are_refused_with_a_sentence(config, message):
    with pytest.raises(ValueError, match=message):
        EvolutionConfig(**config)
