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


def step_frame(run: Run, pace: Pace) -> Frame:
    """Parameters, the last recorded step's gradients and updates, and the selected sample's
    forward and backward values through every layer, named as the engine names them.

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
                        values=values)


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
        "parameters": [
            {name: value.tolist() for name, value in layout.views(net.flat).items()}
            for layout in net.layouts
        ],
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
