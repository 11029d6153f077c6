"""A session: a client's place on the server — its runs, their shared pace, its socket.

Threading model: every session has one runner task on the event loop that handles its messages
in order and plays its runs between them. Playing, the runs step in a training process
(app/training_pool.py: every core, and the event loop never waits on the arithmetic), one chunk
of at most ``chunk_ms`` at a time; everything else that touches a trainer (a handler, a room's
copy, a save) first brings the runs back and runs in a worker thread (``executor``), one call at
a time per session. Without training processes (one core), playing uses the worker thread too.

What happens for each message type is in ``app/wiring.py`` (one table) and the handler modules
it names; this class only schedules, sends and holds state. Outgoing messages go to the attached
:class:`~app.connection.Connection` and to every tap (a room, a recording, the history).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
import time
from collections import deque
from concurrent.futures import Executor
from typing import Any

import numpy as np

from app.connection import Connection
from app.frames import Frame, Text, text
from app.lockstep import Turn, lockstep
from app.memory import array_bytes, step_bytes_estimate
from app.protocol import ProtocolError
from app.run import MAX_RUNS, Out, Pace, Rates, Run, full_state
from app.run_transfer import adopt
from app.security import logfmt
from app.settings import Settings
from app.training_pool import (
    CHECKPOINT_S,
    Account,
    Lease,
    TrainingFailed,
    TrainingPool,
    WorkerLost,
)
from engine.spec import Spec, SpecError
from engine.trainer import Trainer

log = logging.getLogger("propscope.session")

MAX_INBOX = 64
MAX_BACKLOG = 4  # queued outgoing messages above which a step frame is skipped
MIN_CHUNK_S = 0.0002  # the shortest stretch of stepping per chunk (fair share floor)
CROWD = 8  # sessions playing at once beyond which grids and evals are spaced out
LOST = "the training process ended; the run goes on from its last checkpoint"
FAILED = "training failed in its process (a bug, logged); the run is back at its last checkpoint"


def _quiet(fn, args):
    # A diverging run overflows on purpose; the client hears about it as a `diverged` message.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return fn(*args)


@dataclasses.dataclass
class Internal:
    """A message from the server itself, run in turn with the client's: `fn(session)`."""

    fn: Any
    type: str = "internal"
    id: None = None


class Load:
    """Shared between the sessions of a registry: how many are playing (for chunk sizes), the
    worker thread that heavy sessions use (see Session.heavy) and the training processes
    playing sessions step in (None: they step on the worker thread)."""

    playing: int = 0
    heavy_executor: Executor | None = None
    pool: TrainingPool | None = None

    @property
    def lanes(self) -> int:
        """How many sessions step at the same time (one per light training process)."""
        return self.pool.size if self.pool is not None else 1


class Session:
    def __init__(
        self,
        token: str,
        settings: Settings,
        executor: Executor,
        load: Load | None = None,
        client: str | None = None,
        trainer: Trainer | None = None,
    ) -> None:
        self.token = token
        self.id = secrets.token_hex(4)  # for logs: never log the token
        self.client = client
        self.load = load or Load()
        self.settings = settings
        self.executor = executor
        self.conn: Connection | None = None
        self.detached_at: float | None = time.monotonic()
        self.created = time.monotonic()
        self.inbox: deque[Any] = deque()
        self.wakeup = asyncio.Event()
        self.pace = Pace(fps=settings.display_fps)
        self.runs: list[Run] = [Run(trainer or Trainer(Spec()), "r0",
                                    grid_resolution=settings.grid_resolution)]
        self.run_count = 1  # ids handed out so far (a closed run's id is never reused)
        self.task: asyncio.Task | None = None
        self.play_t0 = 0.0
        self.play_steps = 0
        # Classroom hooks (app/rooms.py): callables tap(message) fed every message sent, already
        # encoded (Text knows its type, Frame its kind); ext = the classroom state.
        self.taps: list = []
        self.ext = None
        #: "student" (a tab), "teacher" (presents an open room: never evicted by others'
        #: sessions) or "handout" (a viewer's copy of a teacher's trainer).
        self.role = "student"
        #: A class challenge's step budget (app/challenges.py): play stops here, and steps
        #: beyond it are refused until the student resets. None: no limit.
        self.step_limit: int | None = None
        #: A session brought back after a restart (app/classroom_store.py): the SHA-256 of the
        #: resume token its owner will come back with (None: a session of this run).
        self.restored_from: str | None = None
        #: Set by the registry: memory_check(session, bytes) -> may this session hold that much
        #: more (app/sessions.py make_room)? None: no budget.
        self.memory_check = None
        #: the runs lent to a training process while playing (app/training_pool.py)
        self.lease: Lease | None = None
        self.lease_lock = asyncio.Lock()  # one use of the runs at a time: lent, or here
        self.checkpoint_at = 0.0
        self.account = Account()  # stepping time served by the training processes

    # --- runs ----------------------------------------------------------------------------------

    @property
    def run(self) -> Run:
        """The first run: the one shown alone, saved, exported and handed out."""
        return self.runs[0]

    @property
    def trainer(self) -> Trainer:
        return self.runs[0].trainer

    @property
    def playing(self) -> bool:
        return self.pace.playing

    @property
    def heavy(self) -> bool:
        return any(r.heavy for r in self.runs)

    def run_of(self, msg) -> Run:
        """The run a message is for (its `run` field; the first run when absent)."""
        wanted = getattr(msg, "run", None)
        if wanted is None:
            return self.runs[0]
        for r in self.runs:
            if r.id == wanted:
                return r
        raise ProtocolError("unknown_run", f"there is no run {wanted!r}; the session has "
                            f"{', '.join(r.id for r in self.runs)}")

    def new_run_id(self) -> str:
        if len(self.runs) >= MAX_RUNS:
            raise ProtocolError("too_many_runs", f"a session holds at most {MAX_RUNS} runs side "
                                "by side; close one first (close_run)")
        run_id = f"r{self.run_count}"
        self.run_count += 1
        return run_id

    def summaries(self) -> list[dict]:
        return [r.summary() for r in self.runs]

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._runner())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            try:
                await self.task
            except asyncio.CancelledError:
                pass  # what cancel() asked for
            except Exception:
                log.exception(logfmt("session_stop_failed", session=self.id))
        if self.lease is not None:
            lease, self.lease = self.lease, None
            await lease.drop()
        if self.conn is not None:
            await self.conn.close(1001, "session ended")

    def attach(self, conn: Connection, resumed: bool) -> Connection | None:
        """Make conn the session's socket; returns the connection it replaced, if any."""
        old, self.conn = self.conn, conn
        self.detached_at = None
        reason = "resume" if resumed else "connect"
        self.submit(Internal(lambda s: s.send_full_state(reason)))
        return old

    def detach(self, conn: Connection) -> None:
        if self.conn is conn:
            self.conn = None
            self.detached_at = time.monotonic()
            self.submit(Internal(_pause_detached))

    def submit(self, message: Any) -> None:
        """Queue a validated client message (or an internal one) for the runner."""
        if len(self.inbox) >= MAX_INBOX and not isinstance(message, Internal):
            raise ProtocolError(
                "busy", "too many messages are waiting for this session; slow down",
                id=message.id,
            )
        self.inbox.append(message)
        self.wakeup.set()

    # --- sending ---------------------------------------------------------------------------

    def send(self, message: dict | Out) -> None:
        """To the owner and every tap (room viewers, recording, history), encoded once."""
        if isinstance(message, dict):
            message = text(message)
        for tap in self.taps:
            try:
                tap(message)
            except Exception:  # one failing listener never silences the session
                log.exception(logfmt("tap_failed", session=self.id,
                                     kind=getattr(message, "type", None)))
        if self.conn is not None:
            self.conn.send(message)

    def send_all(self, messages: list[Out]) -> None:
        for message in messages:
            self.send(message)

    def ack(self, msg, **fields) -> None:
        self.send({"type": "ack", "id": msg.id, "of": msg.type, **fields})

    def send_state(self, items: list[Out]) -> None:
        """Send a full state (snapshot, frames…): the socket may hold it all at once, however
        large the published limits make it (finding 7: such clients were dropped)."""
        if self.conn is not None:
            self.conn.allowance = sum(len(i) for i in items)
        self.send_all(items)

    async def worker(self, fn, *args):
        """Run fn(*args) on the worker thread (the only place trainers are touched here), with
        the runs back from their training process first."""
        async with self.lease_lock:
            await self._settle()
            return await asyncio.get_running_loop().run_in_executor(
                self._executor(), _quiet, fn, args)

    async def settle(self) -> None:
        """Bring the runs back from their training process, if they are lent: what this
        session's objects hold is then the live state."""
        if self.lease is not None:
            async with self.lease_lock:
                await self._settle()

    async def _settle(self) -> None:
        lease, self.lease = self.lease, None
        if lease is None:
            return
        try:
            adopt(self.runs, await lease.recall())
        except WorkerLost:
            self._restore(LOST)
        except TrainingFailed as err:
            log.error(logfmt("recall_failed", session=self.id, detail=str(err)))
            self._restore(FAILED)

    def _restore(self, reason: str) -> None:
        """The runs were lost in their training process: go on from their last checkpoint
        here, and tell everyone who draws them how many steps were lost."""
        for r in self.runs:
            shown = r.step
            r.remote = None
            self.send(text({"type": "event", "event": "restored", "run": r.id, "step": r.step,
                            "lost_steps": max(0, shown - r.step), "reason": reason}))
        log.warning(logfmt("session_restored", session=self.id, step=self.run.step))
        self.submit(Internal(lambda s: s.send_full_state("restored")))

    def full_state(self, reason: str) -> list[Out]:
        """(Worker thread.) Every run's snapshot and frames: what a client needs to draw all."""
        return full_state(self.runs, self.pace, reason)

    async def send_full_state(self, reason: str) -> None:
        self.send_state(await self.runs_call(full_state, self.pace, reason))

    async def runs_call(self, fn, *args, checkpoint: bool = False):
        """fn(runs, *args) where the runs are: in their training process while lent (the
        runs stay there; ``checkpoint``: and their state comes back, for a change the server
        must keep), else on the worker thread. fn must pickle (a module's function)."""
        async with self.lease_lock:
            lease = self.lease
            if lease is not None:
                try:
                    result, statuses, state = await lease.call(fn, args, checkpoint)
                except WorkerLost:
                    self.lease = None
                    self._restore(LOST)
                except TrainingFailed as err:
                    self.lease = None
                    await lease.drop()
                    self._restore(FAILED)
                    raise RuntimeError(f"a call failed in the training process:\n{err}") from None
                else:
                    self._returned(statuses, state)
                    return result
            return await asyncio.get_running_loop().run_in_executor(
                self._executor(), _quiet, fn, (self.runs, *args))

    def _returned(self, statuses, state: bytes | None) -> None:
        if state is not None:
            adopt(self.runs, state)
            self.checkpoint_at = time.monotonic() + CHECKPOINT_S
        else:
            for r, remote in zip(self.runs, statuses, strict=True):
                r.follow(remote)

    def _executor(self) -> Executor:
        if self.heavy and self.load.heavy_executor is not None:
            # Fair share: sessions whose single step is long take turns on their own worker,
            # so a light session is never queued behind a step of a maximal network.
            return self.load.heavy_executor
        return self.executor

    # --- the runner ------------------------------------------------------------------------

    async def _runner(self) -> None:
        """Messages in order, play chunks between them. Nothing but cancellation ends it: a
        failure while playing stops play (logged, answered with an error) and the session, its
        socket and its room stay usable."""
        while True:
            try:
                while self.inbox:
                    await self._dispatch(self.inbox.popleft())
                if self.pace.playing:
                    await self._play_once()
                else:
                    await self.settle()  # not playing: the runs are kept here
                    self.wakeup.clear()
                    if not self.inbox:
                        await self.wakeup.wait()
            except asyncio.CancelledError:
                raise
            except Exception:
                await self._play_failed()

    async def _play_failed(self) -> None:
        log.exception(logfmt("play_failed", session=self.id, step=self.run.step))
        self.pace.playing = False
        try:
            self.send({"type": "error", "id": None, "code": "internal_error",
                       "message": "training stopped: the server failed while playing (a bug, "
                       "logged); the session is still usable"})
            self.send(self.status("error"))
        except Exception:  # the send path itself failed: logged, the runner carries on
            log.exception(logfmt("error_report_failed", session=self.id))

    async def _dispatch(self, message) -> None:
        from app.wiring import dispatch  # the table imports the handlers, which import this

        try:
            if isinstance(message, Internal):
                await message.fn(self)
            else:
                await dispatch(self, message)
        except ProtocolError as err:
            err.id = getattr(message, "id", None)
            self.send(err.reply())
        except Exception:
            log.exception(logfmt("handler_failed", session=self.id,
                                 message=getattr(message, "type", type(message).__name__)))
            self.send({"type": "error", "id": getattr(message, "id", None),
                       "code": "internal_error",
                       "message": "the server failed to handle this message (a bug); the "
                       "session is still usable"})

    # --- playing -------------------------------------------------------------------------------

    def start_playing(self, speed: float | str) -> None:
        was_playing = self.pace.playing
        self.pace.speed = speed
        self.pace.playing = True
        self.play_t0 = time.monotonic()
        self.play_steps = 0
        if not was_playing:
            for r in self.runs:
                r.start_playing(self.play_t0)

    async def _play_once(self) -> None:
        now = time.monotonic()
        max_steps = 1 << 30
        speed = self.pace.speed
        if speed != "max":
            due = int(speed * (now - self.play_t0)) + 1 - self.play_steps
            if due <= 0:
                wait = (self.play_steps / speed) - (now - self.play_t0)
                self.wakeup.clear()
                if not self.inbox:
                    try:
                        await asyncio.wait_for(self.wakeup.wait(), max(wait, 0.0005))
                    except TimeoutError:
                        pass
                return
            max_steps = due
        conn = self.conn
        budget = self.budget()
        want_frame = conn is not None and conn.backlog() <= MAX_BACKLOG
        self.pace.paced = want_frame and conn.credit.enabled
        if self.pace.paced:
            # Paced by the page's painting (app/pacing.py): the frame goes out at the end of a
            # chunk, so the chunk before it ends when the page is about to be ready and the
            # frame's own chunk is the shortest — the frame reaches the page fresh.
            wait = conn.credit.wait(self.run.id)
            want_frame = wait == 0.0
            budget = max(MIN_CHUNK_S, min(budget, wait)) if wait else MIN_CHUNK_S
        turn = Turn(max_steps, budget, want_frame, self.pace, self.rates(), self.step_limit)
        if self.load.pool is None:
            n, stop, out = await self.worker(lockstep, self.runs, turn)
        else:
            n, stop, out = await self._play_lent(turn)
        self.play_steps += n
        self.send_all(out)
        if stop is not None:
            await self.stop_playing(stop)

    async def _play_lent(self, turn: Turn) -> tuple[int, str | None, list[Out]]:
        """One chunk in a training process: lend the runs first if they are here, follow
        their numbers after it, keep a checkpoint every CHECKPOINT_S."""
        async with self.lease_lock:
            pool = self.load.pool
            moving_from = None
            if self.lease is not None and (self.lease.heavy != self.heavy
                                           or pool.should_move(self.lease)):
                # a run became heavy (to the heavy process), or another process has room
                moving_from = self.lease.process
                await self._settle()
            lent = None
            if self.lease is None:
                self.lease = await pool.lease(self.heavy, self.account, moving_from)
                lent = self.runs  # pickled by the pipe's thread
                self.checkpoint_at = time.monotonic() + CHECKPOINT_S
            checkpoint = time.monotonic() >= self.checkpoint_at
            try:
                n, stop, out, statuses, state = await self.lease.turn(lent, turn, checkpoint)
            except WorkerLost:
                self.lease = None
                self._restore(LOST)
                return 0, None, []
            except TrainingFailed as err:
                lease, self.lease = self.lease, None
                await lease.drop()
                self._restore(FAILED)
                raise RuntimeError(f"a chunk failed in the training process:\n{err}") from None
            self._returned(statuses, state)
            return n, stop, out

    def lockstep(self, max_steps: int, budget: float, want_frame: bool):
        """(Worker thread.) Step the runs together (app/lockstep.py) for one chunk."""
        return lockstep(self.runs, Turn(max_steps, budget, want_frame, self.pace, self.rates(),
                                        self.step_limit))

    def rates(self) -> Rates:
        return Rates(self.settings.eval_fps, self.settings.grid_fps, self.crowd())

    def budget(self) -> float:
        """Seconds of stepping in the next chunk: a fair share of one display frame.

        The worker takes chunks first come, first served, and every playing session has at most
        one chunk waiting, so sessions take turns (round robin). With many sessions playing,
        chunks shrink so that a whole round still fits in about one frame interval: every client
        keeps its frame rate and shares the training time equally.
        """
        budget = self.settings.chunk_ms / 1000.0
        playing = max(1, -(-self.load.playing // self.load.lanes))
        share = 1.0 / (self.settings.display_fps * playing) * 0.25
        return max(MIN_CHUNK_S, min(budget, share))

    def crowd(self) -> float:
        """≥ 1: how much to stretch grid and eval intervals when many sessions play at once
        (step frames keep their rate; the costlier, less urgent grids and evals give way)."""
        return max(1.0, self.load.playing / CROWD)

    def final_frames(self) -> list[Out]:
        """(Worker thread.) Every run's metrics, step frame and grid as they are now."""
        out: list[Out] = []
        for r in self.runs:
            out.extend(r.final_frames(self.pace))
        return out

    async def stop_playing(self, reason: str) -> None:
        self.pace.playing = False
        self.send_all(await self.worker(self.final_frames))
        self.send(self.status(reason))

    async def pause_quietly(self, reason: str = "pause") -> None:
        if self.pace.playing:
            self.pace.playing = False
            self.send(self.status(reason))

    def status(self, reason: str | None) -> Text:
        from app.views import status

        return text(status(self.run, self.pace, reason))

    def require_paused(self, what: str) -> None:
        if self.pace.playing:
            raise ProtocolError("bad_state", f"pause before asking for {what}")

    # --- replacing a run's trainer -------------------------------------------------------------

    async def build_trainer(self, make):
        """make() on the worker (spec problems answer invalid_spec), checked against the
        server's memory budget — the session is not changed. make may build a Trainer or a
        GeneticTrainer (whose `trainer` holds its best network)."""

        def build():
            try:
                built = make()
            except SpecError as err:
                raise ProtocolError(
                    "invalid_spec",
                    f"the spec was rejected: {err}",
                    {"problems": [list(p) for p in err.problems]},
                ) from None
            except ValueError as err:
                raise ProtocolError("invalid_spec", f"the spec was rejected: {err}") from None
            trainer = built if isinstance(built, Trainer) else built.trainer
            needed = array_bytes(trainer) + step_bytes_estimate(trainer)
            if not isinstance(built, Trainer):  # a population of parameter vectors, twice
                needed += 2 * built.population.nbytes
            return built, needed

        built, needed = await self.worker(build)
        if self.memory_check is not None and not self.memory_check(self, needed):
            raise ProtocolError(
                "server_busy",
                f"this needs about {needed / 2**20:.0f} MiB and the server's memory budget for "
                "sessions is used up; try a smaller network, data set or batch (the current "
                "state is kept)",
            )
        return built

    async def install_trainer(self, make, reason: str, lesson: str | None = None) -> None:
        """A new setup: pause, build a trainer with make() and make it the only run (a
        backprop run, with the first run's id)."""
        first = self.runs[0]
        if first.kind != "backprop":
            self.runs = [Run(first.trainer, first.id, grid_resolution=first.grid_resolution,
                             selected=first.selected), *self.runs[1:]]
        await self.replace_trainers([make], reason, lesson)

    async def replace_trainers(self, makes: list, reason: str,
                               lesson: str | None = None) -> None:
        """Pause, build one trainer per maker (the first runs, in order, get them; runs beyond
        are closed) and send everyone the new state. Nothing changes if any build fails."""
        await self.pause_quietly(reason)
        trainers = [await self.build_trainer(make) for make in makes]
        kept = self.runs[:len(trainers)]

        def install():
            for r, trainer in zip(kept, trainers, strict=True):
                r.set_trainer(trainer)
                r.lesson = lesson
            self.runs = kept
            return [*self.full_state(reason), *(r.metrics_message(True) for r in kept)]

        self.send_state(await self.worker(install))

    def memory_bytes(self) -> int:
        """Bytes of the arrays this session's trainers hold (for the registry's budget)."""
        return sum(array_bytes(r.trainer) for r in self.runs)


async def _pause_detached(session: Session) -> None:
    # Nobody is watching: stop training until a socket is attached again.
    session.pace.playing = False
    await session.settle()


__all__ = ["Session", "Load", "Internal", "Frame"]
