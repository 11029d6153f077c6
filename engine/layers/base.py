"""The layer protocol: what every layer family offers the one step loop.

A layer knows its per-sample input and output shapes and its named parameters. Its parameters
are views into the network's flat vector (see :mod:`engine.network`), bound by name. ``forward``
returns a fresh trace object holding everything it computed; ``backward`` fills the same trace
with ∂L/∂(its pre-activation or output); ``accumulate`` writes the batch-mean parameter gradients
into the arrays it is handed; ``grad_input`` is what the previous layer receives. The trace is
the cache *and* the telemetry: the visualiser reads it, nothing is recomputed to show a step.

Naming convention the step loop relies on: a trace has one attribute per parameter (the values
the step used), ``<name>_grad`` for what the optimiser receives and, for penalised parameters
(``regularized``), ``<name>_grad_data`` and ``<name>_grad_penalty``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, Protocol

import numpy as np

from engine.initializers import Initializer

Shape = tuple[int, ...]


class Layer(Protocol):
    kind: str  # "dense", "conv2d", "maxpool", "avgpool", "flatten", "rnn", "lstm"
    input_shape: Shape  # per sample
    output_shape: Shape
    regularized: tuple[str, ...]  # parameters that L1/L2 penalise (weights, never biases)

    def parameter_shapes(self) -> dict[str, Shape]:
        """Named parameters in their flat-vector order ({} for a layer without any)."""
        ...

    def initial_parameters(
        self, rng: np.random.Generator, initializer: Initializer, dtype: np.dtype
    ) -> dict[str, np.ndarray]: ...

    def bind(self, params: dict[str, np.ndarray]) -> None:
        """Point the layer at (views of) new parameter arrays without copying."""
        ...

    def forward(
        self,
        x: np.ndarray,
        index: int,
        dropout_rng: np.random.Generator | None = None,
        dropout_mask: np.ndarray | None = None,
    ) -> Any: ...

    def infer(self, x: np.ndarray) -> np.ndarray: ...

    def backward(self, trace: Any, grad_output: np.ndarray) -> None: ...

    def accumulate(self, trace: Any, grads: dict[str, np.ndarray]) -> None: ...

    def grad_input(self, trace: Any) -> np.ndarray: ...

    def describe(self) -> dict[str, Any]:
        """A plain record of the layer (kind, shapes, hyperparameters) for views and exports."""
        ...


@dataclass(frozen=True)
class ParamSlot:
    name: str
    start: int
    end: int
    shape: Shape


@dataclass(frozen=True)
class ParamLayout:
    """Where one layer's parameters sit in the flat vector, in order."""

    slots: tuple[ParamSlot, ...]

    # Read on every layer of every step: worked out once (the layout never changes).
    @cached_property
    def start(self) -> int:
        return self.slots[0].start if self.slots else 0

    @cached_property
    def size(self) -> int:
        return sum(s.end - s.start for s in self.slots)

    @cached_property
    def _spans(self) -> tuple[tuple[str, slice, Shape | None], ...]:
        # Slice objects made once, and no reshape for a vector: views are made twice a step
        # for every layer (parameters and gradients), and these halve their cost.
        return tuple(
            (s.name, slice(s.start, s.end), s.shape if len(s.shape) != 1 else None)
            for s in self.slots
        )

    def view(self, name: str, flat: np.ndarray) -> np.ndarray:
        for slot in self.slots:
            if slot.name == name:
                return flat[slot.start : slot.end].reshape(slot.shape)
        raise KeyError(name)

    def views(self, flat: np.ndarray) -> dict[str, np.ndarray]:
        return {
            name: flat[span] if shape is None else flat[span].reshape(shape)
            for name, span, shape in self._spans
        }


def layouts_for(layers: list[Layer]) -> list[ParamLayout]:
    """Consecutive flat-vector slots for every layer's parameters (W₁, b₁, K₂, b₂, …)."""
    layouts, offset = [], 0
    for layer in layers:
        slots = []
        for name, shape in layer.parameter_shapes().items():
            size = int(np.prod(shape))
            slots.append(ParamSlot(name, offset, offset + size, tuple(shape)))
            offset += size
        layouts.append(ParamLayout(tuple(slots)))
    return layouts


def shape_text(shape: Shape) -> str:
    """(1, 8, 8) → '1×8×8', for error messages a learner reads."""
    return "×".join(str(n) for n in shape)
