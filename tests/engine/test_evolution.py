"""Specification: the genetic algorithm trains the backprop Trainer's network on the same data
without any gradient — seeded, elitist (its best loss never rises), scoring with the engine's
own loss, and counting every forward pass it spends."""

from __future__ import annotations

import numpy as np
import pytest

from engine.evolution import EvolutionSettings, GeneticTrainer
from engine.spec import Spec, SpecError
from engine.trainer import Trainer

# xor with 200 training samples and the 2-8-8-1 tanh network of the learning budgets
XOR = {
    "data": {"dataset": "xor", "n_samples": 400, "noise": 0.1},
    "network": {"hidden": [{"units": 8, "activation": "tanh"}, {"units": 8, "activation": "tanh"}]},
}
CNN = {
    "data": {"dataset": "shapes", "n_samples": 120},
    "network": {
        "layers": [
            {"type": "conv2d", "filters": 4, "kernel": 3},
            {"type": "maxpool"},
            {"type": "flatten"},
        ],
        "output_activation": "softmax",
        "initializer": "he_uniform",
    },
    "training": {"loss": "cce"},
}
RNN = {
    "data": {"dataset": "sine_next", "n_samples": 100},
    "network": {"layers": [{"type": "rnn", "units": 4}], "output_activation": "linear"},
}


def evolve(raw=XOR, generations: int = 0, **settings) -> GeneticTrainer:
    ga = GeneticTrainer(Spec.from_dict(raw), EvolutionSettings(**settings))
    ga.run(generations)
    return ga


def engine_loss(raw, parameters: np.ndarray) -> float:
    """What the backprop Trainer reports as its training loss for these parameters."""
    trainer = Trainer(Spec.from_dict(raw))
    trainer.network.bind(parameters.copy())
    return trainer.evaluate().train_loss


def test_it_learns_xor_without_any_gradient():
    ga = evolve(generations=60)
    first, last = ga.history[0], ga.history[-1]
    assert first.best_loss > 0.9 and last.best_loss < 0.3  # measured: 0.984 → 0.240
    assert ga.trainer.evaluate().test_accuracy > 0.9  # measured: 0.95


def test_it_uses_the_backprop_runs_data_and_network():
    ga = evolve()
    trainer = Trainer(Spec.from_dict(XOR))
    np.testing.assert_array_equal(ga.x, trainer.problem.x_train)
    np.testing.assert_array_equal(ga.y, trainer.problem.y_train)
    assert ga.n_samples == 200 and ga.network.sizes == [2, 8, 8, 1]
    np.testing.assert_array_equal(ga.population[0], trainer.network.flat)  # the same start
    assert ga.population.shape == (50, trainer.network.parameter_count)


def test_forward_passes_count_each_member_scored_on_the_whole_training_set():
    ga = evolve(generations=4, population=10, elite=3)
    assert [r.forward_passes for r in ga.history] == [10, 17, 24, 31, 38]  # P, then P − E each
    assert [r.samples_seen for r in ga.history] == [n * 200 for n in (10, 17, 24, 31, 38)]
    assert [r.generation for r in ga.history] == [0, 1, 2, 3, 4]


def test_with_an_elite_the_best_loss_never_rises():
    best = [r.best_loss for r in evolve(generations=60).history]
    assert all(later <= earlier for earlier, later in zip(best, best[1:], strict=False))
    assert best[-1] < best[0]


def test_without_an_elite_the_best_loss_can_rise():
    best = [r.best_loss for r in evolve(generations=60, elite=0).history]
    assert any(later > earlier for earlier, later in zip(best, best[1:], strict=False))  # 13×


def test_the_elite_pass_unchanged_into_the_next_generation():
    ga = evolve(generations=5, elite=2)
    before = ga.population[np.argsort(ga.losses, kind="stable")[:2]].copy()
    ga.step()
    np.testing.assert_array_equal(ga.population[:2], before)


def test_records_summarise_the_populations_losses():
    ga = evolve(generations=3)
    record = ga.last_record
    assert record.best_loss == ga.losses.min() and record.worst_loss == ga.losses.max()
    assert record.mean_loss == pytest.approx(ga.losses.mean(), rel=1e-12)
    assert record.non_finite == 0
    np.testing.assert_array_equal(record.best_parameters, ga.population[np.argmin(ga.losses)])
    times = [r.wall_time for r in ga.history]
    assert times == sorted(times) and times[0] > 0


def test_the_same_seed_gives_the_same_history():
    a, b = evolve(generations=20, seed=4), evolve(generations=20, seed=4)
    assert a.history == b.history
    assert all(
        np.array_equal(ra.best_parameters, rb.best_parameters)
        for ra, rb in zip(a.history, b.history, strict=True)
    )
    assert a.population.tobytes() == b.population.tobytes()


def test_another_seed_evolves_differently():
    a, b = evolve(generations=5, seed=4), evolve(generations=5, seed=5)
    assert a.population.tobytes() != b.population.tobytes()


def test_its_loss_is_the_engines_data_loss_for_the_same_parameters():
    ga = evolve(generations=10)
    for record in ga.history[::5]:
        assert record.best_loss == pytest.approx(
            engine_loss(XOR, record.best_parameters), rel=1e-12
        )
    every = ga.losses_of(ga.population)
    np.testing.assert_allclose(every, ga.losses, rtol=1e-12)
    rows = ga.population[::10]
    expected = [engine_loss(XOR, row) for row in rows]
    np.testing.assert_allclose(ga.losses_of(rows), expected, rtol=1e-12)


def test_a_dense_population_is_scored_at_once_with_the_same_numbers_as_one_by_one():
    batched = evolve(generations=10)
    one_by_one = GeneticTrainer(Spec.from_dict(XOR), EvolutionSettings(), batched=False)
    one_by_one.run(10)
    assert batched.batched and not one_by_one.batched
    assert not evolve(CNN).batched and not evolve(RNN).batched
    np.testing.assert_allclose(one_by_one.losses, batched.losses, rtol=1e-12)
    np.testing.assert_allclose(one_by_one.population, batched.population, rtol=0, atol=0)


def test_the_network_holds_a_copy_of_the_best_parameters():
    ga = evolve(generations=5)
    np.testing.assert_array_equal(ga.network.flat, ga.best_parameters)
    assert not np.shares_memory(ga.network.flat, ga.best_parameters)
    assert ga.trainer.evaluate().train_loss == pytest.approx(ga.last_record.best_loss, rel=1e-12)
    other = Trainer(Spec.from_dict(XOR)).network
    ga.install_best(other)
    np.testing.assert_array_equal(other.flat, ga.best_parameters)
    with pytest.raises(ValueError, match="parameters"):
        ga.install_best(Trainer(Spec.from_dict(RNN)).network)


def test_uniform_crossover_takes_each_parameter_from_one_parent():
    ga = evolve(mutation_rate=0.0)
    parents = ga.population.copy()
    ga.step()
    children = ga.population[2:]
    for j in range(parents.shape[1]):
        assert np.isin(children[:, j], parents[:, j]).all()


def test_blend_crossover_puts_each_parameter_between_its_parents():
    ga = evolve(mutation_rate=0.0, crossover="blend")
    parents = ga.population.copy()
    ga.step()
    children = ga.population[2:]
    assert (children >= parents.min(axis=0)).all() and (children <= parents.max(axis=0)).all()
    assert not np.isin(children, parents).all()  # new values, not copies


def test_mutation_changes_a_share_rate_of_parameters_by_noise_of_its_scale():
    ga = evolve(mutation_rate=0.3, mutation_scale=0.5)
    # every member the same vector: crossover then copies it, and what differs is mutation
    ga.population = np.tile(ga.population[0], (50, 1))
    ga.losses = np.full(50, ga.losses[0])
    parent = ga.population[0].copy()
    ga.step()
    change = (ga.population[2:] - parent).ravel()  # 48 children × 105 parameters
    mutated = change[change != 0]
    assert 0.27 < mutated.size / change.size < 0.33  # measured: 0.285
    assert 0.47 < mutated.std() < 0.53  # measured: 0.504


def test_a_convolutional_network_evolves_through_its_own_forward_pass():
    ga = evolve(CNN, generations=20, population=12)
    assert ga.last_record.best_loss < 0.85 * ga.history[0].best_loss  # measured: 1.10 → 0.84
    assert ga.last_record.best_loss == pytest.approx(
        engine_loss(CNN, ga.best_parameters), rel=1e-12
    )


def test_a_recurrent_network_evolves_too():
    ga = evolve(RNN, generations=20, population=12)
    assert ga.last_record.best_loss < 0.5 * ga.history[0].best_loss  # measured: 0.218 → 0.030
    assert ga.last_record.best_loss == pytest.approx(
        engine_loss(RNN, ga.best_parameters), rel=1e-12
    )


def test_float32_networks_stay_float32():
    raw = {**XOR, "network": {**XOR["network"], "dtype": "float32"}}
    ga = evolve(raw, generations=3, crossover="blend")
    assert ga.population.dtype == np.float32 and ga.network.flat.dtype == np.float32
    assert ga.last_record.best_loss == pytest.approx(engine_loss(raw, ga.best_parameters), rel=1e-6)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (dict(population=1), "population: must be from 2 to 500"),
        (dict(population=501), "population: must be from 2 to 500"),
        (dict(population=2.5), "population: must be a whole number"),
        (dict(population=4, elite=4), "elite: must be from 0 to 3"),
        (dict(population=4, tournament=5), "tournament: must be from 1 to 4"),
        (dict(tournament=True), "tournament: must be a whole number"),
        (dict(crossover="one_point"), "unknown crossover 'one_point'"),
        (dict(mutation_rate=1.5), "mutation_rate: a probability, from 0 to 1"),
        (dict(mutation_scale=-0.1), "mutation_scale: a standard deviation from 0 to 10"),
        (dict(mutation_scale=float("nan")), "mutation_scale: must be a number"),
        (dict(seed=-1), "seed: must be from 0 to"),
    ],
)
def test_impossible_settings_are_refused_with_a_sentence(settings, message):
    with pytest.raises(SpecError, match=message):
        EvolutionSettings(**settings)


def test_every_problem_is_named_at_once():
    with pytest.raises(SpecError) as caught:
        EvolutionSettings.from_dict({"population": 0, "mutation_rate": -1, "speed": 3})
    assert [path for path, _ in caught.value.problems] == ["evolution.speed"]
    with pytest.raises(SpecError) as caught:
        EvolutionSettings.from_dict({"population": 0, "mutation_rate": -1})
    paths = [path for path, _ in caught.value.problems]
    assert paths == ["evolution.population", "evolution.mutation_rate"]
    assert EvolutionSettings.from_dict({"elite": 1}).to_dict()["elite"] == 1


def test_a_generation_too_heavy_for_the_server_is_refused():
    heavy = {
        "data": {"dataset": "digits"},
        "network": {
            "layers": [{"type": "conv2d", "filters": 32, "kernel": 5}, {"type": "flatten"}],
            "output_activation": "softmax",
        },
        "training": {"loss": "cce"},
    }
    with pytest.raises(SpecError, match="evolution.population: a generation would cost"):
        GeneticTrainer(Spec.from_dict(heavy), EvolutionSettings(population=500))


def test_the_example_in_docs_engine_md_runs_as_written():
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "engine.md").read_text()
    section = text[text.index("## Training without gradients") :]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    namespace: dict = {}
    exec(compile(code, "docs/engine.md", "exec"), namespace)
    record = namespace["record"]
    assert round(record.best_loss, 3) == 0.240
    assert (record.forward_passes, record.samples_seen) == (2930, 586_000)
    assert namespace["grid"] is not None
