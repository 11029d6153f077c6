"""Training on every core: sessions stepping in worker processes against the worker thread.

Two real server processes in turn (``python -m app serve``): one with ``--training-processes
0`` (every session steps in the server's one worker thread, the reference) and one with the
default (one training process per core). In each, with real WebSocket clients on 127.0.0.1
playing the default 2-4-2-1 network at "max":

* one session alone: training steps/s,
* eight sessions at once: steps/s in total and the ratio to one alone (goal ≥ 1.7×, issue 11),
  event-loop lag inside the server (p99, goal ≤ 10 ms) and a ninth idle client's ping.

Writes its section of docs/performance.md between ``<!-- bench:processes -->`` and
``<!-- /bench:processes -->``. Usage: ``python bench/processes.py [--seconds S] [--no-write]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.devserver import running_server  # noqa: E402
from bench.perf_doc import write_section  # noqa: E402
from bench.stream import _eight_sessions, _steps_per_second  # noqa: E402

RATIO_GOAL = 1.7
LAG_GOAL_MS = 10.0
MODES = {"worker thread (`--training-processes 0`)": "0",
         "training processes (default: one per core)": "-1"}


async def _mode(base: str, seconds: float) -> dict:
    await _steps_per_second(base, {}, 1.0)  # warm-up: processes started, code paths hot
    alone = [await _steps_per_second(base, {}, seconds) for _ in range(2)]
    eight = await _eight_sessions(base, seconds)
    best_alone = max(a["steps_per_s"] for a in alone)
    return {"alone": best_alone, **eight, "ratio": eight["steps_per_s_total"] / best_alone}


def measure(seconds: float) -> dict:
    results = {}
    for name, flag in MODES.items():
        with running_server("--training-processes", flag, timeout=30) as srv:
            results[name] = asyncio.run(_mode(srv.base, seconds))
    return results


def _section(results: dict, load: float, when: str) -> str:
    rows = []
    for name, r in results.items():
        lag = r["loop_lag_ms"]
        ratio_ok = "✓" if r["ratio"] >= RATIO_GOAL else "✗"
        lag_ok = "✓" if lag["p99"] is not None and lag["p99"] <= LAG_GOAL_MS else "✗"
        rows.append(
            f"| {name} | {r['alone']:,.0f} | {r['steps_per_s_total']:,.0f} "
            f"({r['steps_per_s_each']:,.0f} each) | **{r['ratio']:.2f}×** (≥ {RATIO_GOAL}× "
            f"{ratio_ok}) | {lag['p50']} / **{lag['p99']}** (≤ {LAG_GOAL_MS:g} {lag_ok}) | "
            f"{r['ping_ms']['p50']:.1f} / {r['ping_ms']['p99']:.1f} |")
    return "\n".join([
        "## Training on every core (`bench/processes.py`)",
        "",
        f"Measured {when} on {platform.machine()}, {os.cpu_count()} cores (load average "
        f"{load:.2f} before the run), Python {platform.python_version()}: a real server process"
        " per mode, real WebSocket clients on 127.0.0.1 (in the benchmark's process, sharing"
        " the cores), the default 2-4-2-1 circle network at \"max\", default settings (30 step"
        " frames/s, 5 grid frames/s). One alone: the best of two windows; eight: all playing at"
        " once, a ninth idle client pinging every 20 ms.",
        "",
        "| training in | one session alone, steps/s | eight at once, steps/s in total | eight ÷ one"
        " | loop lag p50 / p99 ms | ping p50 / p99 ms |",
        "|---|---:|---:|---:|---:|---:|",
        *rows,
        "",
        "In the worker thread every session's NumPy shares the server's interpreter lock with"
        " the event loop, so eight sessions train no more than one. In training processes a"
        " playing session's runs are lent to one process (the one with the fewest) and stepped"
        " there a chunk at a time; the server only sends the frames each chunk returns.",
    ])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    results = measure(args.seconds)
    section = _section(results, load, time.strftime("%Y-%m-%d"))
    print(section)
    if not args.no_write:
        write_section("processes", section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
