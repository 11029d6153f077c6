"""A stack of dense layers whose parameters live in one flat vector.

Layer k's weights and biases are views into ``flat`` (W₁, b₁, W₂, b₂, …). Optimisers then update
all parameters with a handful of array operations instead of a few per layer, and a step's
gradient vector has the same layout, so per-layer gradient norms are one ``reduceat``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.activations import get_activation
from engine.initializers import get_initializer
from engine.layers import Dense
from engine.spec import NetworkSpec


@dataclass(frozen=True)
class Block:
    """Where one layer's parameters sit in the flat vector."""

    start: int  # first weight entry
    bias_start: int  # first bias entry (weights are start … bias_start − 1, row-major)
    end: int
    shape: tuple[int, int]

    def weight(self, flat: np.ndarray) -> np.ndarray:
        return flat[self.start : self.bias_start].reshape(self.shape)

    def bias(self, flat: np.ndarray) -> np.ndarray:
        return flat[self.bias_start : self.end]


class Network:
    def __init__(self, layers: list[Dense]) -> None:
        self.layers = layers
        self.blocks: list[Block] = []
        offset = 0
        for layer in layers:
            fan_in, units = layer.weight.shape
            bias_start = offset + fan_in * units
            self.blocks.append(Block(offset, bias_start, bias_start + units, (fan_in, units)))
            offset = bias_start + units
        self.layer_starts = np.array([b.start for b in self.blocks], dtype=np.intp)
        self.weight_mask = np.zeros(offset, dtype=bool)
        for block in self.blocks:
            self.weight_mask[block.start : block.bias_start] = True
        flat = np.empty(offset, dtype=layers[0].weight.dtype)
        for layer, block in zip(layers, self.blocks, strict=True):
            block.weight(flat)[...] = layer.weight
            block.bias(flat)[...] = layer.bias
        self.bind(flat)

    @classmethod
    def build(cls, spec: NetworkSpec, n_inputs: int, n_outputs: int) -> Network:
        """Initialise weights from the spec's initialiser and seed (reproducible)."""
        init = get_initializer(spec.initializer)
        dtype = np.dtype(spec.dtype)
        rng = np.random.default_rng(spec.seed)
        shapes = [(h.units, h.activation, h.dropout) for h in spec.hidden]
        shapes.append((n_outputs, spec.output_activation, 0.0))
        layers, fan_in = [], n_inputs
        for units, activation, dropout in shapes:
            weight = init.sample(rng, fan_in, units).astype(dtype)
            bias = np.full(units, init.bias, dtype=dtype)
            layers.append(Dense(weight, bias, get_activation(activation), dropout))
            fan_in = units
        return cls(layers)

    def bind(self, flat: np.ndarray) -> None:
        """Make ``flat`` the live parameter vector (the previous one is left untouched)."""
        self.flat = flat
        for layer, block in zip(self.layers, self.blocks, strict=True):
            layer.bind(block.weight(flat), block.bias(flat))

    @property
    def sizes(self) -> list[int]:
        """Units per layer, inputs first: [n_in, h1, …, n_out]."""
        return [self.layers[0].fan_in] + [layer.units for layer in self.layers]

    @property
    def parameter_count(self) -> int:
        return self.flat.size

    def predict(self, x: np.ndarray) -> np.ndarray:
        for layer in self.layers:
            x = layer.infer(x)
        return x

    def activations(self, x: np.ndarray) -> list[np.ndarray]:
        """Every layer's activation for inputs x, evaluation mode (no dropout)."""
        outputs = []
        for layer in self.layers:
            x = layer.infer(x)
            outputs.append(x)
        return outputs

    def parameters(self) -> list[np.ndarray]:
        """[W₁, b₁, W₂, b₂, …] as views of the flat vector."""
        params = []
        for layer in self.layers:
            params.extend((layer.weight, layer.bias))
        return params

    def set_parameters(self, params: list[np.ndarray]) -> None:
        for k, layer in enumerate(self.layers):
            layer.weight, layer.bias = params[2 * k], params[2 * k + 1]

    def set_parameter(self, layer: int, source: int | None, target: int, value: float) -> None:
        """Edit one weight (or the bias when source is None) by hand."""
        dense = self.layers[layer]
        if source is None:
            dense.bias[target] = value
        else:
            dense.weight[source, target] = value

    def all_finite(self) -> bool:
        return bool(np.isfinite(self.flat).all())
