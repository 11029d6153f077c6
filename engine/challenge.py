"""Class challenges: a goal the teacher sets, scored on a held-out draw no student trains on.

A challenge names a goal — "test accuracy ≥ 95 % with at most 60 parameters", or "the lowest
loss within 2 000 steps" — and the data it is about. Every student's network is scored on the
same fresh draw of that data set (its own seed, kept by the server, so nobody can train or tune
on it), run through the student's own features and standardisation: the scores compare networks,
not luck with a split. Plain records and functions; the classroom (app/) decides when to score.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.datasets import DATASETS, make_dataset
from engine.spec import LIMITS, Spec
from engine.trainer import Trainer

KINDS = ("accuracy", "loss_in_steps")
HELD_OUT_ROWS = 1000  # rows of the fresh draw (sequences: sequences)
MAX_STEPS = 1_000_000
#: Data sets of fixed real rows: a fresh draw would repeat rows the students train on.
FIXED_ROWS = frozenset({"iris", "digits"})


class ChallengeError(ValueError):
    """A goal or data set a challenge cannot have; ``field`` names the part that is wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Goal:
    """What the class is asked to reach."""

    kind: str  # "accuracy" or "loss_in_steps"
    min_accuracy: float | None = None  # accuracy: the bar, 0 … 1
    max_parameters: int | None = None  # accuracy: the network's size budget (None: any size)
    steps: int | None = None  # loss_in_steps: the training budget

    def describe(self) -> str:
        """The goal in the words a projector shows."""
        if self.kind == "accuracy":
            text = f"test accuracy ≥ {self.min_accuracy * 100:g} %"
            if self.max_parameters is not None:
                text += f" with at most {self.max_parameters:,} parameters".replace(",", " ")
            return text
        return f"the lowest test loss within {self.steps:,} steps".replace(",", " ")

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "min_accuracy": self.min_accuracy,
                "max_parameters": self.max_parameters, "steps": self.steps,
                "text": self.describe()}


def parse_goal(raw: Any) -> Goal:
    """A goal from untrusted JSON, or a ChallengeError naming the field that is wrong."""
    if not isinstance(raw, dict):
        raise ChallengeError("goal", "must be an object")
    kind = raw.get("kind")
    if kind not in KINDS:
        raise ChallengeError("goal.kind", f"must be one of {', '.join(KINDS)}")
    if kind == "accuracy":
        bar = _number(raw.get("min_accuracy"), "goal.min_accuracy")
        if not 0.0 < bar <= 1.0:
            raise ChallengeError("goal.min_accuracy",
                                 "must be above 0 and at most 1 (95 % is 0.95)")
        budget = raw.get("max_parameters")
        if budget is not None:
            budget = _integer(budget, "goal.max_parameters", 1, int(LIMITS["max_parameters"]))
        return Goal("accuracy", min_accuracy=bar, max_parameters=budget)
    steps = _integer(raw.get("steps"), "goal.steps", 1, MAX_STEPS)
    return Goal("loss_in_steps", steps=steps)


def _number(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ChallengeError(field, "must be a number")
    return float(value)


def _integer(value: Any, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ChallengeError(field, "must be a whole number")
    if not low <= value <= high:
        raise ChallengeError(field, f"must be between {low} and {high:,}".replace(",", " "))
    return value


@dataclass(frozen=True)
class HeldOut:
    """A fresh draw of the challenge's data set, raw (before any student's features)."""

    dataset: str
    noise: float
    sequence_length: int | None
    x: np.ndarray
    y: np.ndarray
    seed: int  # the draw's seed: the same draw again (a server that restarts keeps its scores)


def draw_held_out(spec: Spec, rows: int = HELD_OUT_ROWS, seed: int | None = None) -> HeldOut:
    """The held-out set for a challenge on ``spec``'s data (its data set, noise and sequence
    length), drawn with a seed nobody sees unless one is given (tests)."""
    data = spec.data
    if data.dataset not in DATASETS:
        raise ChallengeError("data.dataset", "a challenge needs a catalog data set that can be "
                             "drawn afresh, not an uploaded table")
    if data.dataset in FIXED_ROWS:
        raise ChallengeError("data.dataset", f"{DATASETS[data.dataset].title} is a fixed set "
                             "of real rows: a held-out draw would repeat rows the class trains "
                             "on; choose a generated data set")
    seed = secrets.randbelow(int(LIMITS["max_seed"])) if seed is None else seed
    drawn = make_dataset(data.dataset, n_samples=rows, noise=data.noise, train_ratio=0.5,
                         seed=seed, sequence_length=data.sequence_length)
    return HeldOut(data.dataset, data.noise, data.sequence_length,
                   np.concatenate([drawn.x_train, drawn.x_test]),
                   np.concatenate([drawn.y_train, drawn.y_test]), seed)


@dataclass(frozen=True)
class Score:
    """One network's result on the held-out set (None where it cannot be scored)."""

    step: int
    parameters: int
    loss: float | None = None  # mean data loss per held-out sample (no penalty)
    accuracy: float | None = None  # classification only
    meets: bool | None = None  # accuracy goals: at or above the bar, within the budget
    final: bool = False  # loss_in_steps: the step budget is spent, the score stands
    not_scored: str | None = None  # why there is no score

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.step, "parameters": self.parameters, "loss": self.loss,
                "accuracy": self.accuracy, "meets": self.meets, "final": self.final,
                "not_scored": self.not_scored}


def score(trainer: Trainer, held_out: HeldOut, goal: Goal) -> Score:
    """The trainer's network, as it stands, on the held-out set, measured against the goal."""
    spec = trainer.spec.data
    step, size = trainer.step_count, trainer.network.parameter_count
    final = goal.steps is not None and step >= goal.steps
    if (spec.dataset, spec.sequence_length) != (held_out.dataset, held_out.sequence_length):
        return Score(step, size, final=final,
                     not_scored=f"trains on {spec.dataset}, the challenge is on {held_out.dataset}"
                     if spec.dataset != held_out.dataset else "trains on sequences of another "
                     "length than the challenge's")
    problem = trainer.problem
    dtype = trainer.problem.x_train.dtype
    x = problem.inputs(held_out.x, dtype)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        z, a = trainer.output_layer(x)
        losses = trainer.loss.per_sample(z, a, problem.targets(held_out.y, dtype))
    loss = float(losses.mean())
    if not math.isfinite(loss):
        return Score(step, size, final=final, not_scored="its outputs are not finite (diverged)")
    accuracy = None
    if problem.is_classification:
        predicted = problem.predicted_classes(a.reshape(-1, a.shape[-1]))
        accuracy = float((predicted == held_out.y.reshape(-1)).mean())
    meets = None
    if goal.kind == "accuracy":
        meets = accuracy is not None and accuracy >= goal.min_accuracy and (
            goal.max_parameters is None or size <= goal.max_parameters)
    return Score(step, size, loss, accuracy, meets, final)


def ranking_key(goal: Goal, result: Score) -> tuple:
    """Sort key of a leaderboard: the best first, unscored networks last.

    accuracy: those meeting the goal first, then by accuracy, then the smaller network;
    loss_in_steps: by loss (a network still within its budget may yet change its place)."""
    if result.not_scored is not None or result.loss is None:
        return (1, 0.0, 0.0, 0)
    if goal.kind == "accuracy":
        return (0, -float(bool(result.meets)), -(result.accuracy or 0.0), result.parameters)
    return (0, result.loss, 0.0, result.parameters)
