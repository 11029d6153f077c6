"""L1 and L2 weight penalties, reported as their own loss term beside the data loss.

Only weights are penalised, not biases (as in the Playground and most textbooks):
L1: penalty = λ·Σ|w|, gradient λ·sign(w) — pushes weights to exactly zero.
L2: penalty = (λ/2)·Σw², gradient λ·w — shrinks every weight in proportion (weight decay).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

REGULARIZATIONS: dict[str, str] = {
    "none": "None",
    "l1": "L1  (λ·Σ|w|)",
    "l2": "L2  (λ/2·Σw²)",
}


@dataclass
class Regularization:
    kind: str = "none"
    rate: float = 0.0

    @property
    def active(self) -> bool:
        return self.kind != "none" and self.rate > 0.0

    def penalty(self, weights: list[np.ndarray]) -> float:
        if not self.active:
            return 0.0
        if self.kind == "l1":
            return self.rate * float(sum(np.abs(w).sum() for w in weights))
        return 0.5 * self.rate * float(sum((w * w).sum() for w in weights))

    def gradient(self, weight: np.ndarray) -> np.ndarray | None:
        """∂penalty/∂W, or None when nothing is penalised (saves an array per layer)."""
        if not self.active:
            return None
        if self.kind == "l1":
            return self.rate * np.sign(weight)
        return self.rate * weight
