"""One training session: a Trainer, its play loop and the frames it streams.

Threading model: every session has one runner task on the event loop that owns the session's
state and handles its messages in order. Everything that touches the Trainer (stepping, encoding
frames, evaluating grids) runs in a worker thread (``executor``), one call at a time per session,
in chunks of at most ``chunk_ms`` of stepping, so the event loop is never blocked and messages are
handled between chunks. Outgoing messages go to the attached :class:`Connection`, whose own task
sends them; step frames are skipped (never queued) while the client lags behind.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import secrets
import time
from collections import deque
from concurrent.futures import Executor
from typing import Any

import numpy as np

from app import PROTOCOL_VERSION
from app import protocol as P
from app.connection import Connection
from app.drawable import undrawable_kinds
from app.frames import (
    KIND_GRID,
    KIND_LINE,
    KIND_PHASE,
    KIND_POINTS,
    KIND_STEP,
    dumps,
    encode_frame,
)
from app.memory import array_bytes, step_bytes_estimate
from app.metrics import MetricsBuffer
from app.protocol import ProtocolError
from app.security import logfmt
from app.settings import Settings
from engine.evaluation import evaluate_line, evaluate_plane
from engine.explain import explain_weight
from engine.spec import LIMITS, Spec, SpecError
from engine.trainer import Trainer

log = logging.getLogger("propscope.session")

MAX_INBOX = 64
GRID_BUDGET_BYTES = 2 * 1024 * 1024  # the largest grid frame (resolution adapts to fit)
MIN_GRID_RESOLUTION = 8
MAX_BACKLOG = 4  # queued outgoing messages above which a step frame is skipped


def _require_dense(trainer: Trainer) -> None:
    """The page streams and draws dense networks; convolutional and recurrent ones are refused
    with a reason (and where to use them) before the session adopts them."""
    kinds = undrawable_kinds(trainer.network.kinds)
    if kinds:
        raise ProtocolError(
            "unsupported_network",
            f"the page draws dense networks only for now; {', '.join(kinds)} layers train and "
            "are explained from Python (import engine, see docs/engine.md)",
        )


def _quiet(fn, args):
    # A diverging run overflows on purpose; the client hears about it as a `diverged` message.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return fn(*args)


@dataclasses.dataclass
class _Internal:
    kind: str  # "hello" | "detached"
    reason: str = ""


class Load:
    """Shared between the sessions of a registry: how many are playing (for chunk sizes), and
    the worker that heavy sessions step on (see Session.heavy)."""

    playing: int = 0
    heavy_executor: Executor | None = None


#: A step costing more than this cannot share the common worker fairly: one such step is more
#: than half a frame interval of everyone else's. Estimated from the spec (multiply-adds of a
#: forward and backward pass, HEAVY_FLOPS) and measured while stepping.
HEAVY_STEP_S = 0.02
HEAVY_FLOPS = 1e8


MIN_CHUNK_S = 0.0002  # the shortest stretch of stepping per chunk (fair share floor)
CROWD = 8  # sessions playing at once beyond which grids and evals are spaced out
MAX_DUTY = 0.25  # the largest share of a playing session's time spent on grids or evals


class Session:
    def __init__(
        self,
        token: str,
        settings: Settings,
        executor: Executor,
        load: Load | None = None,
        client: str | None = None,
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
        self.playing = False
        self.speed: float | str = "max"
        self.fps = settings.display_fps
        self.grid_resolution = settings.grid_resolution
        self.selected = (0, "train")
        self.seq = 0
        self.diverged = None
        self.steps_per_s: float | None = None
        self.last_eval: dict | None = None
        self._set_trainer(Trainer(Spec()))
        self._next_frame = self._next_grid = self._next_eval = 0.0
        self.task: asyncio.Task | None = None
        # Classroom hooks (app/rooms.py): callables tap(message, type) fed every message sent,
        # already encoded (type = a dict message's "type", None for text/binary); ext = its state.
        self.taps: list = []
        self.ext = None
        #: "student" (a tab), "teacher" (presents an open room: never evicted by others'
        #: sessions) or "handout" (a viewer's copy of a teacher's trainer).
        self.role = "student"
        #: Set by the registry: memory_check(session, bytes) -> may this session hold that much
        #: more (app/sessions.py make_room)? None: no budget.
        self.memory_check = None

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            try:
                await self.task
            except asyncio.CancelledError:
                pass  # what cancel() asked for
            except Exception:
                log.exception(logfmt("session_stop_failed", session=self.id))
        if self.conn is not None:
            await self.conn.close(1001, "session ended")

    def attach(self, conn: Connection, resumed: bool) -> Connection | None:
        """Make conn the session's socket; returns the connection it replaced, if any."""
        old, self.conn = self.conn, conn
        self.detached_at = None
        self.submit(_Internal("hello", "resume" if resumed else "connect"))
        return old

    def detach(self, conn: Connection) -> None:
        if self.conn is conn:
            self.conn = None
            self.detached_at = time.monotonic()
            self.submit(_Internal("detached"))

    def submit(self, message: Any) -> None:
        """Queue a validated client message (or an internal event) for the runner."""
        if len(self.inbox) >= MAX_INBOX and not isinstance(message, _Internal):
            raise ProtocolError(
                "busy", "too many messages are waiting for this session; slow down",
                id=message.id,
            )
        self.inbox.append(message)
        self.wakeup.set()

    # --- sending ---------------------------------------------------------------------------

    def send(self, message: dict | str | bytes) -> None:
        if self.taps:  # a room's viewers, a recording, the metrics history
            kind = None
            if isinstance(message, dict):
                kind = message.get("type")
                message = dumps(message)
            for tap in self.taps:
                try:
                    tap(message, kind)
                except Exception:  # one failing listener never silences the session
                    log.exception(logfmt("tap_failed", session=self.id, kind=kind))
        if self.conn is None:
            return
        if isinstance(message, dict):
            message = dumps(message)
        self.conn.send(message)

    def _ack(self, msg, **fields) -> None:
        self.send({"type": "ack", "id": msg.id, "of": msg.type, **fields})

    async def _worker(self, fn, *args):
        executor = self.executor
        if self.heavy and self.load.heavy_executor is not None:
            # Fair share: sessions whose single step is long take turns on their own worker,
            # so a light session is never queued behind a step of a maximal network.
            executor = self.load.heavy_executor
        return await asyncio.get_running_loop().run_in_executor(executor, _quiet, fn, args)

    # --- the runner ------------------------------------------------------------------------

    async def _run(self) -> None:
        """The runner: messages in order, play chunks between them. Nothing but cancellation
        ends it: a failure while playing stops play (logged, answered with an error) and the
        session, its socket and its room stay usable."""
        while True:
            try:
                while self.inbox:
                    await self._dispatch(self.inbox.popleft())
                if self.playing:
                    await self._play_once()
                else:
                    self.wakeup.clear()
                    if not self.inbox:
                        await self.wakeup.wait()
            except asyncio.CancelledError:
                raise
            except Exception:
                await self._play_failed()

    async def _play_failed(self) -> None:
        """One error path for the play loop: log with the session id, stop, tell the client."""
        log.exception(logfmt("play_failed", session=self.id, step=self.trainer.step_count))
        self.playing = False
        try:
            self.send({"type": "error", "id": None, "code": "internal_error",
                       "message": "training stopped: the server failed while playing (a bug, "
                       "logged); the session is still usable"})
            self.send(self._status("error"))
        except Exception:  # the send path itself failed: logged, the runner carries on
            log.exception(logfmt("error_report_failed", session=self.id))

    async def _dispatch(self, message) -> None:
        try:
            if isinstance(message, _Internal):
                if message.kind == "hello":
                    await self._hello(message.reason)
                elif message.kind == "detached" and self.playing:
                    self.playing = False
                return
            handler = getattr(self, "_on_" + message.type, None)
            if handler is None:  # a message type registered by app/rooms.py, app/experiments.py
                await message.handle(self)
            else:
                await handler(message)
        except ProtocolError as err:
            err.id = getattr(message, "id", None)
            self.send(err.reply())
        except Exception:
            log.exception(logfmt("handler_failed", session=self.id,
                                 message=getattr(message, "type", type(message).__name__)))
            self.send(
                {
                    "type": "error",
                    "id": getattr(message, "id", None),
                    "code": "internal_error",
                    "message": "the server failed to handle this message (a bug); "
                    "the session is still usable",
                }
            )

    async def _play_once(self) -> None:
        now = time.monotonic()
        max_steps = 1 << 30
        if self.speed != "max":
            due = int(self.speed * (now - self._play_t0)) + 1 - self._play_steps
            if due <= 0:
                wait = (self._play_steps / self.speed) - (now - self._play_t0)
                self.wakeup.clear()
                if not self.inbox:
                    try:
                        await asyncio.wait_for(self.wakeup.wait(), max(wait, 0.0005))
                    except TimeoutError:
                        pass
                return
            max_steps = due
        want_frame = self.conn is not None and self.conn.backlog() <= MAX_BACKLOG
        result = await self._worker(self._chunk, max_steps, self._budget(), want_frame)
        n, stop, outputs = result
        self._play_steps += n
        for item in outputs:
            self.send(item)
        if stop is not None:
            await self._stop_playing(stop)

    def _budget(self) -> float:
        """Seconds of stepping in the next chunk: a fair share of one display frame.

        The worker takes chunks first come, first served, and every playing session has at most
        one chunk waiting, so sessions take turns (round robin). With many sessions playing,
        chunks shrink so that a whole round still fits in about one frame interval: every client
        keeps its frame rate and shares the training time equally.
        """
        budget = self.settings.chunk_ms / 1000.0
        playing = max(1, self.load.playing)
        share = 1.0 / (self.settings.display_fps * playing) * 0.25
        return max(MIN_CHUNK_S, min(budget, share))

    def _crowd(self) -> float:
        """≥ 1: how much to stretch grid and eval intervals when many sessions play at once
        (step frames keep their rate; the costlier, less urgent grids and evals give way)."""
        return max(1.0, self.load.playing / CROWD)

    async def _stop_playing(self, reason: str) -> None:
        self.playing = False
        outputs = await self._worker(self._final_frames)
        for item in outputs:
            self.send(item)
        if reason == "diverged" and self.diverged is not None:
            self.send({"type": "diverged", **dataclasses.asdict(self.diverged)})
        self.send(self._status(reason))

    def _status(self, reason: str | None) -> dict:
        t = self.trainer
        return {
            "type": "status",
            "playing": self.playing,
            "speed": self.speed,
            "step": t.step_count,
            "epoch": t.epoch,
            "epochs_done": t.epochs_done,
            "reason": reason,
            "steps_per_s": self.steps_per_s,
        }

    # --- worker-thread functions (the only code that touches the trainer) --------------------

    def _set_trainer(self, trainer: Trainer) -> None:
        self.trainer = trainer
        self.spec = trainer.spec
        weights = sum(layer.weight.size for layer in trainer.network.layers)
        self.heavy = 6.0 * trainer.spec.training.batch_size * weights > HEAVY_FLOPS
        self.metrics = MetricsBuffer(len(trainer.network.layers))
        self.diverged = None
        self.last_eval = None
        index, split = self.selected
        n = len(trainer.problem.x_train if split == "train" else trainer.problem.x_test)
        if index >= n:
            self.selected = (0, split)

    def _chunk(self, max_steps: int, budget: float, want_frame: bool):
        """Step for at most `budget` seconds; returns (steps, stop reason, messages to send)."""
        t = self.trainer
        metrics = self.metrics
        max_epochs = t.spec.training.max_epochs
        clock = time.perf_counter
        end = clock() + budget
        n = 0
        stop = None
        epoch_per_step = t.batch_size / len(t.problem.x_train)
        while n < max_steps:
            # Lean steps until the chunk's last one, which is recorded: it is the step a frame
            # shows (and a run about to reach max_epochs ends on a recorded step too).
            last = n == max_steps - 1 or clock() >= end
            if max_epochs is not None and t.epochs_done + epoch_per_step >= max_epochs:
                last = True
            started = time.thread_time()  # CPU time: waiting for the GIL does not count
            record = t.step(record=last)
            if time.thread_time() - started > HEAVY_STEP_S:
                self.heavy = True
            metrics.add(record)
            n += 1
            if record.divergence is not None:
                self.diverged = record.divergence
                stop = "diverged"
                break
            if max_epochs is not None and t.epochs_done >= max_epochs:
                stop = "max_epochs"
                break
            if last:
                break
        outputs: list[str | bytes] = []
        now = time.monotonic()
        if stop is None and want_frame and now >= self._next_frame:
            frame_dt = now - self._rate_t
            if frame_dt > 0:
                self.steps_per_s = (t.step_count - self._rate_step) / frame_dt
            self._rate_t, self._rate_step = now, t.step_count
            # On a fixed grid (not `now + period`): a chunk that ends a little late does not
            # push every later frame back, so the average rate stays at fps under load.
            period = 1.0 / self.fps
            late = now - self._next_frame
            self._next_frame = (now if late > period else self._next_frame) + period
            with_eval = now >= self._next_eval
            outputs.append(self._metrics_message(with_eval))
            if with_eval:
                # A big network or data set makes evaluations slow: keep them to at most
                # MAX_DUTY of this session's time, whatever eval_fps says.
                cost = time.monotonic() - now
                self._next_eval = now + max(self._crowd() / self.settings.eval_fps,
                                            cost / MAX_DUTY)
            outputs.append(self._step_frame())
            if now >= self._next_grid:
                t0 = time.monotonic()
                outputs.extend(self._grid_frames())
                cost = time.monotonic() - t0
                self._next_grid = t0 + max(self._crowd() / self.settings.grid_fps,
                                           cost / MAX_DUTY)
            if with_eval and self.last_eval is not None:
                target = t.spec.training.target_loss
                train_loss = self.last_eval["train_loss"]
                if target is not None and train_loss is not None and train_loss <= target:
                    stop = "target_loss"
        return n, stop, outputs

    def _final_frames(self) -> list[str | bytes]:
        """Metrics (with an evaluation), step frame and grid: the state exactly as it is now."""
        return [self._metrics_message(True), self._step_frame(), *self._grid_frames()]

    def _metrics_message(self, with_eval: bool) -> str:
        body = self.metrics.flush(self.trainer.step_count + 1)
        if with_eval:
            self.last_eval = self._evaluate()
        body["eval"] = self.last_eval if with_eval else None
        return dumps({"type": "metrics", **body})

    def _evaluate(self) -> dict:
        t = self.trainer
        m = dataclasses.asdict(t.evaluate())
        m["epochs_done"] = t.epochs_done
        return m

    def _next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def _step_frame(self) -> bytes:
        t = self.trainer
        arrays: list[tuple[str, np.ndarray]] = []
        for k, layer in enumerate(t.network.layers):
            arrays.append((f"W.{k}", layer.weight))
            arrays.append((f"b.{k}", layer.bias))
        record = t.last_record
        header: dict[str, Any] = {
            "epoch": t.epoch,
            "epochs_done": t.epochs_done,
            "playing": self.playing,
            "steps_per_s": self.steps_per_s if self.playing else None,
            "loss": None,
            "data_loss": None,
            "penalty": None,
            "learning_rate": t.optimizer.learning_rate,
            "batch": None,
            "sent_at": time.time(),
        }
        if record is not None and record.complete:
            header.update(
                loss=record.total_loss,
                data_loss=record.data_loss,
                penalty=record.penalty,
                batch=record.batch_indices.tolist(),
            )
            for k, tr in enumerate(record.layers):
                arrays.append((f"gW.{k}", tr.weight_grad))
                arrays.append((f"gWd.{k}", tr.weight_grad_data))
                arrays.append((f"gb.{k}", tr.bias_grad))
                arrays.append((f"uW.{k}", tr.weight_update))
                arrays.append((f"ub.{k}", tr.bias_update))
        index, split = self.selected
        traced = t.trace_samples([index], split)
        for k, tr in enumerate(traced.layers):
            arrays.append((f"s.x.{k}", tr.input[0]))
            arrays.append((f"s.z.{k}", tr.pre_activation[0]))
            arrays.append((f"s.a.{k}", tr.activation[0]))
            arrays.append((f"s.ga.{k}", tr.grad_activation[0]))
            arrays.append((f"s.d.{k}", tr.delta[0]))
        header["sample"] = {
            "index": index,
            "split": split,
            "loss": float(traced.sample_losses[0]),
            "target": traced.targets[0].tolist(),
            "output": traced.outputs[0].tolist(),
        }
        return encode_frame(KIND_STEP, self._next_seq(), t.step_count, header, arrays)

    def _grid_frames(self) -> list[bytes]:
        t = self.trainer
        info = t.dataset.info
        if info.plane and t.dataset.bounds is not None:
            r = self.effective_grid_resolution()
            g = evaluate_plane(t, r)
            arrays = [("in", g.inputs.T.reshape(-1, r, r))]
            arrays += [(f"L.{k}", a.T.reshape(-1, r, r)) for k, a in enumerate(g.layers)]
            header = {"resolution": r, "bounds": list(g.bounds)}
            return [encode_frame(KIND_GRID, self._next_seq(), t.step_count, header, arrays)]
        if t.dataset.x_train.shape[1] == 1:
            line = evaluate_line(t)
            arrays = [("x", line.x), ("in", line.inputs.T), ("fit", line.fit.T)]
            arrays += [(f"L.{k}", a.T) for k, a in enumerate(line.layers)]
            header = {"points": len(line.x), "range": [float(line.x[0]), float(line.x[-1])]}
            return [encode_frame(KIND_LINE, self._next_seq(), t.step_count, header, arrays)]
        # Neither a plane nor a line to draw (house prices, iris, CSV data): the network's
        # output for every data row, so the page can plot predicted against actual.
        problem = t.problem
        outputs = problem.outputs_in_units  # predicted against actual, in the target's units
        arrays = [("out.train", outputs(t.network.predict(problem.x_train)))]
        if len(problem.x_test):
            arrays.append(("out.test", outputs(t.network.predict(problem.x_test))))
        header = {"n_train": len(problem.x_train), "n_test": len(problem.x_test)}
        return [encode_frame(KIND_POINTS, self._next_seq(), t.step_count, header, arrays)]

    def effective_grid_resolution(self) -> int:
        """The asked-for resolution, lowered so a grid frame (every input and neuron's
        thumbnail, float32) fits GRID_BUDGET_BYTES: a 10×150 network at 128×128 would be 98 MB
        a frame. The frame's header says which resolution it has."""
        layers = self.trainer.network.layers
        channels = layers[0].weight.shape[0] + sum(layer.weight.shape[1] for layer in layers)
        fits = math.isqrt(GRID_BUDGET_BYTES // (4 * channels))
        return max(MIN_GRID_RESOLUTION, min(self.grid_resolution, fits))

    def _grid_kind(self) -> str | None:
        t = self.trainer
        if t.dataset.info.plane and t.dataset.bounds is not None:
            return "grid"
        if t.dataset.x_train.shape[1] == 1:
            return "line"
        return "points"

    def _snapshot(self, reason: str) -> str:
        t = self.trainer
        ds = t.dataset
        net = t.network
        problem = t.problem
        self.last_eval = self._evaluate()
        snapshot = {
            "type": "snapshot",
            "reason": reason,
            "protocol": PROTOCOL_VERSION,
            "spec": t.spec.to_dict(),
            "network": {
                "sizes": net.sizes,
                "parameter_count": net.parameter_count,
                "layers": [
                    {
                        "index": k,
                        "fan_in": layer.fan_in,
                        "units": layer.units,
                        "activation": layer.activation.name,
                        "dropout": layer.dropout,
                    }
                    for k, layer in enumerate(net.layers)
                ],
                "output_activation": net.layers[-1].activation.name,
                "loss": t.spec.training.loss,
                "optimizer": t.spec.training.optimizer.name,
            },
            "parameters": [
                {"weight": layer.weight.tolist(), "bias": layer.bias.tolist()}
                for layer in net.layers
            ],
            "data": {
                "dataset": dataclasses.asdict(ds.info),
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
                "step": t.step_count,
                "epoch": t.epoch,
                "epochs_done": t.epochs_done,
                "playing": self.playing,
                "speed": self.speed,
                "fps": self.fps,
                "selected": {"sample": self.selected[0], "split": self.selected[1]},
                "in_step": t.in_step,
                "phase_count": len(self.trainer.plan),
                "diverged": dataclasses.asdict(self.diverged) if self.diverged else None,
                "grid_resolution": self.grid_resolution,
                "metrics": self.last_eval,
            },
        }
        return dumps(snapshot)

    def _full_state(self, reason: str) -> list[str | bytes]:
        """Snapshot, step frame, grid — what a client needs to draw everything."""
        return [self._snapshot(reason), self._step_frame(), *self._grid_frames()]

    # --- message handlers (on the loop; trainer work goes to the worker) ----------------------

    def send_state(self, items: list[str | bytes]) -> None:
        """Send a full state (snapshot, frames…): the socket may hold it all at once, however
        large the published limits make it (finding 7: such clients were dropped)."""
        if self.conn is not None:
            self.conn.allowance = sum(len(i) for i in items)
        for item in items:
            self.send(item)

    async def _hello(self, reason: str) -> None:
        self.send_state(await self._worker(self._full_state, reason))

    def _require_paused(self, what: str) -> None:
        if self.playing:
            raise ProtocolError("bad_state", f"pause before asking for {what}")

    def _require_finite(self) -> None:
        if self.diverged is not None:
            raise ProtocolError(
                "bad_state",
                f"the run diverged at step {self.diverged.step}; reset, regenerate or "
                "configure to start again",
            )

    async def _pause_quietly(self) -> None:
        if self.playing:
            self.playing = False
            self.send(self._status("pause"))

    async def install_trainer(self, make, reason: str) -> None:
        """Pause, build a trainer with make() on the worker (spec problems answer
        invalid_spec) and send the full state, as configure does."""

        def build():
            try:
                trainer = make()
            except SpecError as err:
                raise ProtocolError(
                    "invalid_spec",
                    f"the spec was rejected: {err}",
                    {"problems": [list(p) for p in err.problems]},
                ) from None
            except ValueError as err:
                raise ProtocolError("invalid_spec", f"the spec was rejected: {err}") from None
            _require_dense(trainer)
            return trainer, array_bytes(trainer) + step_bytes_estimate(trainer.spec)

        def install(trainer):
            self._set_trainer(trainer)
            return [*self._full_state(reason), self._metrics_message(True)]

        if self.playing:
            self.playing = False
            self.send(self._status(reason))
        trainer, needed = await self._worker(build)
        if self.memory_check is not None and not self.memory_check(self, needed):
            raise ProtocolError(
                "server_busy",
                f"this needs about {needed / 2**20:.0f} MiB and the server's memory budget for "
                "sessions is used up; try a smaller network, data set or batch (the current "
                "state is kept)",
            )
        self.send_state(await self._worker(install, trainer))

    def memory_bytes(self) -> int:
        """Bytes of the arrays this session's trainer holds (for the registry's budget)."""
        return array_bytes(self.trainer)

    async def _replace_trainer(self, make, reason: str, msg, **ack) -> None:
        await self.install_trainer(make, reason)
        self._ack(msg, step=0, **ack)

    async def _on_configure(self, msg: P.Configure) -> None:
        def make():
            return Trainer(Spec.from_dict(msg.spec))

        await self._replace_trainer(make, "configure", msg)

    async def _on_reset(self, msg: P.Reset) -> None:
        spec = self.spec.copy()
        if msg.reinitialize:
            spec.network.seed = secrets.randbelow(LIMITS["max_seed"] + 1)
            spec.training.seed = secrets.randbelow(LIMITS["max_seed"] + 1)
        dataset = self.trainer.dataset
        await self._replace_trainer(
            lambda: Trainer(spec, dataset), "reset", msg, seed=spec.network.seed
        )

    async def _on_regenerate(self, msg: P.Regenerate) -> None:
        spec = self.spec.copy()
        seed = msg.seed if msg.seed is not None else secrets.randbelow(LIMITS["max_seed"] + 1)
        spec.data.seed = seed
        await self._replace_trainer(lambda: Trainer(spec), "regenerate", msg, seed=seed)

    async def _on_play(self, msg: P.Play) -> None:
        self._require_finite()
        was_playing = self.playing
        self.speed = msg.speed
        self.playing = True
        self._play_t0 = time.monotonic()
        self._play_steps = 0
        if not was_playing:
            self._rate_t, self._rate_step = self._play_t0, self.trainer.step_count
            self.steps_per_s = None
            self._next_frame = self._next_grid = self._next_eval = 0.0
        self.send(self._status("play"))
        self._ack(msg, playing=True, speed=self.speed)

    async def _on_pause(self, msg: P.Pause) -> None:
        if self.playing:
            await self._stop_playing("pause")
        self._ack(msg, playing=False, step=self.trainer.step_count)

    async def _on_step(self, msg: P.Step) -> None:
        self._require_paused("single steps")
        self._require_finite()
        remaining = msg.n
        budget = self.settings.chunk_ms / 1000.0
        stop = None
        while remaining > 0 and stop is None:
            n, stop, _ = await self._worker(self._chunk, remaining, budget, False)
            remaining -= n
        if stop == "diverged":
            await self._stop_playing("diverged")
        else:
            for item in await self._worker(self._final_frames):
                self.send(item)
        self._ack(msg, step=self.trainer.step_count, stopped=stop)

    async def _on_phase(self, msg: P.PhaseStep) -> None:
        self._require_paused("a single phase")
        self._require_finite()

        def run():
            t = self.trainer
            phase = t.next_phase()
            record = phase.record
            count = len(t.plan)
            info = {
                "kind": phase.kind,
                "layer": phase.layer,
                "title": phase.title,
                "index": record.phases_done,
                "count": count,
            }
            header: dict[str, Any] = {"phase": info, "batch": record.batch_indices.tolist()}
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
            out = [encode_frame(KIND_PHASE, self._next_seq(), t.step_count, header, arrays)]
            if phase.kind == "update":
                self.metrics.add(record)
                if record.divergence is not None:
                    self.diverged = record.divergence
                else:
                    out.extend(self._final_frames())
            return info, out

        info, out = await self._worker(run)
        for item in out:
            self.send(item)
        if self.diverged is not None and info["kind"] == "update":
            await self._stop_playing("diverged")
        self._ack(msg, phase=info, step=self.trainer.step_count)

    async def _on_set(self, msg: P.SetHyper) -> None:
        def apply():
            t = self.trainer
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
            return dataclasses.asdict(t.spec.training)

        training = await self._worker(apply)
        self._ack(msg, training=training)

    async def _on_select(self, msg: P.Select) -> None:
        problem = self.trainer.problem
        n = len(problem.x_train if msg.split == "train" else problem.x_test)
        if msg.sample >= n:
            raise ProtocolError(
                "bad_index", f"sample {msg.sample} does not exist; the {msg.split} set has {n}"
            )
        self.selected = (msg.sample, msg.split)
        self.send(await self._worker(self._step_frame))
        self._ack(msg, sample=msg.sample, split=msg.split)

    async def _on_explain(self, msg: P.Explain) -> None:
        sample = msg.sample
        if sample is None:
            sample = self.selected[0] if self.selected[1] == "train" else 0

        def run():
            try:
                return explain_weight(self.trainer, msg.layer, msg.source, msg.target, sample)
            except (ValueError, IndexError) as err:
                raise ProtocolError("bad_index", str(err)) from None

        explanation = await self._worker(run)
        self.send({"type": "explanation", "id": msg.id, **dataclasses.asdict(explanation)})
        self._ack(msg)

    async def _on_grid(self, msg: P.Grid) -> None:
        if msg.resolution is not None:
            self.grid_resolution = msg.resolution
        for item in await self._worker(self._grid_frames):
            self.send(item)
        self._ack(msg, evaluation=self._grid_kind(), resolution=self.grid_resolution,
                  effective_resolution=self.effective_grid_resolution())

    async def _on_set_weight(self, msg: P.SetWeight) -> None:
        def edit():
            t = self.trainer
            layers = t.network.layers
            if msg.layer >= len(layers):
                raise ProtocolError(
                    "bad_index", f"layer {msg.layer} does not exist; there are {len(layers)}"
                )
            layer = layers[msg.layer]
            if msg.target >= layer.units:
                raise ProtocolError(
                    "bad_index",
                    f"layer {msg.layer} has neurons 0…{layer.units - 1}, not {msg.target}",
                )
            if msg.source is not None and msg.source >= layer.fan_in:
                raise ProtocolError(
                    "bad_index",
                    f"layer {msg.layer} has inputs 0…{layer.fan_in - 1}, not {msg.source}",
                )
            t.edit_parameter(msg.layer, msg.source, msg.target, msg.value)
            return self._final_frames()

        for item in await self._worker(edit):
            self.send(item)
        self._ack(msg, layer=msg.layer, source=msg.source, target=msg.target, value=msg.value)

    async def _on_set_fps(self, msg: P.SetFps) -> None:
        if msg.fps > self.settings.max_fps:
            raise ProtocolError(
                "invalid_message", f"fps must be at most {self.settings.max_fps:g}"
            )
        self.fps = msg.fps
        self._next_frame = 0.0
        self._ack(msg, fps=self.fps)

    async def _on_snapshot(self, msg: P.SnapshotRequest) -> None:
        self.send_state(await self._worker(self._full_state, "request"))
        self._ack(msg)

    async def _on_ping(self, msg: P.Ping) -> None:
        t = msg.t if msg.t is None or math.isfinite(msg.t) else None
        self.send({"type": "pong", "id": msg.id, "t": t, "server_time": time.time()})

    # --- bookkeeping ---------------------------------------------------------------------------

    _play_t0 = 0.0
    _play_steps = 0
    _rate_t = 0.0
    _rate_step = 0
