"""The backprop-against-evolution lesson shows its claim within the watch: both runs learn xor,
and the genetic algorithm needs hundreds of times more samples through a network to get as far.

In the page the two runs train side by side; at the lesson's speed every backprop step is
matched by at most one generation (docs/protocol.md §10), so in the watch each takes
``steps_watched`` of them — which is what this test runs."""

from __future__ import annotations

from engine.evolution import EvolutionSettings, GeneticTrainer
from engine.lessons import LESSONS
from engine.spec import Spec
from engine.trainer import Trainer

LESSON = LESSONS["backprop_vs_evolution"]
TARGET = 0.1  # a train loss at which xor is solved (accuracy ≥ 95 %)


def backprop() -> tuple[Trainer, int | None]:
    """The lesson's run and the samples it had pushed through when it first reached TARGET."""
    trainer = Trainer(Spec.from_dict(LESSON.spec))
    reached = None
    while trainer.step_count < LESSON.steps_watched:
        trainer.train(10)
        if reached is None and trainer.evaluate().train_loss <= TARGET:
            reached = trainer.step_count * trainer.batch_size
    return trainer, reached


def evolution(dataset) -> tuple[GeneticTrainer, int | None]:
    (entry,) = LESSON.compare
    ga = GeneticTrainer(Spec.from_dict(LESSON.spec),
                        EvolutionSettings.from_dict(entry["evolution"]), dataset)
    reached = None
    while ga.generation < LESSON.steps_watched:
        record = ga.step()
        if reached is None and record.best_loss <= TARGET:
            reached = record.samples_seen
    return ga, reached


def test_the_lesson_compares_its_run_with_one_genetic_algorithm():
    (entry,) = LESSON.compare
    assert entry["trainer"] == "evolution" and entry["label"] == "genetic algorithm"


def test_both_runs_solve_xor_within_the_watch_and_evolution_costs_hundreds_of_times_more():
    trainer, backprop_samples = backprop()
    ga, evolution_samples = evolution(trainer.dataset)
    assert backprop_samples is not None and evolution_samples is not None
    assert trainer.evaluate().train_accuracy >= 0.95
    assert ga.trainer.evaluate().train_accuracy >= 0.95
    assert evolution_samples >= 100 * backprop_samples, (backprop_samples, evolution_samples)
