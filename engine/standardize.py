"""Input standardisation: shift and scale each column to mean 0 and standard deviation 1.

Gradient descent with one learning rate for all weights only behaves when inputs share a scale
(compare house sizes in m² with a location score of 1–10). The statistics are fitted on the
training part only and stored with the model, so test points and the plane grid get exactly the
same transform.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Relative spread below which a column counts as constant; floating-point rounding makes the
# standard deviation of a constant column tiny rather than exactly zero.
_CONSTANT_TOLERANCE = 1e-12


@dataclass
class Standardizer:
    """Per-column affine map ``(x - mean) / scale``."""

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray) -> Standardizer:
        """Fit to the columns of ``x``; a constant column gets scale 1 instead of dividing by 0."""
        data = _as_matrix(x)
        if len(data) == 0:
            raise ValueError("cannot fit a standardizer to zero rows")
        mean = data.mean(axis=0)
        std = data.std(axis=0)
        constant = std <= _CONSTANT_TOLERANCE * np.maximum(1.0, np.abs(mean))
        return cls(mean=mean, scale=np.where(constant, 1.0, std))

    @classmethod
    def identity(cls, n: int) -> Standardizer:
        """The do-nothing transform, for when standardisation is switched off."""
        return cls(mean=np.zeros(n), scale=np.ones(n))

    @property
    def n_columns(self) -> int:
        return len(self.mean)

    def transform(self, x: np.ndarray) -> np.ndarray:
        data = self._checked(x)
        return (data - self.mean) / self.scale

    def inverse_transform(self, z: np.ndarray) -> np.ndarray:
        """Map standardised values back, e.g. to report regression predictions in real units."""
        data = self._checked(z)
        return data * self.scale + self.mean

    def to_dict(self) -> dict:
        return {"mean": self.mean.tolist(), "scale": self.scale.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> Standardizer:
        mean = np.asarray(d["mean"], dtype=np.float64)
        scale = np.asarray(d["scale"], dtype=np.float64)
        if mean.shape != scale.shape or mean.ndim != 1:
            raise ValueError("standardizer mean and scale must be equal-length lists")
        if np.any(scale <= 0) or not np.all(np.isfinite(scale)):
            raise ValueError("standardizer scale must be positive and finite")
        return cls(mean=mean, scale=scale)

    def _checked(self, x: np.ndarray) -> np.ndarray:
        data = _as_matrix(x)
        if data.shape[1] != self.n_columns:
            raise ValueError(f"expected {self.n_columns} columns, got {data.shape[1]}")
        return data


def _as_matrix(x: np.ndarray) -> np.ndarray:
    data = np.asarray(x, dtype=np.float64)
    if data.ndim != 2:
        raise ValueError(f"expected a 2-D array of shape (n, columns), got shape {data.shape}")
    return data
