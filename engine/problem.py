"""The data as the network sees it: features, standardisation and encoded targets.

A :class:`Dataset` holds raw points and labels. The network needs numbers in the shape of its
output layer: ±1 for a tanh output (the Playground's convention), 0/1 for sigmoid, one-hot rows for
a multi-unit output. This module owns those choices and their inverse (predicted classes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.datasets import DATASETS, Dataset
from engine.features import feature_matrix, input_labels
from engine.standardize import Standardizer

# Output activations whose range includes negative values get ±1 class targets.
_SIGNED_OUTPUTS = {"tanh", "linear", "leaky_relu"}


@dataclass
class Problem:
    dataset: Dataset
    features: list[str]
    standardizer: Standardizer | None  # None for images and sequences (used as generated)
    output_activation: str
    n_outputs: int
    encoding: str  # "signed" (±1), "unit" (0/1), "onehot" or "value" (regression)
    x_train: np.ndarray
    y_train: np.ndarray  # encoded, (n, n_outputs)
    x_test: np.ndarray
    y_test: np.ndarray
    x_val: np.ndarray | None = None  # the validation part (None: the dataset has none)
    y_val: np.ndarray | None = None
    # Regression targets as the network learns them: standardised for custom data (a price
    # column of 100–300 would otherwise train worse than predicting the mean), None when the
    # targets are used as they are.
    target_scale: Standardizer | None = None

    def outputs_in_units(self, outputs: np.ndarray) -> np.ndarray:
        """Network outputs in the targets' own units (undoing the target standardisation)."""
        if self.target_scale is None:
            return outputs
        return outputs * self.target_scale.scale + self.target_scale.mean

    @property
    def is_classification(self) -> bool:
        return self.dataset.info.task == "classification"

    @property
    def input_shape(self) -> tuple[int, ...]:
        """One sample's shape as the first layer sees it: (n,), (C, H, W) or (T, n)."""
        return tuple(self.x_train.shape[1:])

    @property
    def sequence_targets(self) -> bool:
        """A target at every time step (many-to-many), not one per sequence."""
        return self.y_train.ndim == 3

    @property
    def input_labels(self) -> list[str]:
        return input_labels(self.dataset.info, self.features)

    def inputs(self, raw: np.ndarray, dtype: np.dtype) -> np.ndarray:
        """Raw points → network inputs (features, then standardisation)."""
        if self.standardizer is None:
            return raw.astype(dtype, copy=False)
        x = feature_matrix(raw, self.features) if self.dataset.info.plane else raw
        return self.standardizer.transform(x).astype(dtype, copy=False)

    def targets(self, y: np.ndarray, dtype: np.dtype) -> np.ndarray:
        """Raw labels or values → what the output layer learns: ±1 or 0/1 for one output unit,
        one-hot rows for several, (standardised) values for regression."""
        if self.encoding == "value":
            scale = self.target_scale
            return ((y - scale.mean) / scale.scale).astype(dtype) if scale else y.astype(dtype)
        if self.encoding == "onehot":
            return np.eye(self.n_outputs, dtype=dtype)[y]
        low = -1.0 if self.encoding == "signed" else 0.0
        return np.where(y == 1, 1.0, low).astype(dtype)[:, None]

    def predicted_classes(self, outputs: np.ndarray) -> np.ndarray:
        if outputs.shape[1] > 1:
            return outputs.argmax(axis=1)
        threshold = 0.0 if self.encoding == "signed" else 0.5
        return (outputs[:, 0] > threshold).astype(np.int64)

    def accuracy(self, outputs: np.ndarray, split: str) -> float | None:
        if not self.is_classification:
            return None
        labels = {
            "train": self.dataset.y_train, "validation": self.dataset.y_val
        }.get(split, self.dataset.y_test)
        if len(labels) == 0:
            return None
        return float((self.predicted_classes(outputs) == labels).mean())


def build_problem(
    dataset: Dataset,
    features: list[str],
    standardize: bool,
    output_activation: str,
    dtype: np.dtype,
) -> Problem:
    info = dataset.info
    raw_train = feature_matrix(dataset.x_train, features) if info.plane else dataset.x_train
    if raw_train.ndim > 2:  # images and sequences come scaled by their generators
        standardizer = None
    elif standardize:
        standardizer = Standardizer.fit(raw_train)
    else:
        standardizer = Standardizer.identity(raw_train.shape[1])
    if info.task == "classification":
        binary = info.n_classes == 2 and output_activation != "softmax"
        n_outputs = 1 if binary else info.n_classes
        if binary:
            encoding = "signed" if output_activation in _SIGNED_OUTPUTS else "unit"
        else:
            encoding = "onehot"
    else:
        n_outputs = dataset.y_train.shape[-1]
        encoding = "value"
    target_scale = None
    if encoding == "value" and standardize and info.name not in DATASETS:
        target_scale = Standardizer.fit(dataset.y_train.reshape(-1, n_outputs))

    problem = Problem(
        dataset=dataset,
        features=list(features),
        standardizer=standardizer,
        output_activation=output_activation,
        n_outputs=n_outputs,
        encoding=encoding,
        x_train=np.empty(0, dtype=dtype),
        y_train=np.empty(0),
        x_test=np.empty(0),
        y_test=np.empty(0),
        target_scale=target_scale,
    )
    problem.x_train = problem.inputs(dataset.x_train, dtype)
    problem.x_test = problem.inputs(dataset.x_test, dtype)
    problem.y_train = problem.targets(dataset.y_train, dtype)
    problem.y_test = problem.targets(dataset.y_test, dtype)
    if len(dataset.x_val):
        problem.x_val = problem.inputs(dataset.x_val, dtype)
        problem.y_val = problem.targets(dataset.y_val, dtype)
    return problem
