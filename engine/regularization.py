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

    def penalty(
        self, weights: list[np.ndarray], scratch: list[np.ndarray] | None = None
    ) -> float:
        """λ·Σ|w| or (λ/2)·Σw²; |w| or w² go into ``scratch`` (arrays shaped like the weights)
        when given, so a lean step allocates nothing the size of its weights."""
        if not self.active:
            return 0.0
        work = scratch if scratch is not None else [None] * len(weights)
        pairs = zip(weights, work, strict=True)
        if self.kind == "l1":
            return self.rate * float(sum(np.abs(w, out=s).sum() for w, s in pairs))
        return 0.5 * self.rate * float(sum(np.multiply(w, w, out=s).sum() for w, s in pairs))

    def gradient(self, weight: np.ndarray, out: np.ndarray | None = None) -> np.ndarray | None:
        """∂penalty/∂W (into ``out`` when given), or None when nothing is penalised (saves an
        array per layer)."""
        if not self.active:
            return None
        if self.kind == "l1":
            return np.multiply(np.sign(weight, out=out), self.rate, out=out)
        return np.multiply(weight, self.rate, out=out)
