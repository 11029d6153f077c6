"""Named views of a network and of a step's trace, for pictures: one list of (name, array) per
thing shown, named as the layers name them, for every layer family.

The server streams these names as they are (``kernel.0``, ``weight_hh_grad.1``,
``sample.delta.0``), so the page, the notebook and the protocol use the trace's own vocabulary.
Nothing here computes a step: the arrays are the trainer's parameters and the trace's caches
(the few reductions — per-time-step norms — are of arrays the trace already holds).
"""

from __future__ import annotations

import numpy as np

from engine.network import Network
from engine.problem import Problem
from engine.trace import StepRecord

Named = list[tuple[str, np.ndarray]]

#: What one sample's trace shows of each layer family, in the order the page draws it.
SAMPLE_FIELDS: dict[str, tuple[str, ...]] = {
    "dense": ("input", "pre_activation", "activation", "grad_activation", "delta"),
    "conv2d": ("input", "pre_activation", "activation", "grad_activation", "delta"),
    "maxpool": ("input", "output", "routing", "grad_output", "grad_input"),
    "avgpool": ("input", "output", "grad_output", "grad_input"),
    "flatten": ("output", "grad_output"),
    "rnn": ("input", "pre_activation", "activation", "delta", "delta_norms"),
    "lstm": ("input", "pre_activation", "gates", "cell", "activation", "delta", "cell_grad",
             "delta_norms"),
}
#: What a forward pass alone shows (the drawing pad's probe): no gradients exist.
FORWARD_SAMPLE_FIELDS: dict[str, tuple[str, ...]] = {
    kind: tuple(f for f in fields if f in ("input", "pre_activation", "activation", "output",
                                           "routing", "gates", "cell"))
    for kind, fields in SAMPLE_FIELDS.items()
}
# Trace attributes whose public name differs (a pool's ∂L/∂input is stored beside a method).
_ATTRIBUTE = {"grad_input": "grad_input_value"}


def parameter_arrays(network: Network) -> Named:
    """Every layer's parameters by name: ``weight.0``, ``bias.0``, ``kernel.1``, …"""
    return [
        (f"{name}.{k}", value)
        for k, layout in enumerate(network.layouts)
        for name, value in layout.views(network.flat).items()
    ]


def gradient_arrays(network: Network, record: StepRecord) -> Named:
    """A complete step's gradients and updates by name: ``<p>_grad.k``, for penalised
    parameters ``<p>_grad_data.k`` (the loss's part alone), then ``<p>_update.k``."""
    out: Named = []
    for k, (layer, tr) in enumerate(zip(network.layers, record.layers, strict=True)):
        names = list(layer.parameter_shapes())
        for name in names:
            out.append((f"{name}_grad.{k}", getattr(tr, f"{name}_grad")))
            if name in layer.regularized:
                out.append((f"{name}_grad_data.{k}", getattr(tr, f"{name}_grad_data")))
        updates = tr.layout.views(tr.flat_update) if names else {}
        out.extend((f"{name}_update.{k}", updates[name]) for name in names)
    return out


def time_arrays(record: StepRecord) -> Named:
    """For recurrent layers of a complete step: the batch's ‖δ_t‖ per time step and the norm of
    each time step's share of ∂L/∂W_hh — the fading a gradient suffers going back in time."""
    out: Named = []
    for k, tr in enumerate(record.layers):
        if tr.kind in ("rnn", "lstm") and tr.delta_norms is not None:
            out.append((f"delta_norms.{k}", tr.delta_norms))
            steps = tr.weight_hh_grad_steps
            share = np.sqrt(np.einsum("tij,tij->t", steps, steps))
            out.append((f"weight_hh_grad_step_norms.{k}", share))
    return out


def sample_arrays(traced: StepRecord, row: int = 0, forward_only: bool = False) -> Named:
    """One traced sample through every layer: ``sample.<field>.k`` for the fields its family
    shows (rows of the trace's batch-first arrays; ``delta_norms`` of a one-sample trace is
    that sample's own ‖δ_t‖)."""
    tables = FORWARD_SAMPLE_FIELDS if forward_only else SAMPLE_FIELDS
    out: Named = []
    for k, tr in enumerate(traced.layers):
        for name in tables[tr.kind]:
            value = getattr(tr, _ATTRIBUTE.get(name, name))
            if value is None:
                continue
            out.append((f"sample.{name}.{k}", value if name == "delta_norms" else value[row]))
    return out


def predicted_class(problem: Problem, output: np.ndarray) -> int | list[int] | None:
    """The class a classifier predicts for one sample's output (None for regression; one per
    time step when the network answers at every step)."""
    if not problem.is_classification:
        return None
    classes = problem.predicted_classes(output.reshape(-1, output.shape[-1]))
    return int(classes[0]) if output.ndim == 1 else classes.tolist()
