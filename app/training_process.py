"""A training process: steps the runs sessions lend it, one request at a time.

The server (app/training_pool.py) sends requests over a pipe and waits for each reply:

- ``("turn", lease, (runs | None, turn, checkpoint))`` — one chunk of a session's runs
  (:func:`app.lockstep.lockstep`); ``runs`` (the server's, app/run_transfer.py ``dumps``)
  starts the lease.
  Replies ``(steps, stop, out, statuses, state | None)``: the messages made, each run's
  :class:`~app.run.Remote`, and the runs' whole state when a checkpoint was asked for.
- ``("call", lease, (fn, args, checkpoint))`` — ``fn(runs, *args)`` on the lent runs (a run
  handler, a full state: app/session.py ``runs_call``); replies ``(result, statuses, state)``.
- ``("recall", lease, None)`` — the lease ends; replies the runs' whole state.
- ``("drop", lease, None)`` — the lease ends, nothing is wanted back.

A failure in a request is replied as ``("error", traceback)``; the process carries on.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection

import numpy as np

from app import frames
from app.lockstep import lockstep
from app.run import Run
from app.run_transfer import dumps, loads, state_of

Leases = dict[int, list[Run]]


def _turn(leases: Leases, lease: int, body: tuple) -> tuple:
    lent, turn, checkpoint = body
    if lent is not None:
        leases[lease] = lent
    runs = leases[lease]
    # A diverging run overflows on purpose; the client hears about it as a `diverged` message.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        steps, stop, out = lockstep(runs, turn)
    statuses = [r.status() for r in runs]
    return steps, stop, out, statuses, state_of(runs) if checkpoint else None


def _call(leases: Leases, lease: int, body: tuple) -> tuple:
    fn, args, checkpoint = body
    runs = leases[lease]
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        result = fn(runs, *args)
    return result, [r.status() for r in runs], state_of(runs) if checkpoint else None


def _recall(leases: Leases, lease: int, body: None) -> bytes:
    return state_of(leases.pop(lease))


def _drop(leases: Leases, lease: int, body: None) -> None:
    leases.pop(lease, None)


HANDLERS: dict[str, Callable[[Leases, int, object], object]] = {
    "turn": _turn, "call": _call, "recall": _recall, "drop": _drop}


def serve(conn: Connection, schema_base: int, nice: int) -> None:
    """The process's whole life: requests until the server closes the pipe."""
    frames.set_schema_base(schema_base)
    if nice:
        os.nice(nice)  # the heavy process gives way when the CPU is short
    leases: Leases = {}
    while True:
        try:
            kind, lease, body = loads(conn.recv_bytes())
        except (EOFError, OSError):
            return  # the server is gone or closed the pipe
        try:
            reply = ("ok", HANDLERS[kind](leases, lease, body))
        except Exception:
            reply = ("error", traceback.format_exc())
        conn.send_bytes(dumps(reply))
