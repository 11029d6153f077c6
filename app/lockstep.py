"""Stepping a session's runs together: the one chunk of work a session asks for at a time.

A plain function of the runs and the session's settings, so that it runs the same on the
server's worker thread and in a training process (app/training_process.py).
"""

from __future__ import annotations

import dataclasses

from app.frames import text
from app.run import Out, Pace, Rates, Run


@dataclasses.dataclass
class Turn:
    """What one chunk is asked to do (all of it pickles: it crosses to a training process)."""

    max_steps: int
    budget: float  # seconds of stepping
    want_frame: bool
    pace: Pace
    rates: Rates
    step_limit: int | None = None  # a class challenge's step budget


def lockstep(runs: list[Run], turn: Turn) -> tuple[int, str | None, list[Out]]:
    """The first live backprop run steps for its share of the budget and every other one then
    takes exactly as many steps, so all stay on the same step and batch; a run without
    gradients (a GA) gets the same share of time instead. Returns (steps, stop reason, out)."""
    live = [r for r in runs if r.diverged is None]
    max_steps = turn.max_steps
    if turn.step_limit is not None:
        max_steps = min(max_steps, turn.step_limit - runs[0].step)
        if max_steps <= 0:
            return 0, "step_budget", []
    share = turn.budget / max(1, len(live))
    out: list[Out] = []
    n, stop = None, None
    for r in sorted(live, key=lambda r: r.kind != "backprop"):
        if r.kind != "backprop":
            chunk = r.chunk(max_steps, share, turn.want_frame, turn.pace, turn.rates)
        elif n is None:
            chunk = r.chunk(max_steps, share, turn.want_frame, turn.pace, turn.rates)
            n = chunk.steps
        else:
            chunk = r.chunk(n, float("inf"), turn.want_frame, turn.pace, turn.rates)
        out.extend(chunk.out)
        if chunk.stop == "diverged":
            out.append(text({"type": "diverged", "run": r.id,
                             **dataclasses.asdict(r.diverged)}))
            stop = stop or "diverged"
        elif chunk.stop is not None:
            stop = chunk.stop
        if n is None and r.kind != "backprop":
            n = chunk.steps
    return n or 0, stop, out
