"""The messages the live widget feeds to the page's own ES modules, built in the kernel.

The widget (propscope/widget.py) runs static/js/network_view.js and animation.js unchanged, so
it gives them what they get from the server: a snapshot (the network's shape and labels) and
binary step and phase frames in the PSF1 layout of docs/protocol.md §4, encoded by
:func:`app.frames.encode_frame`. The arrays named here are the ones the network view reads
(the server's session sends the same names, with more besides).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from app.frames import KIND_GRID, KIND_LINE, KIND_PHASE, KIND_STEP, clean, encode_frame
from engine.evaluation import evaluate_line, evaluate_plane
from engine.trace import Phase
from engine.trainer import Trainer


def snapshot(trainer: Trainer) -> dict[str, Any]:
    """The parts of the server's snapshot message that the network picture uses."""
    net, problem, dataset = trainer.network, trainer.problem, trainer.dataset
    return clean({
        "type": "snapshot",
        "spec": trainer.spec.to_dict(),
        "network": {
            "sizes": net.sizes,
            "layers": [{"index": k, "fan_in": layer.fan_in, "units": layer.units,
                        "activation": layer.activation.name, "dropout": layer.dropout}
                       for k, layer in enumerate(net.layers)],
            "output_activation": net.layers[-1].activation.name,
            "loss": trainer.spec.training.loss,
            "optimizer": trainer.spec.training.optimizer.name,
        },
        "data": {
            "dataset": dataclasses.asdict(dataset.info),
            "input_names": list(dataset.input_names),
            "input_labels": list(problem.input_labels),
            "features": list(trainer.spec.data.features),
        },
        "state": {"step": trainer.step_count, "epoch": trainer.epoch, "in_step": False},
    })


def step_frame(trainer: Trainer, seq: int, sample: int = 0) -> bytes:
    """Weights now, the latest step's gradients and updates, and one traced sample."""
    arrays: list[tuple[str, np.ndarray]] = []
    for k, layer in enumerate(trainer.network.layers):
        arrays += [(f"weight.{k}", layer.weight), (f"bias.{k}", layer.bias)]
    record = trainer.last_record
    header: dict[str, Any] = {"epoch": trainer.epoch, "playing": False, "loss": None,
                              "batch": None}
    if record is not None and record.complete:
        header.update(loss=record.total_loss, data_loss=record.data_loss,
                      penalty=record.penalty, batch=record.batch_indices.tolist())
        for k, trace in enumerate(record.layers):
            arrays += [(f"weight_grad.{k}", trace.weight_grad),
                       (f"bias_grad.{k}", trace.bias_grad),
                       (f"weight_update.{k}", trace.weight_update),
                       (f"bias_update.{k}", trace.bias_update)]
    traced = trainer.trace_samples([sample])
    for k, trace in enumerate(traced.layers):
        arrays += [(f"sample.input.{k}", trace.input[0]),
                   (f"sample.pre_activation.{k}", trace.pre_activation[0]),
                   (f"sample.activation.{k}", trace.activation[0]),
                   (f"sample.delta.{k}", trace.delta[0])]
    header["sample"] = {"index": sample, "split": "train",
                        "loss": float(traced.sample_losses[0])}
    return encode_frame(KIND_STEP, seq, trainer.step_count, clean(header), arrays)


def phase_frame(trainer: Trainer, phase: Phase, seq: int) -> bytes:
    """One phase and the values it just computed (as the server's `phase` answer)."""
    record = phase.record
    info = {"kind": phase.kind, "layer": phase.layer, "title": phase.title,
            "index": record.phases_done, "count": len(trainer.plan)}
    header: dict[str, Any] = {"phase": info, "batch": record.batch_indices.tolist()}
    arrays = []
    for name, value in phase.values.items():
        if isinstance(value, list) and name != "grad_norms":
            arrays += [(f"{name}.{k}", v) for k, v in enumerate(value) if v is not None]
        elif isinstance(value, np.ndarray):
            arrays.append((name, value))
        elif value is not None:
            header[name] = value
    return encode_frame(KIND_PHASE, seq, trainer.step_count, clean(header), arrays)


def plane_frame(trainer: Trainer, seq: int, resolution: int = 32) -> bytes | None:
    """Every neuron over the input plane (the thumbnails), or along the line for one-input
    data; None when there is neither."""
    if trainer.dataset.info.plane and trainer.dataset.bounds is not None:
        grid = evaluate_plane(trainer, resolution)
        r = resolution
        arrays = [("input", grid.inputs.T.reshape(-1, r, r))]
        arrays += [(f"activation.{k}", a.T.reshape(-1, r, r)) for k, a in enumerate(grid.layers)]
        header = {"resolution": r, "bounds": list(grid.bounds)}
        return encode_frame(KIND_GRID, seq, trainer.step_count, header, arrays)
    if trainer.dataset.x_train.shape[1] == 1:
        line = evaluate_line(trainer)
        arrays = [("x", line.x), ("input", line.inputs.T)]
        arrays += [(f"activation.{k}", a.T) for k, a in enumerate(line.layers)]
        header = {"points": len(line.x), "range": [float(line.x[0]), float(line.x[-1])]}
        return encode_frame(KIND_LINE, seq, trainer.step_count, header, arrays)
    return None
