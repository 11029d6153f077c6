"""From a spec's layer list to layer objects, with every shape checked before anything is built.

The output layer is always dense (``network.output_activation``, as many units as the problem
has outputs); the spec lists the layers before it. Impossible shapes come back as the same
``(field path, message)`` problems as the rest of the spec.
"""

from __future__ import annotations

from engine.activations import get_activation
from engine.layers import Dense, Layer
from engine.spec import NetworkSpec, SpecError


def build_layers(network: NetworkSpec, input_shape: tuple[int, ...], n_outputs: int) -> list[Layer]:
    """The network's layers for inputs of ``input_shape`` (per sample); raises SpecError."""
    layers: list[Layer] = []
    problems: list[tuple[str, str]] = []
    shape = tuple(input_shape)
    for layer in network.hidden:
        built = Dense(shape, layer.units, get_activation(layer.activation), layer.dropout)
        layers.append(built)
        shape = built.output_shape
    if problems:
        raise SpecError(problems)
    layers.append(Dense(shape, n_outputs, get_activation(network.output_activation)))
    return layers
