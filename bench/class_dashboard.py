"""What the teacher's class dashboard costs the event loop: one tick for a class of N copies.

Real sessions with real trainers (the default 2-4-2-1 network on the circle data, each copy
stepped and evaluated, with its own real grid frame at the server's grid resolution); one tick
is what app/classroom_messages.py ``tick`` does every 0.5 s: every row (step, latest evaluation,
spec diff, thumbnail) and the JSON text. Two cases: no copy has sent a new grid frame since the
last tick (thumbnails reused), and every copy has (the worst case, every copy playing while grid
frames come at ``grid_fps``: at most ``THUMBS_PER_TICK`` thumbnails are made again per tick, those
waiting longest first). A copy's changed settings are worked out again only when its spec (or
the reference) changed.

Writes its section of docs/performance.md between ``<!-- bench:class-dashboard -->`` and
``<!-- /bench:class-dashboard -->``. Usage: ``python bench/class_dashboard.py [--students 40 250]
[--no-write]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import secrets
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app import classroom as C  # noqa: E402
from app import views  # noqa: E402
from app.frames import dumps  # noqa: E402
from app.rooms import Room  # noqa: E402
from app.session import Session  # noqa: E402
from app.settings import Settings  # noqa: E402
from bench.perf_doc import write_section  # noqa: E402

REPEATS = 20


def make_class(n: int, settings: Settings, executor) -> C.Classroom:
    teacher = Session(secrets.token_urlsafe(8), settings, executor)
    room = Room("BENCH1", teacher, "http://127.0.0.1/r/BENCH1")
    classroom = C.classroom_of(room)
    classroom.baseline = teacher.trainer.spec.to_dict()
    for k in range(n):
        copy = Session(secrets.token_urlsafe(8), settings, executor)
        t = copy.trainer
        if k % 3 == 0:
            t.set_learning_rate(0.1)  # a third of the class changed a setting
        for _ in range(5 + k % 7):
            copy.run.metrics.add(t.step(record=True))
        copy.run.last_eval = copy.run.evaluate()
        student = C.Student(f"{k:08x}", secrets.token_urlsafe(12), f"Student {k}", copy=copy)
        student.grid = views.grid_frames(copy.run)[0]
        classroom.students[student.device] = student
    return classroom


def tick_s(classroom: C.Classroom, fresh_frames: bool) -> tuple[float, int]:
    """Median seconds of one tick (and its message's bytes)."""
    times = []
    size = 0
    for _ in range(REPEATS):
        if fresh_frames:
            for s in classroom.students.values():
                s.thumb_of = None  # as if a new grid frame had come since the last tick
        t0 = time.perf_counter()
        text = dumps(C.dashboard(classroom))
        times.append(time.perf_counter() - t0)
        size = len(text.encode())
    times.sort()
    return times[len(times) // 2], size


def measure(counts: list[int]) -> list[dict]:
    settings = Settings.from_env(env={})
    out = []
    with ThreadPoolExecutor(1) as executor:
        for n in counts:
            classroom = make_class(n, settings, executor)
            tick_s(classroom, True)  # warm up
            cached, size = tick_s(classroom, False)
            fresh, _ = tick_s(classroom, True)
            out.append({"students": n, "cached_ms": cached * 1000, "fresh_ms": fresh * 1000,
                        "bytes": size, "grid": settings.grid_resolution,
                        "loop_share": fresh / C.DASHBOARD_S})
    return out


def section(results: list[dict]) -> str:
    rows = "\n".join(
        f"| {r['students']} | {r['cached_ms']:.2f} ms | {r['fresh_ms']:.2f} ms | "
        f"{r['loop_share']:.1%} | {r['bytes'] / 1024:.1f} KiB |" for r in results)
    return (
        f"## Class dashboard (`bench/class_dashboard.py`)\n\n"
        f"Measured {time.strftime('%Y-%m-%d')} on {platform.machine()}, {os.cpu_count()} cores "
        f"(load average {os.getloadavg()[0]:.2f}), Python {platform.python_version()}. One tick "
        f"of the teacher's dashboard (every 0.5 s, on the event loop): every row from the copies "
        f"as they are (step, latest evaluation, spec diff against the hand-out, a 16×16 "
        f"thumbnail from the copy's own {results[0]['grid']}×{results[0]['grid']} grid frame) "
        f"and the JSON text; median of {REPEATS}. \"Every frame new\": every copy sent a new grid "
        f"frame since the last tick (all playing); at most {C.THUMBS_PER_TICK} thumbnails are "
        f"made again a tick, the longest-waiting first, so each is at most "
        f"⌈N / {C.THUMBS_PER_TICK}⌉ ticks old. \"Share of the loop\" is that time per "
        f"{C.DASHBOARD_S:g} s; the spec diff is worked out again only when a copy's settings "
        f"change.\n\n"
        f"| students | no new grid frames | every frame new | share of the loop | message |\n"
        f"|---:|---:|---:|---:|---:|\n{rows}\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, nargs="+", default=[40, 250])
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    results = asyncio.run(_run(args.students))
    text = section(results)
    print(text)
    if not args.no_write:
        write_section("class-dashboard", text)


async def _run(counts: list[int]) -> list[dict]:
    return measure(counts)  # Sessions make asyncio objects: inside a running loop, as served


if __name__ == "__main__":
    main()
