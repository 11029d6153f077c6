"""When a run sends its step frames, and when it counts as heavy (app/run.py)."""

from __future__ import annotations

from app.frames import KIND_STEP
from app.run import Pace, Rates, Run
from engine.spec import Spec
from engine.trainer import Trainer


def _step_frames(run: Run, times: list[float], monkeypatch, speed: float | str) -> int:
    clock = {"now": 0.0}
    monkeypatch.setattr("app.run.time.monotonic", lambda: clock["now"])
    pace = Pace(playing=True, speed=speed, fps=30.0)
    rates = Rates(eval_fps=5.0, grid_fps=5.0)
    run.start_playing(times[0])
    frames = 0
    for t in times:
        clock["now"] = t
        chunk = run.chunk(1, 1.0, True, pace, rates)
        frames += sum(1 for m in chunk.out if getattr(m, "kind", None) == KIND_STEP)
    return frames


def test_stepping_at_the_display_rate_sends_a_frame_for_every_step(monkeypatch):
    # 30 steps a second, each landing up to 5 ms before or after its frame's time
    times = [10.0 + k / 30 + (-0.005 if k % 2 else 0.005) for k in range(60)]
    assert _step_frames(Run(Trainer(Spec())), times, monkeypatch, 30.0) == 60


def test_at_max_speed_frames_keep_to_the_display_rate(monkeypatch):
    times = [10.0 + k / 300 for k in range(300)]  # 300 steps in one second
    frames = _step_frames(Run(Trainer(Spec())), times, monkeypatch, "max")
    assert frames == 30


def test_one_slow_step_does_not_make_a_light_run_heavy():
    run = Run(Trainer(Spec()))
    for spent in (0.0001, 0.05, 0.0001, 0.05, 0.05, 0.0001):  # a collection, a busy moment
        run.timed_step(spent)
    assert not run.heavy


def test_a_streak_of_slow_steps_makes_the_run_heavy():
    run = Run(Trainer(Spec()))
    for spent in (0.05, 0.05, 0.05):
        run.timed_step(spent)
    assert run.heavy
