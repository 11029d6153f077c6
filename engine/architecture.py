"""From a spec's layer list to layer objects, with every shape checked before anything is built.

The output layer is always dense (``network.output_activation``, as many units as the problem
has outputs); the spec lists the layers before it. Impossible shapes come back as the same
``(field path, message)`` problems as the rest of the spec, naming the layer and the shapes.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from engine.activations import get_activation
from engine.layers import LSTM, RNN, AvgPool2D, Conv2D, Dense, Flatten, Layer, MaxPool2D
from engine.layers.base import Shape, shape_text
from engine.spec import (
    LIMITS,
    Conv2DLayerSpec,
    DenseLayerSpec,
    FlattenLayerSpec,
    PoolLayerSpec,
    RecurrentLayerSpec,
    Spec,
    SpecError,
)

_WHAT = {
    1: "a vector",
    2: "a sequence (time steps × features)",
    3: "an image (channels × height × width)",
}


def _dense(entry: DenseLayerSpec, shape: Shape, sequence_targets: bool) -> Layer:
    if len(shape) == 3:
        raise ValueError(
            f"a dense layer needs a vector, but it receives {_WHAT[3]} of {shape_text(shape)}: "
            "add a flatten layer before it"
        )
    if len(shape) == 2 and not sequence_targets:
        raise ValueError(
            f"a dense layer needs a vector, but it receives {_WHAT[2]} of {shape_text(shape)}: "
            "add a recurrent layer before it"
        )
    return Dense(shape, entry.units, get_activation(entry.activation), entry.dropout)


def _recurrent(entry: RecurrentLayerSpec, shape: Shape, sequence_targets: bool) -> Layer:
    # A recurrent layer hands on every step when the targets are per step (many-to-many) and
    # only its last hidden state when there is one target per sequence (many-to-one).
    if entry.type == "lstm":
        return LSTM(shape, entry.units, sequence_targets, entry.truncation)
    activation = get_activation(entry.activation)
    return RNN(shape, entry.units, activation, sequence_targets, entry.truncation)


def _conv(entry: Conv2DLayerSpec, shape: Shape, sequence_targets: bool) -> Layer:
    activation = get_activation(entry.activation)
    return Conv2D(shape, entry.filters, entry.kernel, entry.stride, entry.padding, activation)


def _pool(entry: PoolLayerSpec, shape: Shape, sequence_targets: bool) -> Layer:
    family = MaxPool2D if entry.type == "maxpool" else AvgPool2D
    return family(shape, entry.size, entry.stride)


def _flatten(entry: FlattenLayerSpec, shape: Shape, sequence_targets: bool) -> Layer:
    return Flatten(shape)


# One builder per layer type: (spec entry, input shape, targets per time step?) → layer.
BUILDERS: dict[str, Callable[..., Layer]] = {
    "dense": _dense,
    "conv2d": _conv,
    "maxpool": _pool,
    "avgpool": _pool,
    "flatten": _flatten,
    "rnn": _recurrent,
    "lstm": _recurrent,
}


def build_layers(
    spec: Spec, input_shape: Shape, n_outputs: int, sequence_targets: bool = False
) -> list[Layer]:
    """The network's layers for samples of ``input_shape``; raises SpecError naming the layer
    whose shape is impossible. ``sequence_targets``: the data has a target at every time step
    (recurrent layers then return every step and the output layer applies at each)."""
    layers: list[Layer] = []
    shape = tuple(input_shape)
    entries = spec.layer_list()
    path = "network.layers" if spec.network.layers is not None else "network.hidden"
    for i, entry in enumerate(entries):
        try:
            layer = BUILDERS[entry.type](entry, shape, sequence_targets)
        except ValueError as error:
            raise SpecError([(f"{path}[{i}]", str(error))]) from None
        layers.append(layer)
        shape = layer.output_shape
    if len(shape) == 3:
        raise SpecError(
            [
                (
                    "network",
                    f"the output layer needs a vector, but the last layer gives {_WHAT[3]} "
                    f"of {shape_text(shape)}: add a flatten layer",
                )
            ]
        )
    if len(shape) == 2 and not sequence_targets:
        raise SpecError(
            [
                (
                    "network",
                    f"the output layer needs a vector, but the data is {_WHAT[2]} of "
                    f"{shape_text(shape)}: add a recurrent layer",
                )
            ]
        )
    layers.append(Dense(shape, n_outputs, get_activation(spec.network.output_activation)))
    _check_cost(layers)
    return layers


def multiply_adds(layer: Layer) -> int:
    """Multiply-adds one sample costs in this layer's forward pass (backward costs about twice
    as much): how heavy a spec is, whatever the mix of layers."""
    shapes = layer.parameter_shapes()
    if layer.kind == "conv2d":
        return math.prod(layer.output_shape) * math.prod(shapes["kernel"][1:])
    if layer.kind == "dense":
        return math.prod(layer.output_shape[:-1]) * math.prod(shapes["weight"])
    if layer.kind in ("rnn", "lstm"):
        steps = layer.input_shape[0]
        return steps * (math.prod(shapes["weight_ih"]) + math.prod(shapes["weight_hh"]))
    return math.prod(layer.input_shape)  # pooling and flattening touch each input once


def _check_cost(layers: list[Layer]) -> None:
    """Refuse networks too large for a shared classroom server, before any array is made."""
    problems = []
    count = sum(math.prod(s) for layer in layers for s in layer.parameter_shapes().values())
    if count > LIMITS["max_parameters"]:
        problems.append(
            ("network", f"{count} parameters; at most {LIMITS['max_parameters']} are allowed")
        )
    work = sum(multiply_adds(layer) for layer in layers)
    if work > LIMITS["max_multiply_adds_per_sample"]:
        problems.append(
            (
                "network",
                f"{work} multiply-adds per sample; at most "
                f"{LIMITS['max_multiply_adds_per_sample']} are allowed (fewer filters or units, "
                "or a pool layer earlier)",
            )
        )
    values = sum(math.prod(layer.output_shape) for layer in layers)
    if values > LIMITS["max_activations_per_sample"]:
        problems.append(
            (
                "network",
                f"{values} values per sample across the layers; at most "
                f"{LIMITS['max_activations_per_sample']} are allowed (fewer filters or a pool "
                "layer earlier)",
            )
        )
    if problems:
        raise SpecError(problems)


def starter_network(info_family: str, task: str, n_classes: int) -> dict:
    """A network and loss that suit a data family, for a learner who just picked the data: the
    page offers it instead of a dense stack that cannot take images or sequences."""
    if info_family == "image":
        layers = [
            {"type": "conv2d", "filters": 8, "kernel": 3, "padding": "same", "activation": "relu"},
            {"type": "maxpool", "size": 2},
            {"type": "flatten"},
        ]
    elif info_family == "sequence":
        layers = [{"type": "rnn", "units": 16, "activation": "tanh"}]
    else:
        layers = [{"type": "dense", "units": 4, "activation": "tanh"}] * 2
    if task == "regression":
        output, loss = "linear", "mse"
    elif n_classes > 2:
        output, loss = "softmax", "cce"
    else:
        output, loss = "tanh", "mse"
    return {"network": {"layers": layers, "output_activation": output}, "training": {"loss": loss}}
