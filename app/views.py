"""What a run looks like on the wire: the snapshot, step, grid and phase frames of one run.

Plain functions of a :class:`app.run.Run` (and the session's pace), called on the worker thread.
They read the engine's named records — the layer trace, the layer descriptions, the evaluation —
and never compute a step again to show it. Every frame and message carries its run's id.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from app import PROTOCOL_VERSION
from app.frames import (
    KIND_GRID,
    KIND_LINE,
    KIND_PARAMETERS,
    KIND_PHASE,
    KIND_POINTS,
    KIND_PROBE,
    KIND_STEP,
    Frame,
    encode_frame,
)
from engine.evaluation import evaluate_line, evaluate_plane
from engine.trace_views import (
    gradient_arrays,
    parameter_arrays,
    predicted_class,
    sample_arrays,
    time_arrays,
)

if TYPE_CHECKING:
    from app.run import Pace, Run

GRID_BUDGET_BYTES = 2 * 1024 * 1024  # the largest grid frame (resolution adapts to fit)
MIN_GRID_RESOLUTION = 8
#: While playing, a dense weight, gradient or update matrix of more entries than this (a 128×128
#: layer) rides in the step frame as uint8 planes, one per row (docs/protocol.md §4): it is only
#: drawn — 16 384 links cannot be read one by one at 20 pictures a second — and the page prints
#: none of its numbers; every frame sent while paused carries them exactly (float32), and the
#: selected weight's value and gradient come exactly with its explanation (`explain`). A 3×352
#: network's step frame: 3.0 MB as float32, 0.80 MB so.
DISPLAY_ONLY_ENTRIES = 16_384
#: A network of more parameters than this sends them after its snapshot in binary parts of at
#: most PART_BYTES of float64 each (docs/protocol.md §3), not as JSON numbers in the snapshot:
#: 250 000 parameters are 5.5 MB of JSON, more than a connection's outbox holds (4 MiB).
INLINE_PARAMETERS = 65_536
PART_BYTES = 1024 * 1024
_DRAWN_ONLY = ("weight.", "_grad.", "_grad_data.", "_update.")


def _drawn_only(name: str, array: np.ndarray) -> bool:
    """Is this step-frame array sent quantised while playing? (see DISPLAY_ONLY_ENTRIES)"""
    return array.ndim >= 2 and array.size > DISPLAY_ONLY_ENTRIES and any(
        tag in name for tag in _DRAWN_ONLY)


def step_frame(run: Run, pace: Pace) -> Frame:
    """Parameters, the last recorded step's gradients and updates, and the selected sample's
    forward and backward values through every layer, named as the engine names them.
    While playing, large dense weight, gradient and update matrices are sent quantised: drawn,
    never printed (DISPLAY_ONLY_ENTRIES).

    What stays put for a configuration (the run, the selection, the learning rate, whether it
    plays) rides in the schema; the float fields go as float64 values (docs/protocol.md §4)."""
    t = run.trainer
    arrays = parameter_arrays(t.network)
    record = t.last_record
    index, split = run.selected
    traced = t.trace_samples([index], split)
    fixed = {
        "run": run.id,
        "trainer": run.kind,
        "playing": pace.playing,
        "learning_rate": t.optimizer.learning_rate,
        "sample": {"index": index, "split": split, "target": traced.targets[0].tolist()},
    }
    values: dict[str, Any] = {
        "epochs_done": t.epochs_done,
        "steps_per_s": run.steps_per_s if pace.playing else None,
        "loss": None,
        "data_loss": None,
        "penalty": None,
        "sent_at": time.time(),
        "sample.loss": float(traced.sample_losses[0]),
    }
    header: dict[str, Any] = {"epoch": t.epoch, "batch": None}
    if record is not None and record.complete:
        values.update(loss=record.total_loss, data_loss=record.data_loss, penalty=record.penalty)
        header["batch"] = record.batch_indices.tolist()
        arrays += gradient_arrays(t.network, record)
        arrays += time_arrays(record)
    arrays += sample_arrays(traced)
    output = traced.outputs[0]
    header["sample"] = {"predicted": predicted_class(t.problem, output)}
    if output.ndim == 1:  # a list of numbers: float64 values; per time step (T, n): JSON
        values["sample.output"] = output.tolist()
    else:
        header["sample"]["output"] = output.tolist()
    return encode_frame(KIND_STEP, run.next_seq(), run.step, header, arrays, fixed=fixed,
                        values=values, quantise=_drawn_only if pace.playing else False)


def probe_frame(run: Run, pixels: np.ndarray) -> Frame:
    """A drawn input (the drawing pad) forward through the network as it is now: every layer's
    values, the output and the class it predicts. No target, so no loss and no gradients."""
    t = run.trainer
    traced = t.trace_input(pixels)
    output = traced.outputs[0]
    header = {"output": output.tolist(), "predicted": predicted_class(t.problem, output)}
    fixed = {"run": run.id, "class_names": list(t.dataset.class_names)}
    arrays = sample_arrays(traced, forward_only=True)
    return encode_frame(KIND_PROBE, run.next_seq(), run.step, header, arrays, fixed=fixed)


def grid_frames(run: Run) -> list[Frame]:
    """The decision surface over the plane (2 inputs), the fit along a line (1 input), or the
    network's output for every row (anything else: predicted against actual)."""
    t = run.trainer
    info = t.dataset.info
    if info.plane and t.dataset.bounds is not None:
        r = effective_grid_resolution(run)
        g = evaluate_plane(t, r)
        arrays = [("input", g.inputs.T.reshape(-1, r, r))]
        arrays += [(f"activation.{k}", a.T.reshape(-1, r, r)) for k, a in enumerate(g.layers)]
        fixed = {"run": run.id, "resolution": r, "bounds": list(g.bounds)}
        return [encode_frame(KIND_GRID, run.next_seq(), run.step, {}, arrays, fixed=fixed,
                             quantise=True)]
    if one_input(t):
        line = evaluate_line(t)
        arrays = [("x", line.x), ("input", line.inputs.T), ("fit", line.fit.T)]
        arrays += [(f"activation.{k}", a.T) for k, a in enumerate(line.layers)]
        fixed = {"run": run.id, "points": len(line.x),
                 "range": [float(line.x[0]), float(line.x[-1])]}
        return [encode_frame(KIND_LINE, run.next_seq(), run.step, {}, arrays, fixed=fixed)]
    problem = t.problem
    outputs = problem.outputs_in_units  # predicted against actual, in the target's units
    arrays = [("out.train", outputs(t.network.predict(problem.x_train)))]
    if len(problem.x_test):
        arrays.append(("out.test", outputs(t.network.predict(problem.x_test))))
    fixed = {"run": run.id, "n_train": len(problem.x_train), "n_test": len(problem.x_test)}
    return [encode_frame(KIND_POINTS, run.next_seq(), run.step, {}, arrays, fixed=fixed)]


def one_input(trainer) -> bool:
    """A table of one input column (sine): its fit is drawn along a line."""
    return trainer.dataset.info.family == "table" and trainer.dataset.x_train.shape[1] == 1


def effective_grid_resolution(run: Run) -> int:
    """The asked-for resolution, lowered so every input and neuron's thumbnail as float32 fits
    GRID_BUDGET_BYTES (a 10×150 network at 128×128 would be 98 MB): the bound on the work of
    evaluating the grid. The frame itself is a quarter of that (uint8 planes, §4)."""
    layers = [layer.describe() for layer in run.trainer.network.layers]
    channels = layers[0]["input_shape"][-1] + sum(layer["units"] for layer in layers)
    fits = math.isqrt(GRID_BUDGET_BYTES // (4 * channels))
    return max(MIN_GRID_RESOLUTION, min(run.grid_resolution, fits))


def grid_kind(run: Run) -> str:
    t = run.trainer
    if t.dataset.info.plane and t.dataset.bounds is not None:
        return "grid"
    if one_input(t):
        return "line"
    return "points"


def phase_frame(run: Run, phase) -> tuple[dict, Frame]:
    """One phase of a step in slow motion: its description (kind, layer, title, index of
    count) and the values the phase produced, named as the engine names them."""
    t = run.trainer
    record = phase.record
    info = {
        "kind": phase.kind,
        "layer": phase.layer,
        "title": phase.title,
        "index": record.phases_done,
        "count": len(t.plan),
    }
    fixed = {"run": run.id, "phase": info}
    header: dict[str, Any] = {"batch": record.batch_indices.tolist()}
    arrays = []
    for name, value in phase.values.items():
        if value is None:
            continue
        if isinstance(value, list):
            if name == "grad_norms":
                header[name] = value
            else:
                arrays.extend((f"{name}.{k}", v) for k, v in enumerate(value))
        elif isinstance(value, np.ndarray):
            arrays.append((name, value))
        else:
            header[name] = value
    if phase.kind == "loss":
        arrays.append(("targets", record.targets))
        arrays.append(("outputs", record.outputs))
    return info, encode_frame(KIND_PHASE, run.next_seq(), run.step, header, arrays, fixed=fixed)


def status(run: Run, pace: Pace, reason: str | None) -> dict:
    t = run.trainer
    return {
        "type": "status",
        "run": run.id,
        "playing": pace.playing,
        "speed": pace.speed,
        "step": run.step,
        "epoch": t.epoch,
        "epochs_done": t.epochs_done,
        "reason": reason,
        "steps_per_s": run.steps_per_s,
    }


def snapshot(run: Run, pace: Pace, reason: str, runs: list[dict]) -> dict:
    """Everything a client needs to draw the run from nothing: spec, network, parameters, data
    and state (including the settings, selection and lesson that produced the numbers)."""
    t = run.trainer
    ds = t.dataset
    net = t.network
    problem = t.problem
    layers = [{"index": k, **layer.describe()} for k, layer in enumerate(net.layers)]
    parted = net.parameter_count > INLINE_PARAMETERS
    run.last_eval = run.evaluate()
    return {
        "type": "snapshot",
        "run": run.id,
        "runs": runs,
        "reason": reason,
        "protocol": PROTOCOL_VERSION,
        "spec": t.spec.to_dict(),
        "network": {
            "sizes": net.sizes,
            "parameter_count": net.parameter_count,
            "layers": layers,
            "output_activation": layers[-1]["activation"],
            "loss": t.spec.training.loss,
            "optimizer": t.spec.training.optimizer.name,
        },
        "parameters": None if parted else [
            {name: value.tolist() for name, value in layout.views(net.flat).items()}
            for layout in net.layouts
        ],
        "parameter_parts": len(parameter_parts_plan(run)) if parted else 0,
        "data": {
            "dataset": {**dataclasses.asdict(ds.info), "family": ds.info.family,
                        "sample_shape": list(ds.sample_shape)},
            "input_names": list(ds.input_names),
            "input_labels": list(problem.input_labels),
            "features": list(t.spec.data.features),
            "target_name": ds.target_name,
            "class_names": list(ds.class_names),
            "bounds": list(ds.bounds) if ds.bounds is not None else None,
            "encoding": problem.encoding,
            "n_outputs": problem.n_outputs,
            "train": {"x": ds.x_train.tolist(), "y": ds.y_train.tolist()},
            "test": {"x": ds.x_test.tolist(), "y": ds.y_test.tolist()},
        },
        "state": {
            "step": run.step,
            "epoch": t.epoch,
            "epochs_done": t.epochs_done,
            "playing": pace.playing,
            "speed": pace.speed,
            "fps": pace.fps,
            "selected": {"sample": run.selected[0], "split": run.selected[1]},
            "in_step": t.in_step,
            "phase_count": len(t.plan),
            "diverged": dataclasses.asdict(run.diverged) if run.diverged else None,
            "grid_resolution": run.grid_resolution,
            "lesson": run.lesson,
            "metrics": run.last_eval,
        },
    }


def parameter_parts_plan(run: Run) -> list[tuple[int, str, int, int]]:
    """The parts a large network's parameters are sent in: (layer, name, first row, rows), each
    at most PART_BYTES of float64 (a parameter's leading axis is cut into row blocks)."""
    plan = []
    net = run.trainer.network
    for k, layout in enumerate(net.layouts):
        for name, value in layout.views(net.flat).items():
            rows = value.shape[0] if value.ndim else 1
            per_row = max(1, value.size // max(1, rows)) * 8
            block = max(1, PART_BYTES // per_row)
            plan.extend((k, name, r, min(block, rows - r)) for r in range(0, rows, block))
    return plan


def parameter_parts(run: Run) -> list[Frame]:
    """The snapshot's parameters as binary parts (kind 7, float64: the engine's values exactly)
    when the snapshot has none inline; [] otherwise. Sent right after the snapshot, so a
    client holds at most one snapshot's JSON and ≤ 2 MB of parts, not 5.5 MB of JSON."""
    net = run.trainer.network
    if net.parameter_count <= INLINE_PARAMETERS:
        return []
    plan = parameter_parts_plan(run)
    views_of = [layout.views(net.flat) for layout in net.layouts]
    fixed = {"run": run.id, "parts": len(plan)}
    out = []
    for i, (k, name, row, rows) in enumerate(plan):
        value = np.asarray(views_of[k][name])
        block = value[row : row + rows] if value.ndim else value.reshape(1)
        header = {"part": i, "layer": k, "name": name, "shape": list(value.shape), "row": row}
        out.append(encode_frame(KIND_PARAMETERS, run.next_seq(), run.step, header,
                                [("values", block)], fixed=fixed, exact=True))
    return out
