"""Training processes: sessions step on every core, and the event loop never waits on them.

A playing session lends its runs to one process (a :class:`Lease`) and asks it for one chunk
at a time; the runs come back (recall) whenever anything but stepping needs them — a message,
a pause, a room's copy — and at least every ``CHECKPOINT_S`` while playing (kept as the state
to restore if the process dies). Light sessions share the ``size`` light processes (each lease
goes to the one with the fewest); heavy ones (app/run.py HEAVY_*) step on a process of their
own at a lower priority, so a light session never waits behind a maximal network's step.

Processes start from a clean fork server (never forked from the threaded server) with the
engine already imported. Each numbers its frames' schemas from its own range
(app/frames.py ``set_schema_base``). A process that dies is noticed by the next request on
it (:class:`WorkerLost`); the pool starts a new one for the next lease.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import multiprocessing
import os
import pickle
import time
from concurrent.futures import ThreadPoolExecutor

from app.run_transfer import dumps, loads
from app.security import logfmt

log = logging.getLogger("propscope.training")

CHECKPOINT_S = 5.0
#: Sessions that do not divide evenly over the processes (3 on 2) would not share the cores
#: fairly: the one alone trains twice as fast. So a light session keeps a process at least
#: ROTATE_S, then moves to one with fewer sessions when a session there has been served more
#: stepping time than it by ROTATE_S (or when the other has two sessions fewer): the emptier
#: process goes to whoever is behind, and over a few of these every session gets the same share.
ROTATE_S = 0.2
ACCOUNT_S = 2.0
HEAVY_NICE = 10
SCHEMA_SPAN = 1 << 24  # schema ids per process: the server's own are below the first span


class WorkerLost(Exception):
    """The training process ended (killed, out of memory): its leases are gone."""


class TrainingFailed(Exception):
    """A request failed inside the training process (a bug); carries its traceback."""


def auto_processes() -> int:
    """Training processes by default: one per core, none (train in a thread) on one core."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return cores if (cores or 1) > 1 else 0


class TrainingProcess:
    """One child process, its pipe, and the thread that talks to it (requests in order)."""

    def __init__(self, generation: int, heavy: bool) -> None:
        from app.training_process import serve

        context = multiprocessing.get_context("forkserver")
        parent, child = context.Pipe()
        self.heavy = heavy
        self.generation = generation
        self.process = context.Process(
            target=serve, name=f"propscope-training-{generation}", daemon=True,
            args=(child, (1 + (generation - 1) % 255) * SCHEMA_SPAN,
                  HEAVY_NICE if heavy else 0))
        self.process.start()
        child.close()
        self.conn = parent
        self.lent: set[Lease] = set()
        self.lost = False
        self.thread = ThreadPoolExecutor(1, thread_name_prefix=f"propscope-pipe-{generation}")

    @property
    def leases(self) -> int:
        return len(self.lent)

    @property
    def pid(self) -> int | None:
        return self.process.pid

    async def call(self, kind: str, lease: int, body: object = None):
        if self.lost:
            raise WorkerLost
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.thread, self._roundtrip, (kind, lease, body))

    def _roundtrip(self, request: tuple):
        if self.lost:  # an earlier request in the queue found the process gone
            raise WorkerLost
        try:
            data = dumps(request)
        except (pickle.PicklingError, TypeError, AttributeError) as err:
            raise TrainingFailed(f"the request could not be pickled: {err!r}") from None
        try:
            self.conn.send_bytes(data)
        except OSError:
            self.lost = True
            log.warning(logfmt("training_process_lost", pid=self.pid,
                               exitcode=self.process.exitcode))
            raise WorkerLost from None
        try:
            status, value = loads(self.conn.recv_bytes())
        except (EOFError, OSError):
            self.lost = True
            log.warning(logfmt("training_process_lost", pid=self.pid,
                               exitcode=self.process.exitcode))
            raise WorkerLost from None
        if status == "error":
            raise TrainingFailed(value)
        return value

    def usable(self) -> bool:
        return not self.lost and self.process.is_alive()

    def close(self) -> None:
        self.lost = True
        self.conn.close()
        self.process.kill()
        self.thread.shutdown(wait=False, cancel_futures=True)


class Account:
    """A session's recent stepping time asked of the training processes (the chunk budgets of
    its turns, fading over ACCOUNT_S), whichever process served it: what fair moves compare.
    Recent, not total: a session that has played for an hour is not owed less now."""

    def __init__(self) -> None:
        self._served = 0.0
        self._at = time.monotonic()

    def add(self, seconds: float) -> None:
        self._served = self.served + seconds
        self._at = time.monotonic()

    @property
    def served(self) -> float:
        return self._served * math.exp((self._at - time.monotonic()) / ACCOUNT_S)


class Lease:
    """A session's runs held by one training process."""

    def __init__(self, process: TrainingProcess, lease_id: int, account: Account) -> None:
        self.process = process
        self.id = lease_id
        self.heavy = process.heavy
        self.account = account
        self.ended = False
        self.since = time.monotonic()
        process.lent.add(self)

    async def turn(self, runs: list | None, turn, checkpoint: bool) -> tuple:
        """One chunk; `runs` (the server's, pickled on the way) start the lease."""
        self.account.add(turn.budget)
        return await self.process.call("turn", self.id, (runs, turn, checkpoint))

    async def call(self, fn, args: tuple, checkpoint: bool) -> tuple:
        """fn(runs, *args) on the lent runs: (result, statuses, state or None)."""
        return await self.process.call("call", self.id, (fn, args, checkpoint))

    async def recall(self) -> bytes:
        self.end()
        return await self.process.call("recall", self.id)

    async def drop(self) -> None:
        self.end()
        try:
            await self.process.call("drop", self.id)
        except (WorkerLost, TrainingFailed):
            pass  # the process is gone or lost the lease already: nothing is held

    def end(self) -> None:
        if not self.ended:
            self.ended = True
            self.process.lent.discard(self)


class TrainingPool:
    def __init__(self, size: int) -> None:
        self.size = size
        self.light: list[TrainingProcess | None] = [None] * size
        self.heavy: TrainingProcess | None = None
        self._generations = itertools.count(1)
        self._ids = itertools.count(1)
        self._starting = asyncio.Lock()
        self.started = 0
        # One BLAS thread a process: the processes are one per core already, and OpenBLAS's
        # own threads made one frame's work take 185 ms of wall time for 32 ms of CPU.
        # (Read when the fork server first imports NumPy; a value set by the operator stands.)
        for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(name, "1")
        multiprocessing.get_context("forkserver").set_forkserver_preload(
            ["app.training_process"])

    async def lease(self, heavy: bool, account: Account,
                    moving_from: TrainingProcess | None = None) -> Lease:
        """A process for a session's runs: the heavy one, or the light one with the fewest
        sessions (on a tie, not the one the session is ``moving_from``)."""
        async with self._starting:
            if heavy:
                if self.heavy is None or not self.heavy.usable():
                    self.heavy = await self._start(self.heavy, True)
                process = self.heavy
            else:
                slot = min(range(self.size), key=lambda i: (
                    self._load(self.light[i]), self.light[i] is moving_from))
                if self.light[slot] is None or not self.light[slot].usable():
                    self.light[slot] = await self._start(self.light[slot], False)
                process = self.light[slot]
        return Lease(process, next(self._ids), account)

    def should_move(self, lease: Lease) -> bool:
        """Should a light lease move to the process with the fewest sessions (see ROTATE_S)?"""
        if lease.heavy or time.monotonic() - lease.since < ROTATE_S:
            return False
        target = min(self.light, key=self._load)
        gap = lease.process.leases - self._load(target)
        if target is None or gap <= 0:
            return gap >= 2  # an empty slot: a process would be started for it
        behind = lease.account.served + ROTATE_S / 4
        return gap >= 2 or any(other.account.served > behind for other in target.lent)

    @staticmethod
    def _load(process: TrainingProcess | None) -> int:
        return process.leases if process is not None and process.usable() else 0

    async def _start(self, old: TrainingProcess | None, heavy: bool) -> TrainingProcess:
        if old is not None:
            old.close()
        self.started += 1
        process = await asyncio.to_thread(TrainingProcess, next(self._generations), heavy)
        log.info(logfmt("training_process_started", pid=process.pid, heavy=heavy))
        return process

    def stats(self) -> dict:
        """For /api/health: each process (pid, heavy, sessions lent to it, alive) and how many
        have been started in all (more than the processes listed: some died)."""
        return {"size": self.size, "started": self.started, "processes": [
            {"pid": p.pid, "heavy": p.heavy, "leases": p.leases, "alive": p.usable()}
            for p in self.processes()]}

    def processes(self) -> list[TrainingProcess]:
        return [p for p in (*self.light, self.heavy) if p is not None]

    def close(self) -> None:
        for process in self.processes():
            process.close()
        self.light = [None] * self.size
        self.heavy = None
