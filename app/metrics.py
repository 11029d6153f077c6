"""Per-step scalars since the last flush, decimated into buckets of mean/min/max.

Every step appends a handful of floats (cheap); a flush at the display rate turns them into at
most ``BUCKETS_MAX`` buckets, each with the mean, minimum and maximum of its steps, so a spike in
the loss survives decimation (it shows in ``max``).
"""

from __future__ import annotations

import numpy as np

BUCKETS_MAX = 32


class MetricsBuffer:
    def __init__(self, n_layers: int) -> None:
        self.n_layers = n_layers
        self.clear()

    def clear(self) -> None:
        self.steps: list[int] = []
        self.loss: list[float] = []
        self.data_loss: list[float] = []
        self.penalty: list[float] = []
        self.norms: list[list[float]] = []

    def add(self, record) -> None:
        self.steps.append(record.step)
        self.loss.append(record.total_loss)
        self.data_loss.append(record.data_loss)
        self.penalty.append(record.penalty)
        self.norms.append(record.grad_norms)

    def __len__(self) -> int:
        return len(self.steps)

    def flush(self, next_step: int) -> dict:
        """The `metrics` message body for every step since the last flush; clears the buffer."""
        n = len(self.steps)
        if n == 0:
            empty = {"mean": [], "min": [], "max": []}
            buckets = {
                "step": [], "n": [], "loss": empty, "data_loss": empty, "penalty": empty,
                "grad_norms": [empty for _ in range(self.n_layers)],
            }
            return {"from_step": next_step, "to_step": next_step - 1, "count": 0,
                    "buckets": buckets}
        count = min(n, BUCKETS_MAX)
        starts = np.linspace(0, n, count + 1).astype(np.int64)[:-1]
        sizes = np.diff(np.append(starts, n))
        ends = starts + sizes - 1
        steps = np.asarray(self.steps, dtype=np.int64)
        norms = np.asarray(self.norms, dtype=np.float64).reshape(n, self.n_layers)
        buckets = {
            "step": steps[ends].tolist(),
            "n": sizes.tolist(),
            "loss": _stats(np.asarray(self.loss, dtype=np.float64), starts, sizes),
            "data_loss": _stats(np.asarray(self.data_loss, dtype=np.float64), starts, sizes),
            "penalty": _stats(np.asarray(self.penalty, dtype=np.float64), starts, sizes),
            "grad_norms": [_stats(norms[:, k], starts, sizes) for k in range(self.n_layers)],
        }
        body = {"from_step": int(steps[0]), "to_step": int(steps[-1]), "count": n,
                "buckets": buckets}
        self.clear()
        return body


def _stats(values: np.ndarray, starts: np.ndarray, sizes: np.ndarray) -> dict:
    if len(starts) == len(values):  # one step per bucket: no arithmetic, exact values
        v = values.tolist()
        return {"mean": v, "min": v, "max": v}
    with np.errstate(invalid="ignore", over="ignore"):
        mean = np.add.reduceat(values, starts) / sizes
        low = np.minimum.reduceat(values, starts)
        high = np.maximum.reduceat(values, starts)
    return {"mean": mean.tolist(), "min": low.tolist(), "max": high.tolist()}
