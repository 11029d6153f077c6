"""What a network costs per sample, from its layers' descriptions alone.

The server decides from these whether a run's steps are heavy (and step on their own worker) and
how many bytes a recorded step will add, before the first step is taken. Counting weights was
enough for dense stacks; a convolution reuses each kernel weight at every output position and a
recurrent layer reuses its weights at every time step, so the work is counted per layer family.
"""

from __future__ import annotations

from collections.abc import Iterable
from math import prod
from typing import Any


def forward_multiply_adds(layer: dict[str, Any]) -> int:
    """Multiply-adds of one sample's forward pass through the layer described by `layer`."""
    kind = layer["kind"]
    if kind == "dense":  # applied at each time step when it follows a sequence
        return prod(layer["input_shape"][:-1]) * layer["fan_in"] * layer["units"]
    if kind == "conv2d":
        return prod(layer["output_shape"]) * layer["fan_in"]
    if kind in ("rnn", "lstm"):
        steps, n_in = layer["input_shape"]
        gates = 4 if kind == "lstm" else 1
        return steps * (n_in + layer["units"]) * layer["units"] * gates
    if kind in ("maxpool", "avgpool"):
        return prod(layer["input_shape"])
    return 0  # flatten: a reshape


def traced_floats(layer: dict[str, Any]) -> int:
    """Numbers one sample leaves in a recorded step's trace of the layer (inputs, pre-
    activations, activations, deltas and their gradients: about eight per unit, as measured
    on dense stacks; a convolution also keeps its unfolded input columns)."""
    kind = layer["kind"]
    if kind == "dense":
        return 8 * prod(layer["output_shape"])
    if kind == "conv2d":
        return 8 * prod(layer["output_shape"]) + prod(layer["output_shape"][1:]) * layer["fan_in"]
    if kind in ("rnn", "lstm"):
        steps = layer["input_shape"][0]
        per_step = layer["units"] * (4 if kind == "lstm" else 1)
        return 8 * steps * per_step
    return 4 * prod(layer["output_shape"])  # pools and flatten: outputs, routing, gradients


def step_floats(layers: Iterable[dict[str, Any]]) -> int:
    """Numbers a recorded step keeps whatever the batch (per-time-step shares of ∂L/∂W_hh)."""
    total = 0
    for layer in layers:
        if layer["kind"] in ("rnn", "lstm"):
            gates = 4 if layer["kind"] == "lstm" else 1
            total += layer["input_shape"][0] * layer["units"] ** 2 * gates
    return total
