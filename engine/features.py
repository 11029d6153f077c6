"""Feature transforms of the 2-D input plane, as in the TensorFlow Playground.

Hand-made features such as x1² or x1·x2 let a network without hidden layers draw curved
boundaries; toggling them shows learners what hidden layers would otherwise have to learn.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from engine.datasets import Dataset, DatasetInfo


@dataclass(frozen=True)
class Feature:
    """One network input computed from plane points ``(n, 2) -> (n,)``."""

    name: str
    label: str
    fn: Callable[[np.ndarray], np.ndarray]

    def __reduce__(self):
        # One of the registry's: it travels by name (a run lent to a training process).
        return (_registered, (self.name,))


def _x1(x: np.ndarray) -> np.ndarray:
    return x[:, 0]


def _x2(x: np.ndarray) -> np.ndarray:
    return x[:, 1]


_ALL = (
    Feature("x1", "X₁", _x1),
    Feature("x2", "X₂", _x2),
    Feature("x1_sq", "X₁²", lambda x: _x1(x) ** 2),
    Feature("x2_sq", "X₂²", lambda x: _x2(x) ** 2),
    Feature("x1_x2", "X₁X₂", lambda x: _x1(x) * _x2(x)),
    Feature("sin_x1", "sin(X₁)", lambda x: np.sin(_x1(x))),
    Feature("sin_x2", "sin(X₂)", lambda x: np.sin(_x2(x))),
)

FEATURES: dict[str, Feature] = {feature.name: feature for feature in _ALL}


def _registered(name: str) -> Feature:
    return FEATURES[name]
DEFAULT_FEATURES = ("x1", "x2")


def check_feature_names(names: Sequence[str]) -> None:
    """Reject empty, unknown or repeated names before any work is done."""
    if isinstance(names, str):
        raise TypeError(f"features must be a sequence of names, not the string {names!r}")
    if len(names) == 0:
        raise ValueError("select at least one input feature")
    unknown = [name for name in names if name not in FEATURES]
    if unknown:
        listed = ", ".join(map(repr, unknown))
        raise ValueError(f"unknown feature(s) {listed}; choose from: {', '.join(FEATURES)}")
    repeated = sorted({name for name in names if list(names).count(name) > 1})
    if repeated:
        raise ValueError(f"feature(s) listed more than once: {', '.join(repeated)}")


def feature_matrix(raw: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """Map ``(n, 2)`` plane points to ``(n, len(names))`` float64 columns in the given order."""
    check_feature_names(names)
    points = np.asarray(raw, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"features need plane points of shape (n, 2), got {points.shape}")
    columns = [FEATURES[name].fn(points) for name in names]
    return np.column_stack(columns).astype(np.float64, copy=False)


def input_labels(dataset_info: DatasetInfo | Dataset, features: Sequence[str]) -> list[str]:
    """Display labels for the network's inputs.

    Plane sets feed the selected features; other sets feed their raw columns, so the features
    are ignored there. Accepts a ``Dataset`` too, because uploaded CSVs have no catalog entry.
    """
    info = getattr(dataset_info, "info", dataset_info)
    if info.plane:
        check_feature_names(features)
        return [FEATURES[name].label for name in features]
    return list(dataset_info.input_names)
