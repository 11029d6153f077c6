"""Benchmark: one generation of the genetic algorithm against the forward passes it replaces.

A generation of ``engine.evolution.GeneticTrainer`` (population 50, elite 2) on xor with the
2-8-8-1 tanh network and 200 training samples scores 48 new members, each on the 200 samples.
It is timed, in the same process and on the same data, against

* **50 × predict** — ``Network.predict`` on the 200 samples fifty times: the engine's own forward
  pass, once per member (the goal: a generation costs at most 2× this);
* **50 × loss** — the same plus the engine's loss (``Trainer.sample_loss``), what scoring needs;
* **one by one** — a generation scoring each member through the network's own forward pass
  (``batched=False``, what convolutional and recurrent networks do).

Medians of interleaved rounds. Run: ``.venv/bin/python bench/evolution.py``; it prints the table
(docs/engine.md quotes it by hand).
"""

from __future__ import annotations

import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from engine.evolution import EvolutionSettings, GeneticTrainer  # noqa: E402
from engine.spec import Spec  # noqa: E402

SPEC = {
    "data": {"dataset": "xor", "n_samples": 400, "noise": 0.1},  # 200 training samples
    "network": {"hidden": [{"units": 8, "activation": "tanh"}, {"units": 8, "activation": "tanh"}]},
}
POPULATION = 50
GOAL = 2.0  # a generation / fifty forward passes


@dataclass(frozen=True)
class Result:
    generation_us: float
    predicts_us: float  # 50 × Network.predict
    losses_us: float  # 50 × predict + loss
    one_by_one_us: float  # a generation scoring each member through the network's forward
    samples: int
    repeats: int

    @property
    def ratio(self) -> float:
        """A generation against fifty forward passes of the engine: the goal is ≤ 2."""
        return self.generation_us / self.predicts_us


def median_us(calls: dict[str, Callable[[], object]], repeats: int, warmup: int, rounds: int = 10):
    """Median µs per call of each function; they take turns in `rounds` blocks, so a slow
    phase of the machine hits all of them."""
    for call in calls.values():
        for _ in range(warmup):
            call()
    samples: dict[str, list[int]] = {name: [] for name in calls}
    per_round = max(1, repeats // rounds)
    for _ in range(rounds):
        for name, call in calls.items():
            for _ in range(per_round):
                start = time.perf_counter_ns()
                call()
                samples[name].append(time.perf_counter_ns() - start)
    return {name: statistics.median(values) / 1000.0 for name, values in samples.items()}


def measure(repeats: int = 2000, warmup: int = 100) -> Result:
    spec = Spec.from_dict(SPEC)
    settings = EvolutionSettings(population=POPULATION, seed=0)
    ga = GeneticTrainer(spec, settings)
    one_by_one = GeneticTrainer(spec, settings, batched=False)
    trainer = ga.trainer
    network, x, y = trainer.network, ga.x, ga.y

    def predicts() -> None:
        for _ in range(POPULATION):
            network.predict(x)

    def losses() -> None:
        for _ in range(POPULATION):
            trainer.sample_loss(x, y).mean()

    times = median_us(
        {
            "generation": ga.step,
            "predicts": predicts,
            "losses": losses,
            "one_by_one": one_by_one.step,
        },
        repeats,
        warmup,
    )
    return Result(
        times["generation"],
        times["predicts"],
        times["losses"],
        times["one_by_one"],
        len(x),
        repeats,
    )


def render(result: Result) -> str:
    r = result
    lines = [
        f"GA generation (population {POPULATION}, 2-8-8-1 tanh, {r.samples} samples), "
        f"medians of {r.repeats} calls; Python {platform.python_version()}, "
        f"NumPy {np.__version__}",
        "",
        "| what | µs |",
        "| --- | ---: |",
        f"| one generation (breed + score {POPULATION - 2} members at once) | "
        f"{r.generation_us:.0f} |",
        f"| 50 × `Network.predict` | {r.predicts_us:.0f} |",
        f"| 50 × predict + loss | {r.losses_us:.0f} |",
        f"| one generation, members one by one | {r.one_by_one_us:.0f} |",
        "",
        f"generation / 50 forward passes = {r.ratio:.2f}× (goal ≤ {GOAL:g}×); "
        f"one by one: {r.one_by_one_us / r.predicts_us:.2f}×",
    ]
    return "\n".join(lines)


def main() -> None:
    print(render(measure()))


if __name__ == "__main__":
    main()
