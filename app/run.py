"""A run: one trainer and the views it streams — apart from any socket, loop or room.

A :class:`Run` is stepped and viewed only on the worker thread, one call at a time; its outputs
are messages (JSON text that knows its type, :class:`app.frames.Text`, or binary
:class:`app.frames.Frame`) returned to whoever drives it. A session drives up to
``MAX_RUNS`` runs in lockstep; nothing here knows who is listening.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from app import views
from app.frames import Frame, Text, text
from app.metrics import MetricsBuffer
from engine.cost import forward_multiply_adds
from engine.datasets import Dataset
from engine.spec import Spec
from engine.trainer import Trainer

MAX_RUNS = 4
MAX_DUTY = 0.25  # the largest share of a run's time spent on grids or evals
#: A step costing more than this cannot share the common worker fairly: one such step is more
#: than half a frame interval of everyone else's. Estimated from the spec (multiply-adds of a
#: forward and backward pass, HEAVY_FLOPS) and measured while stepping.
HEAVY_STEP_S = 0.02
#: Consecutive steps over HEAVY_STEP_S that make a run heavy: one slow step is a garbage
#: collection or a busy machine, not the network (it sent light runs to the heavy worker,
#: where they took 3–7× the steps of the others).
HEAVY_STREAK = 3
HEAVY_FLOPS = 1e8
FRAME_SLACK = 0.5  # of a frame interval: how early a step frame may be sent (Run.frame_due)

Out = Text | Frame


@dataclasses.dataclass
class Pace:
    """The session's clock, shared by its runs (they advance in lockstep)."""

    playing: bool = False
    speed: float | str = "max"
    fps: float = 30.0
    #: step frames paced by the page's painting (app/pacing.py): sent when the page is ready,
    #: not on the fps grid (fps stays their maximum rate)
    paced: bool = False


@dataclasses.dataclass
class Rates:
    """How often a playing run sends each view (from the server settings)."""

    eval_fps: float
    grid_fps: float
    crowd: float = 1.0  # ≥ 1: stretches grid and eval intervals when many sessions play


@dataclasses.dataclass
class Remote:
    """What the server shows of a run stepping in a training process (app/training_pool.py)
    between the times its whole state comes back: read by rooms, dashboards and statuses."""

    step: int
    last_eval: dict | None
    steps_per_s: float | None
    heavy: bool
    diverged: Any


@dataclasses.dataclass
class Chunk:
    steps: int
    stop: str | None
    out: list[Out]


def event(run: Run, name: str, **fields: Any) -> Text:
    """A state change, for everyone who draws the run: the owner, every room viewer, and any
    recording (docs/protocol.md §3 `event`)."""
    return text({"type": "event", "event": name, "run": run.id, "step": run.step, **fields})


class Run:
    """A backpropagation run (the engine's Trainer)."""

    kind = "backprop"

    def __init__(self, trainer: Trainer, run_id: str = "r0", *, grid_resolution: int = 64,
                 selected: tuple[int, str] = (0, "train"), lesson: str | None = None,
                 label: str = "") -> None:
        self.id = run_id
        self.label = label
        self.grid_resolution = grid_resolution
        self.selected = selected
        self.lesson = lesson
        self.seq = 0
        self.steps_per_s: float | None = None
        self.next_frame = self.next_grid = self.next_eval = 0.0
        self.frame_at = 0.0  # when the last step frame was made while playing
        self.rate_t = 0.0
        self.rate_step = 0
        #: while the run steps in a training process: its latest numbers (the trainer here is
        #: the state it was lent with, or its latest checkpoint)
        self.remote: Remote | None = None
        self.set_trainer(trainer)

    # --- the trainer ---------------------------------------------------------------------------

    @property
    def step(self) -> int:
        """Steps taken (generations, for a run without gradients), wherever the run steps."""
        return self.remote.step if self.remote is not None else self.counted()

    def counted(self) -> int:
        """Steps taken by the trainer held here."""
        return self.trainer.step_count

    def status(self) -> Remote:
        """(Training process.) What the server keeps of this run between its checkpoints."""
        return Remote(self.step, self.last_eval, self.steps_per_s, self.heavy, self.diverged)

    def follow(self, remote: Remote) -> None:
        """(Server.) The run steps elsewhere: show its latest numbers."""
        self.remote = remote
        self.last_eval = remote.last_eval
        self.steps_per_s = remote.steps_per_s
        self.heavy = remote.heavy
        self.diverged = remote.diverged

    def rebuilt(self, spec: Spec, dataset: Dataset) -> Trainer:
        """(Worker thread.) A new trainer of this run's kind for spec, at step 0, on dataset."""
        return Trainer(spec, dataset)

    def set_trainer(self, trainer: Trainer) -> None:
        self.samples_forward = 0  # samples that went through the network to train it so far
        self.compute_s = 0.0  # thread time spent stepping so far
        self.trainer = trainer
        self.spec = trainer.spec
        layers = trainer.network.layers
        per_sample = sum(forward_multiply_adds(layer.describe()) for layer in layers)
        # Two flops a multiply-add, three passes (forward, backward to δ, to the gradients).
        self.heavy = 6.0 * trainer.spec.training.batch_size * per_sample > HEAVY_FLOPS
        self.slow_streak = 0
        self.metrics = MetricsBuffer(len(trainer.network.layers))
        self.diverged = None
        self.last_eval: dict | None = None
        index, split = self.selected
        n = len(trainer.problem.x_train if split == "train" else trainer.problem.x_test)
        if index >= n:
            self.selected = (0, split)

    def summary(self) -> dict:
        """How the run is listed beside the others (snapshot `runs`)."""
        training = self.trainer.spec.training
        return {"id": self.id, "label": self.label, "trainer": self.kind, "step": self.step,
                "optimizer": training.optimizer.name,
                "learning_rate": training.optimizer.learning_rate}

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def start_playing(self, now: float) -> None:
        self.rate_t, self.rate_step = now, self.step
        self.steps_per_s = None
        self.next_frame = self.next_grid = self.next_eval = 0.0
        self.frame_at = 0.0

    # --- stepping (worker thread) --------------------------------------------------------------

    def chunk(self, max_steps: int, budget: float, want_frame: bool, pace: Pace,
              rates: Rates) -> Chunk:
        """Step for at most `budget` seconds and `max_steps` steps; lean steps until the last,
        which is recorded: it is the step a frame shows."""
        t = self.trainer
        metrics = self.metrics
        max_epochs = t.spec.training.max_epochs
        clock = time.perf_counter
        end = clock() + budget
        n = 0
        stop = None
        epoch_per_step = t.batch_size / len(t.problem.x_train)
        while n < max_steps:
            last = n == max_steps - 1 or clock() >= end
            if max_epochs is not None and t.epochs_done + epoch_per_step >= max_epochs:
                last = True
            started = time.thread_time()  # CPU time: waiting for the GIL does not count
            record = t.step(record=last)
            spent = time.thread_time() - started
            self.compute_s += spent
            self.samples_forward += t.batch_size
            self.timed_step(spent)
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
        out: list[Out] = []
        now = time.monotonic()
        if stop is None and want_frame and self.frame_due(now, pace):
            stop = self._frame_views(now, pace, rates, out)
        return Chunk(n, stop, out)

    def frame_due(self, now: float, pace: Pace) -> bool:
        """Is a step frame due? Paced by the page, whenever it is ready, up to fps. Otherwise on
        a fixed grid of fps, so the rate never exceeds it; stepping no faster than the display
        rate (30 steps/s at 30 fps) every step gets its frame: a step lands a little before or
        after its frame's time, and up to half an interval early counts (a strict test skipped
        every early one)."""
        if pace.paced:
            return now >= self.frame_at + (1.0 - FRAME_SLACK) / pace.fps
        slow = pace.speed != "max" and pace.speed <= pace.fps
        return now >= self.next_frame - (FRAME_SLACK / pace.fps if slow else 0.0)

    def timed_step(self, spent: float) -> None:
        """A step took ``spent`` seconds of CPU: a streak of long ones makes the run heavy (it
        then steps on the heavy worker, app/session.py)."""
        self.slow_streak = self.slow_streak + 1 if spent > HEAVY_STEP_S else 0
        if self.slow_streak >= HEAVY_STREAK:
            self.heavy = True

    def _frame_views(self, now: float, pace: Pace, rates: Rates, out: list[Out]) -> str | None:
        frame_dt = now - self.rate_t
        if frame_dt > 0:
            self.steps_per_s = (self.step - self.rate_step) / frame_dt
        self.rate_t, self.rate_step = now, self.step
        # On a fixed grid (not `now + period`): a chunk that ends a little late does not push
        # every later frame back, so the average rate stays at fps under load.
        period = 1.0 / pace.fps
        late = now - self.next_frame
        self.next_frame = (now if late > period else self.next_frame) + period
        self.frame_at = now
        with_eval = now >= self.next_eval
        out.append(self.metrics_message(with_eval))
        if with_eval:
            # A big network or data set makes evaluations slow: keep them to at most MAX_DUTY
            # of this run's time, whatever eval_fps says.
            cost = time.monotonic() - now
            self.next_eval = now + max(rates.crowd / rates.eval_fps, cost / MAX_DUTY)
        out.append(views.step_frame(self, pace))
        if now >= self.next_grid:
            t0 = time.monotonic()
            out.extend(views.grid_frames(self))
            cost = time.monotonic() - t0
            self.next_grid = t0 + max(rates.crowd / rates.grid_fps, cost / MAX_DUTY)
        if with_eval and self.last_eval is not None:
            target = self.trainer.spec.training.target_loss
            train_loss = self.last_eval["train_loss"]
            if target is not None and train_loss is not None and train_loss <= target:
                return "target_loss"
        return None

    # --- views (worker thread) -----------------------------------------------------------------

    def final_frames(self, pace: Pace) -> list[Out]:
        """Metrics (with an evaluation), step frame and grid: the state exactly as it is now."""
        return [self.metrics_message(True), views.step_frame(self, pace),
                *views.grid_frames(self)]

    def full_state(self, pace: Pace, reason: str, runs: list[dict]) -> list[Out]:
        """Snapshot, step frame, grid — what a client needs to draw the run."""
        snap = text(views.snapshot(self, pace, reason, runs))
        return [snap, *views.parameter_parts(self), views.step_frame(self, pace),
                *views.grid_frames(self)]

    def metrics_message(self, with_eval: bool) -> Text:
        return text({"type": "metrics", "run": self.id, "trainer": self.kind,
                     **self.metrics_body(with_eval)})

    def metrics_body(self, with_eval: bool) -> dict:
        """The steps since the last message (bucketed), an evaluation if asked, the cost."""
        body = self.metrics.flush(self.step + 1)
        if with_eval:
            self.last_eval = self.evaluate()
        body["eval"] = self.last_eval if with_eval else None
        body["cost"] = self.cost()
        return body

    def cost(self) -> dict:
        """What training has spent so far, comparable between kinds of run: samples pushed
        through the network and seconds of computing."""
        return {"samples_forward": self.samples_forward, "compute_s": self.compute_s}

    def evaluate(self) -> dict:
        t = self.trainer
        m = dataclasses.asdict(t.evaluate())
        m["epochs_done"] = t.epochs_done
        return m


def full_state(runs: list[Run], pace: Pace, reason: str) -> list[Out]:
    """Every run's snapshot and frames: what a client needs to draw them all."""
    summaries = [r.summary() for r in runs]
    return [out for r in runs for out in r.full_state(pace, reason, summaries)]


def for_run(runs: list[Run], run_id: str, fn, *args):
    """fn(the run with id run_id, *args): a run handler, wherever the runs are."""
    return fn(next(r for r in runs if r.id == run_id), *args)
