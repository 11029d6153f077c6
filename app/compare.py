"""Side by side (docs/protocol.md §10): fork a run with settings changed, close, promote.

Forks share the data (the same rows), the data seed and the batch order, and the session
steps every run in lockstep, so whatever differs on screen comes from the change. A fork either
starts from the forked run's present state (only settings a trainer changes while training:
optimiser and its parameters, learning rate, batch size, regularisation) or every run starts
again from step 0 (anything else: activation, initialiser, architecture, dropout, loss …).
"""

from __future__ import annotations

from typing import Any

from app import protocol as P
from app.evolution_run import EvolutionRun, evolution_settings
from app.protocol import ProtocolError
from app.run import Run, event
from app.session import Session
from engine import persistence
from engine.evolution import GeneticTrainer
from engine.spec import Spec, overlay
from engine.trainer import Trainer

#: training fields a running trainer can change (Trainer.set_*); all else needs a restart
LIVE_TRAINING = frozenset({"optimizer", "batch_size", "regularization", "regularization_rate"})


def forked_spec(parent: Spec, changes: dict[str, Any]) -> Spec:
    unknown = set(changes) - {"network", "training"}
    if unknown:
        raise ProtocolError(
            "invalid_value",
            f"a fork may change network and training settings, not {', '.join(sorted(unknown))}"
            " (runs side by side share their data)",
        )
    try:
        return Spec.from_dict(overlay(parent.to_dict(), changes))
    except ValueError as err:  # SpecError is a ValueError
        problems = getattr(err, "problems", None)
        raise ProtocolError("invalid_spec", f"the fork's spec was rejected: {err}",
                            {"problems": [list(p) for p in problems]} if problems else None
                            ) from None


def needs_restart(parent: Spec, fork: Spec) -> bool:
    if fork.network != parent.network:
        return True
    a, b = parent.training, fork.training
    return any(getattr(a, f) != getattr(b, f) for f in vars(a) if f not in LIVE_TRAINING)


def differences(parent: Spec, fork: Spec) -> dict[str, Any]:
    """The settings the fork changed, as {"training.optimizer.learning_rate": 3.0, …}."""
    out: dict[str, Any] = {}

    def walk(a: Any, b: Any, path: str) -> None:
        if isinstance(a, dict) and isinstance(b, dict):
            for key in sorted(set(a) | set(b)):
                walk(a.get(key), b.get(key), f"{path}.{key}" if path else key)
        elif a != b:
            out[path] = b

    walk(parent.to_dict(), fork.to_dict(), "")
    return out


def label_of(changed: dict[str, Any]) -> str:
    if not changed:
        return "same settings"
    parts = [f"{path.rsplit('.', 1)[-1].replace('_', ' ')} {value}"
             for path, value in list(changed.items())[:3]]
    return ", ".join(parts)[:60]


def live_fork(parent: Trainer, spec: Spec) -> Trainer:
    """A copy of the parent as it is now (parameters, optimiser state, batch position), then
    given the fork's live settings with the same setters a `set` message uses."""
    fork = persistence.from_dict(persistence.to_dict(parent))  # the same data, from its seed
    t = spec.training
    if t.optimizer != parent.spec.training.optimizer:
        if t.optimizer.name != parent.spec.training.optimizer.name or \
                t.optimizer.hyperparameters() != parent.spec.training.optimizer.hyperparameters():
            fork.set_optimizer(t.optimizer.name, **t.optimizer.hyperparameters())
        fork.set_learning_rate(t.optimizer.learning_rate)
    if (t.regularization, t.regularization_rate) != \
            (parent.spec.training.regularization, parent.spec.training.regularization_rate):
        fork.set_regularization(t.regularization, t.regularization_rate)
    if t.batch_size != parent.spec.training.batch_size:
        fork.set_batch_size(t.batch_size)
    return fork


async def compare(session: Session, msg: P.Compare) -> None:
    parent = session.run_of(msg)
    run_id = session.new_run_id()
    spec = forked_spec(parent.spec, msg.changes)
    restart = needs_restart(parent.spec, spec)
    if msg.restart is False and restart:
        raise ProtocolError(
            "bad_state",
            "these settings cannot change while training (network, loss or seed); fork with "
            "restart: every run starts again from step 0",
        )
    evolution = msg.trainer == "evolution"
    if evolution and msg.restart is False:
        raise ProtocolError("bad_state", "a genetic algorithm starts from its own population: "
                            "every run starts again from step 0 (restart)")
    if msg.evolution is not None and not evolution:
        raise ProtocolError("invalid_message", "`evolution` settings need trainer: evolution")
    restart = restart or bool(msg.restart) or evolution
    changed = differences(parent.spec, spec)
    if not restart and parent.kind != "backprop":
        raise ProtocolError("bad_state", "a run without gradients forks only with restart")
    if not restart and parent.trainer.in_step:
        raise ProtocolError("bad_state", "finish the step begun phase by phase first")
    await session.pause_quietly("compare")
    dataset = parent.trainer.dataset
    if evolution:
        def make_ga() -> GeneticTrainer:
            return GeneticTrainer(spec, evolution_settings(msg.evolution), dataset)

        fork_trainer = await session.build_trainer(make_ga)
    elif restart:
        fork_trainer = await session.build_trainer(lambda: Trainer(spec, dataset))
    else:
        def make() -> Trainer:
            try:
                return live_fork(parent.trainer, spec)
            except ValueError as err:
                raise ProtocolError("invalid_value", str(err)) from None

        fork_trainer = await session.build_trainer(make)
    kind = EvolutionRun if evolution else Run
    default_label = ("genetic algorithm" + (f", {label_of(changed)}" if changed else "")
                     if evolution else label_of(changed))
    fork = kind(fork_trainer, run_id, grid_resolution=parent.grid_resolution,
                selected=parent.selected, lesson=parent.lesson,
                label=msg.label or default_label[:60])

    def install():
        if restart:
            for r in session.runs:
                r.set_trainer(r.rebuilt(r.spec.copy(), dataset))
        session.runs.append(fork)
        return session.full_state("compare")

    session.send_state(await session.worker(install))
    session.send(event(fork, "compare", parent=parent.id, changes=changed, restart=restart,
                       runs=session.summaries()))
    session.ack(msg, run=fork.id, parent=parent.id, restart=restart, changes=changed,
                runs=session.summaries())


def _addressed(session: Session, msg) -> Run:
    if msg.run is None:
        raise ProtocolError("invalid_message", f"say which run: {msg.type} needs `run`")
    return session.run_of(msg)


async def close_run(session: Session, msg: P.CloseRun) -> None:
    run = _addressed(session, msg)
    if len(session.runs) == 1:
        raise ProtocolError("bad_state", "the session's only run cannot be closed")
    session.runs = [r for r in session.runs if r is not run]
    session.send(event(run, "close_run", runs=session.summaries()))
    session.ack(msg, run=run.id, runs=session.summaries())


async def promote_run(session: Session, msg: P.PromoteRun) -> None:
    run = _addressed(session, msg)
    session.runs = [run, *(r for r in session.runs if r is not run)]
    session.send(event(run, "promote_run", runs=session.summaries()))
    session.ack(msg, run=run.id, runs=session.summaries())
