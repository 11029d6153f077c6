"""A run without gradients: a genetic algorithm (engine/evolution.py) beside backprop runs.

It streams like any run — step frames of its best network (parameters and the selected sample's
forward values; no gradients, since none are used), grids, metrics — so the page draws it the
same way. Its "step" is a generation. Beside backprop runs it gets the same share of computing
time (not the same number of steps: a generation and a step cost different amounts), and every
`metrics` message says what each run has spent (`cost`), so loss can be set against samples
pushed through a network and against seconds of computing.
"""

from __future__ import annotations

import dataclasses
import time

from app.run import Chunk, Out, Pace, Rates, Run
from engine.datasets import Dataset
from engine.evolution import EvolutionSettings, GenerationRecord, GeneticTrainer
from engine.spec import Spec


@dataclasses.dataclass(frozen=True)
class _Point:
    """A generation as the metrics buffer takes a step: its best loss, no gradient norms."""

    step: int
    total_loss: float
    data_loss: float
    penalty: float
    grad_norms: list[float]


class EvolutionRun(Run):
    kind = "evolution"

    def __init__(self, ga: GeneticTrainer, run_id: str, **options) -> None:
        self.recent: list[GenerationRecord] = []
        super().__init__(ga, run_id, **options)

    def counted(self) -> int:
        return self.ga.generation

    def set_trainer(self, ga: GeneticTrainer) -> None:  # type: ignore[override]
        self.ga = ga
        super().set_trainer(ga.trainer)  # never stepped: its network is the GA's best
        self.recent = []

    def rebuilt(self, spec: Spec, dataset: Dataset) -> GeneticTrainer:  # type: ignore[override]
        return GeneticTrainer(spec, self.ga.settings, dataset)

    def summary(self) -> dict:
        return {**super().summary(), "evolution": self.ga.settings.to_dict()}

    def cost(self) -> dict:
        record = self.ga.last_record
        return {"samples_forward": record.samples_seen, "compute_s": record.wall_time,
                "forward_passes": record.forward_passes}

    def chunk(self, max_steps: int, budget: float, want_frame: bool, pace: Pace,
              rates: Rates) -> Chunk:
        """Generations for at most `budget` seconds (at least one) and `max_steps`."""
        end = time.perf_counter() + budget
        n = 0
        while n < max_steps:
            started = time.thread_time()
            record = self.ga.step()
            self.timed_step(time.thread_time() - started)
            self.recent.append(record)
            self.metrics.add(_point(record, len(self.trainer.network.layers)))
            n += 1
            if time.perf_counter() >= end:
                break
        out: list[Out] = []
        stop = None
        now = time.monotonic()
        if want_frame and self.frame_due(now, pace):
            stop = self._frame_views(now, pace, rates, out)
        return Chunk(n, stop, out)

    def metrics_body(self, with_eval: bool) -> dict:
        """As a backprop run's (buckets of the best loss per generation), plus `evolution`:
        every generation since the last message with its best, mean and worst loss."""
        recent, self.recent = self.recent, []
        return {**super().metrics_body(with_eval), "evolution": {
            "generation": [r.generation for r in recent],
            "best_loss": [r.best_loss for r in recent],
            "mean_loss": [r.mean_loss for r in recent],
            "worst_loss": [r.worst_loss for r in recent],
            "forward_passes": [r.forward_passes for r in recent],
            "samples_seen": [r.samples_seen for r in recent],
            "wall_time": [r.wall_time for r in recent],
            "population": self.ga.settings.population,
        }}


def _point(record: GenerationRecord, n_layers: int) -> _Point:
    return _Point(record.generation, record.best_loss, record.best_loss, 0.0,
                  [float("nan")] * n_layers)


def evolution_settings(raw: dict | None) -> EvolutionSettings:
    """The GA's settings from a message (engine defaults for what is missing); SpecError
    (a ValueError) names a bad field."""
    return EvolutionSettings.from_dict(raw or {})


