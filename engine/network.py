"""A stack of dense layers: building it, running it, reading its parameters."""

from __future__ import annotations

import numpy as np

from engine.activations import get_activation
from engine.initializers import get_initializer
from engine.layers import Dense
from engine.spec import NetworkSpec


class Network:
    def __init__(self, layers: list[Dense]) -> None:
        self.layers = layers

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

    @property
    def sizes(self) -> list[int]:
        """Units per layer, inputs first: [n_in, h1, …, n_out]."""
        return [self.layers[0].fan_in] + [layer.units for layer in self.layers]

    @property
    def parameter_count(self) -> int:
        return sum(layer.weight.size + layer.bias.size for layer in self.layers)

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
        """[W₁, b₁, W₂, b₂, …]: the order optimiser state follows."""
        params = []
        for layer in self.layers:
            params.extend((layer.weight, layer.bias))
        return params

    def set_parameters(self, params: list[np.ndarray]) -> None:
        for k, layer in enumerate(self.layers):
            layer.weight, layer.bias = params[2 * k], params[2 * k + 1]

    def all_finite(self) -> bool:
        return all(np.isfinite(p).all() for p in self.parameters())
