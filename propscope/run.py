"""Building and training runs from a notebook, with evaluations kept in the history.

``trainer.train()`` keeps every step's batch loss in ``trainer.history``; :func:`fit` also
evaluates on the whole train and test sets every ``evaluate_every`` steps (the accuracy curve),
which is too costly to do on every step.
"""

from __future__ import annotations

from typing import Any

from engine.lessons import LESSONS
from engine.spec import Spec
from engine.trainer import Trainer


def make_trainer(spec: dict[str, Any] | Spec | None = None, **sections: dict[str, Any]) -> Trainer:
    """A trainer from a spec dict (or sections as keywords: data=…, network=…, training=…);
    missing keys take the page's defaults, bad values raise SpecError listing each problem."""
    if isinstance(spec, Spec):
        return Trainer(spec.copy())
    raw = dict(spec or {})
    raw.update(sections)
    return Trainer(Spec.from_dict(raw))


def lesson(name: str) -> Trainer:
    """A trainer set up as one of the page's lessons (engine.lessons.LESSONS)."""
    if name not in LESSONS:
        raise ValueError(f"unknown lesson {name!r}; choose one of: {', '.join(LESSONS)}")
    return Trainer(Spec.from_dict(LESSONS[name].spec))


def fit(trainer: Trainer, steps: int, evaluate_every: int = 50) -> str | None:
    """Train up to ``steps`` steps, evaluating every ``evaluate_every`` steps (and at the end);
    returns the stop reason as ``Trainer.train`` does."""
    if evaluate_every < 1:
        raise ValueError("evaluate_every must be at least 1")
    if not trainer.history.evaluations:
        trainer.history.add_evaluation(trainer.evaluate())
    done, reason = 0, None
    while done < steps and reason is None:
        chunk = min(evaluate_every, steps - done)
        before = trainer.step_count
        reason = trainer.train(chunk)
        done += trainer.step_count - before
        trainer.history.add_evaluation(trainer.evaluate())
    return reason
