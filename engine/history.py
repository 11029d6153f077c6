"""The trainer's loss history: one row per completed step, kept in bounded memory.

``train()`` returns only a stop reason, yet a learner (or a notebook) wants the curve it drew.
Every completed step's record passes through :meth:`LossHistory.add`; the history keeps the
step's true numbers (no averaging) — total loss, data loss, penalty and per-layer gradient
norms — in NumPy arrays that start small and double up to ``max_rows`` (8192 rows: about
0.5 MB for a 3-layer network), so an idle trainer on the server costs a few KB. When full it
drops every second row and from then on keeps every ``stride``-th step: a run of any length
costs at most ``max_rows`` rows, and every kept value is exactly what that step computed.

Evaluations (train/test loss and accuracy over the whole sets) are too costly to run every step;
whoever runs one may add it with :meth:`LossHistory.add_evaluation`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.trace import StepRecord

MAX_ROWS = 8192
FIRST_ROWS = 64  # arrays start this small and double: an idle trainer costs a few KB
_SCALARS = ("loss", "data_loss", "penalty")


class LossHistory:
    def __init__(self, max_rows: int = MAX_ROWS) -> None:
        if max_rows < 2:
            raise ValueError("max_rows must be at least 2")
        self.max_rows = max_rows
        self.stride = 1  # every stride-th step is kept
        self.evaluations: list[Any] = []  # engine.trainer.Metrics, in order
        self._n = 0
        rows = min(FIRST_ROWS, max_rows)
        self._steps = np.zeros(rows, dtype=np.int64)
        self._epochs = np.zeros(rows, dtype=np.int64)
        self._scalars = np.zeros((len(_SCALARS), rows))
        self._norms: np.ndarray | None = None  # (rows, layers), made at the first step

    def add(self, record: StepRecord) -> None:
        """Keep one completed step (called by the trainer after each update)."""
        if record.step % self.stride:
            return
        if self._norms is None or self._norms.shape[1] != len(record.grad_norms):
            self._norms = np.zeros((len(self._steps), len(record.grad_norms)))
        i = self._n
        self._steps[i], self._epochs[i] = record.step, record.epoch
        self._scalars[:, i] = (record.total_loss, record.data_loss, record.penalty)
        self._norms[i] = record.grad_norms
        self._n += 1
        if self._n == len(self._steps):
            if self._n < self.max_rows:
                self._grow(min(2 * self._n, self.max_rows))
            else:
                self._thin()

    def add_evaluation(self, metrics: Any) -> None:
        """Keep one evaluation (an engine.trainer.Metrics) at the step it was made."""
        self.evaluations.append(metrics)
        if len(self.evaluations) >= self.max_rows:
            del self.evaluations[::2]

    def _grow(self, rows: int) -> None:
        extra = rows - len(self._steps)
        self._steps = np.concatenate((self._steps, np.zeros(extra, dtype=np.int64)))
        self._epochs = np.concatenate((self._epochs, np.zeros(extra, dtype=np.int64)))
        self._scalars = np.concatenate((self._scalars, np.zeros((len(_SCALARS), extra))), 1)
        self._norms = np.concatenate((self._norms, np.zeros((extra, self._norms.shape[1]))))

    def _thin(self) -> None:
        self.stride *= 2
        keep = np.flatnonzero(self._steps[: self._n] % self.stride == 0)
        n = len(keep)
        self._steps[:n], self._epochs[:n] = self._steps[keep], self._epochs[keep]
        self._scalars[:, :n] = self._scalars[:, keep]
        self._norms[:n] = self._norms[keep]
        self._n = n

    def __len__(self) -> int:
        return self._n

    @property
    def steps(self) -> list[int]:
        return self._steps[: self._n].tolist()

    @property
    def epochs(self) -> list[int]:
        return self._epochs[: self._n].tolist()

    @property
    def loss(self) -> list[float]:
        """Total loss (data + penalty) of each kept step: what its gradients minimised."""
        return self._scalars[0, : self._n].tolist()

    @property
    def data_loss(self) -> list[float]:
        return self._scalars[1, : self._n].tolist()

    @property
    def penalty(self) -> list[float]:
        return self._scalars[2, : self._n].tolist()

    @property
    def grad_norms(self) -> list[list[float]]:
        """Per kept step, ‖(∂L/∂W, ∂L/∂b)‖ of each layer."""
        return [] if self._norms is None else self._norms[: self._n].tolist()
