"""What each training message does (docs/protocol.md §2), as plain functions.

Two shapes, named in the table of ``app/wiring.py``:

* **run handlers** ``(run, msg, pace) -> Reply`` run on the worker thread with the one run the
  message is for. They return what everyone should see (frames and an ``event`` for each state
  change) and the fields of the sender's ack — they never send.
* **session handlers** ``async (session, msg) -> None`` change what the session holds: its
  pace, its runs, their trainers.
"""

from __future__ import annotations

import dataclasses
import math
import secrets
from typing import Any

import numpy as np

from app import protocol as P
from app import views
from app.frames import text
from app.protocol import ProtocolError
from app.run import Out, Pace, Run, event, for_run
from app.session import Session
from engine.explain import explain_weight
from engine.explain_parameter import explain_parameter
from engine.lessons import LESSONS
from engine.spec import LIMITS, Spec
from engine.trainer import Trainer, make_dataset_for

#: messages that only mean something for a run with an optimiser and phases
GRADIENT_ONLY = frozenset({"set", "set_weight", "phase"})


@dataclasses.dataclass
class Reply:
    out: list[Out] = dataclasses.field(default_factory=list)
    ack: dict[str, Any] = dataclasses.field(default_factory=dict)
    stop: str | None = None  # a reason to stop playing (a run diverged)


def require_finite(run: Run) -> None:
    if run.diverged is not None:
        raise ProtocolError(
            "bad_state",
            f"the run diverged at step {run.diverged.step}; reset, regenerate or configure to "
            "start again",
        )


# --- run handlers (worker thread) --------------------------------------------------------------


def set_hyper(run: Run, msg: P.SetHyper, pace: Pace) -> Reply:
    t = run.trainer
    n_train = len(t.problem.x_train)
    if msg.batch_size is not None and msg.batch_size > n_train:
        raise ProtocolError(
            "invalid_value",
            f"batch size {msg.batch_size} is larger than the {n_train} training samples",
        )
    try:
        if msg.optimizer is not None:
            hyper = msg.optimizer.model_dump(exclude_none=True)
            name = hyper.pop("name")
            t.set_optimizer(name, **hyper)
        if msg.learning_rate is not None:
            t.set_learning_rate(msg.learning_rate)
        if msg.regularization is not None or msg.regularization_rate is not None:
            kind = msg.regularization or t.spec.training.regularization
            rate = msg.regularization_rate
            if rate is None:
                rate = t.spec.training.regularization_rate
            t.set_regularization(kind, rate)
        if msg.batch_size is not None:
            t.set_batch_size(msg.batch_size)
    except ValueError as err:  # SpecError is a ValueError
        raise ProtocolError("invalid_value", str(err)) from None
    training = dataclasses.asdict(t.spec.training)
    return Reply([event(run, "settings", training=training)], {"training": training})


def select(run: Run, msg: P.Select, pace: Pace) -> Reply:
    problem = run.trainer.problem
    n = len(problem.x_train if msg.split == "train" else problem.x_test)
    if msg.sample >= n:
        raise ProtocolError(
            "bad_index", f"sample {msg.sample} does not exist; the {msg.split} set has {n}"
        )
    run.selected = (msg.sample, msg.split)
    selected = {"sample": msg.sample, "split": msg.split}
    return Reply([event(run, "selection", selected=selected), views.step_frame(run, pace)],
                 {"sample": msg.sample, "split": msg.split})


def explain(run: Run, msg: P.Explain, pace: Pace) -> Reply:
    sample = msg.sample
    if sample is None:
        sample = run.selected[0] if run.selected[1] == "train" else 0
    t = run.trainer
    try:
        if msg.parameter is None:
            require_dense(t, msg.layer, "explain it by parameter and index")
            explanation = explain_weight(t, msg.layer, msg.source, msg.target, sample)
        else:
            explanation = explain_parameter(t, msg.layer, msg.parameter, tuple(msg.index), sample)
    except (ValueError, IndexError) as err:
        raise ProtocolError("bad_index", str(err)) from None
    return Reply([text({"type": "explanation", "id": msg.id, "run": run.id,
                        **dataclasses.asdict(explanation)})])


def probe(run: Run, msg: P.Probe, pace: Pace) -> Reply:
    """The drawing pad: a drawn input forward through the network (a `probe` frame)."""
    shape = run.trainer.dataset.sample_shape
    expected = math.prod(shape)
    if len(msg.input) != expected:
        raise ProtocolError(
            "invalid_value",
            f"this network takes {'×'.join(map(str, shape))} = {expected} numbers, "
            f"not {len(msg.input)}",
        )
    frame = views.probe_frame(run, np.asarray(msg.input, dtype=np.float64).reshape(shape))
    return Reply([frame], {"input_shape": list(shape)})


def require_dense(trainer: Trainer, layer: int, otherwise: str) -> None:
    """Weights addressed by (source, target) are a dense layer's."""
    layers = trainer.network.layers
    if layer < len(layers) and layers[layer].kind != "dense":
        raise ProtocolError(
            "bad_index",
            f"layer {layer} is {layers[layer].kind}, not dense: {otherwise}",
        )


def grid(run: Run, msg: P.Grid, pace: Pace) -> Reply:
    out: list[Out] = []
    if msg.resolution is not None and msg.resolution != run.grid_resolution:
        run.grid_resolution = msg.resolution
        out.append(event(run, "grid_resolution", resolution=msg.resolution))
    out.extend(views.grid_frames(run))
    return Reply(out, {"evaluation": views.grid_kind(run), "resolution": run.grid_resolution,
                       "effective_resolution": views.effective_grid_resolution(run)})


def set_weight(run: Run, msg: P.SetWeight, pace: Pace) -> Reply:
    t = run.trainer
    layers = t.network.layers
    if msg.layer >= len(layers):
        raise ProtocolError(
            "bad_index", f"layer {msg.layer} does not exist; there are {len(layers)}"
        )
    require_dense(t, msg.layer, "only dense weights are edited by hand")
    layer = layers[msg.layer].describe()
    units, fan_in = layer["units"], layer["fan_in"]
    if msg.target >= units:
        raise ProtocolError(
            "bad_index", f"layer {msg.layer} has neurons 0…{units - 1}, not {msg.target}"
        )
    if msg.source is not None and msg.source >= fan_in:
        raise ProtocolError(
            "bad_index", f"layer {msg.layer} has inputs 0…{fan_in - 1}, not {msg.source}"
        )
    t.edit_parameter(msg.layer, msg.source, msg.target, msg.value)
    edit = {"layer": msg.layer, "source": msg.source, "target": msg.target, "value": msg.value}
    return Reply([event(run, "edit", edit=edit), *run.final_frames(pace)], edit)


def phase(run: Run, msg: P.PhaseStep, pace: Pace) -> Reply:
    require_finite(run)
    step = run.trainer.next_phase()
    info, frame = views.phase_frame(run, step)
    out: list[Out] = [event(run, "phase", phase=info), frame]
    stop = None
    if step.kind == "update":
        record = step.record
        run.metrics.add(record)
        if record.divergence is not None:
            run.diverged = record.divergence
            out.append(text({"type": "diverged", "run": run.id,
                             **dataclasses.asdict(run.diverged)}))
            stop = "diverged"
        else:
            out.extend(run.final_frames(pace))
    return Reply(out, {"phase": info, "step": run.trainer.step_count}, stop)


# --- session handlers (event loop) -------------------------------------------------------------


#: Run handlers whose change the server keeps at once (not only at the next checkpoint) when the
#: run is in a training process: settings and edited weights a restore must not lose.
CONFIGURING = frozenset({set_hyper, set_weight})


async def on_run(session: Session, msg, handler) -> None:
    """A run handler for the message's run: its outputs to everyone, then the ack."""
    if msg.type == "phase":
        session.require_paused("a single phase")
        if len(session.runs) > 1:  # one run a phase ahead would break the lockstep
            raise ProtocolError("bad_state", "phase by phase is for one run; close the runs "
                                "beside it (close_run) or step whole steps")
    run = session.run_of(msg)
    if run.kind != "backprop" and msg.type in GRADIENT_ONLY:
        raise ProtocolError("bad_state", f"{msg.type} is for runs trained by backpropagation; "
                            f"run {run.id} is a genetic algorithm")
    reply: Reply = await session.runs_call(for_run, run.id, handler, msg, session.pace,
                                           checkpoint=handler in CONFIGURING)
    session.send_all(reply.out)
    if reply.stop is not None:
        session.send(session.status(reply.stop))
    session.ack(msg, **reply.ack)


async def configure(session: Session, msg: P.Configure) -> None:
    lesson = msg.lesson
    if lesson is not None and lesson not in LESSONS:
        raise ProtocolError("invalid_value", f"there is no lesson {lesson!r}")

    def make():
        return Trainer(Spec.from_dict(msg.spec))

    await session.install_trainer(make, "configure", lesson)
    session.send(event(session.run, "configure", lesson=lesson))
    session.ack(msg, step=0)


async def reset(session: Session, msg: P.Reset) -> None:
    """Every run back to step 0; with `reinitialize` all get the same new seeds, so the
    comparison stays fair."""
    network_seed = training_seed = None
    if msg.reinitialize:
        network_seed = secrets.randbelow(LIMITS["max_seed"] + 1)
        training_seed = secrets.randbelow(LIMITS["max_seed"] + 1)

    def maker(run: Run):
        spec = run.spec.copy()
        if network_seed is not None:
            spec.network.seed = network_seed
            spec.training.seed = training_seed
        dataset = run.trainer.dataset
        return lambda: run.rebuilt(spec, dataset)

    lessons = {r.lesson for r in session.runs}
    await session.replace_trainers([maker(r) for r in session.runs], "reset",
                                   lessons.pop() if len(lessons) == 1 else None)
    seed = session.run.spec.network.seed
    session.send(event(session.run, "reset", seed=seed, reinitialize=msg.reinitialize))
    session.ack(msg, step=0, seed=seed)


async def regenerate(session: Session, msg: P.Regenerate) -> None:
    """New data (one data set shared by every run), every run back to step 0."""
    seed = msg.seed if msg.seed is not None else secrets.randbelow(LIMITS["max_seed"] + 1)
    shared: dict[str, Any] = {}

    def maker(run: Run):
        spec = run.spec.copy()
        spec.data.seed = seed

        def make():
            if "dataset" not in shared:
                shared["dataset"] = make_dataset_for(spec)
            return run.rebuilt(spec, shared["dataset"])

        return make

    lessons = {r.lesson for r in session.runs}
    await session.replace_trainers([maker(r) for r in session.runs], "regenerate",
                                   lessons.pop() if len(lessons) == 1 else None)
    session.send(event(session.run, "regenerate", seed=seed))
    session.ack(msg, step=0, seed=seed)


async def play(session: Session, msg: P.Play) -> None:
    if all(r.diverged is not None for r in session.runs):
        require_finite(session.run)
    session.start_playing(msg.speed)
    session.send(session.status("play"))
    session.ack(msg, playing=True, speed=session.pace.speed)


async def pause(session: Session, msg: P.Pause) -> None:
    if session.playing:
        await session.stop_playing("pause")
    session.ack(msg, playing=False, step=session.trainer.step_count)


async def step(session: Session, msg: P.Step) -> None:
    session.require_paused("single steps")
    if all(r.diverged is not None for r in session.runs):
        require_finite(session.run)
    remaining = msg.n
    budget = session.settings.chunk_ms / 1000.0
    stop = None
    while remaining > 0 and stop is None:
        n, stop, out = await session.worker(session.lockstep, remaining, budget, False)
        session.send_all(out)
        remaining -= n
        if n == 0:
            break
    session.send_all(await session.worker(session.final_frames))
    if stop == "diverged":
        session.send(session.status("diverged"))
    session.ack(msg, step=session.trainer.step_count, stopped=stop)


async def set_fps(session: Session, msg: P.SetFps) -> None:
    if msg.fps > session.settings.max_fps:
        raise ProtocolError(
            "invalid_message", f"fps must be at most {session.settings.max_fps:g}"
        )
    session.pace.fps = msg.fps
    for r in session.runs:
        r.next_frame = 0.0
    session.send(event(session.run, "fps", fps=msg.fps))
    session.ack(msg, fps=msg.fps)


async def snapshot(session: Session, msg: P.SnapshotRequest) -> None:
    await session.send_full_state("request")
    session.ack(msg)
