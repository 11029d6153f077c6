"""The trainer's loss history: one row per completed step, kept in bounded memory.

``train()`` returns only a stop reason, yet a learner (or a notebook) wants the curve it drew.
Every completed step's record passes through :meth:`LossHistory.add`; the history keeps the
step's true numbers (no averaging) — total loss, data loss, penalty and per-layer gradient
norms. When it reaches ``max_rows`` it drops every second row and from then on keeps every
``stride``-th step, so a run of any length costs at most ``max_rows`` rows and every kept value
is exactly what that step computed.

Evaluations (train/test loss and accuracy over the whole sets) are too costly to run every step;
whoever runs one may add it with :meth:`LossHistory.add_evaluation`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.trace import StepRecord

MAX_ROWS = 20_000


@dataclass
class LossHistory:
    max_rows: int = MAX_ROWS
    stride: int = 1  # every stride-th step is kept
    steps: list[int] = field(default_factory=list)
    epochs: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)  # data loss + penalty: what was minimised
    data_loss: list[float] = field(default_factory=list)
    penalty: list[float] = field(default_factory=list)
    grad_norms: list[list[float]] = field(default_factory=list)  # per step, one per layer
    evaluations: list[Any] = field(default_factory=list)  # engine.trainer.Metrics, in order

    def add(self, record: StepRecord) -> None:
        """Keep one completed step (called by the trainer after each update)."""
        if record.step % self.stride:
            return
        self.steps.append(record.step)
        self.epochs.append(record.epoch)
        self.loss.append(record.total_loss)
        self.data_loss.append(record.data_loss)
        self.penalty.append(record.penalty)
        self.grad_norms.append(record.grad_norms)
        if len(self.steps) >= self.max_rows:
            self._thin()

    def add_evaluation(self, metrics: Any) -> None:
        """Keep one evaluation (an engine.trainer.Metrics) at the step it was made."""
        self.evaluations.append(metrics)
        if len(self.evaluations) >= self.max_rows:
            del self.evaluations[::2]

    def _thin(self) -> None:
        self.stride *= 2
        keep = [i for i, step in enumerate(self.steps) if step % self.stride == 0]
        for name in ("steps", "epochs", "loss", "data_loss", "penalty", "grad_norms"):
            column = getattr(self, name)
            column[:] = [column[i] for i in keep]

    def __len__(self) -> int:
        return len(self.steps)
