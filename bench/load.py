"""Load benchmark: N concurrent playing sessions over loopback (N = 10, 25, 50).

A real server process (``python -m app serve`` on 127.0.0.1), N WebSocket clients in this
process, each playing at the default speed ("max") with the default network. For each N,
measured over a fixed window:

* step frames/s received per client (min, median; goal ≥ 25 at N = 50),
* frame latency: client receive time − the step frame header's ``sent_at`` (p50, p95),
* server RSS per session (from /api/health ``rss_kb``, minus the idle server's),
* event-loop lag inside the server (p50/p99 over the window),
* training steps/s per session (min/max: how evenly the worker is shared).

Writes its section of docs/performance.md between ``<!-- bench:load -->`` and
``<!-- /bench:load -->`` (other sections are kept). Traffic only to 127.0.0.1; well under two
minutes. Usage: ``python bench/load.py [--no-write] [--seconds S] [--sizes 10,25,50]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.devserver import running_server  # noqa: E402
from app.frames import KIND_STEP, decode_frame  # noqa: E402
from bench.perf_doc import write_section  # noqa: E402

FPS_GOAL = 25.0


def health(base: str, since: float | None = None) -> dict:
    url = base + "/api/health" + (f"?since={since}" if since else "")
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


# many sessions from one address, and detached ones reaped fast so each level starts clean
SERVER_ENV = {"PROPSCOPE_MAX_SESSIONS_PER_CLIENT": "64", "PROPSCOPE_SESSION_TTL": "1",
              "PROPSCOPE_REAPER_INTERVAL": "0.5"}


class Client:
    def __init__(self, ws) -> None:
        self.ws = ws
        self.frames = 0
        self.latencies: list[float] = []
        self.counting = False
        self.last_step = 0
        self.schemas: dict = {}

    async def reader(self) -> None:
        try:
            async for data in self.ws:
                if not isinstance(data, bytes) or data[5] != KIND_STEP:
                    continue
                now = time.time()
                self.last_step = int.from_bytes(data[12:16], "little")
                has_schema = int.from_bytes(data[20:24], "little") > 0
                if not self.counting:
                    if has_schema:  # learnt once per configuration (docs/protocol.md §4)
                        decode_frame(data, self.schemas)
                    continue
                self.frames += 1
                # like a page that paints a third of them: every third is read whole
                if has_schema or self.frames % 3 == 0:
                    header, _ = decode_frame(data, self.schemas)
                    if header.get("sent_at"):
                        self.latencies.append(now - header["sent_at"])
        except Exception:
            pass


async def run_level(base: str, n: int, seconds: float) -> dict:
    import websockets

    url = base.replace("http://", "ws://") + "/ws"
    idle = health(base)
    clients = []
    for _ in range(n):
        ws = await websockets.connect(url, max_size=None, compression=None)
        clients.append(Client(ws))
    readers = [asyncio.get_running_loop().create_task(c.reader()) for c in clients]
    for i, c in enumerate(clients):
        await c.ws.send(json.dumps({"type": "play", "id": i + 1}))
    await asyncio.sleep(1.5)  # warm up: everyone playing, chunk sizes settled
    steps0 = [c.last_step for c in clients]
    for c in clients:
        c.counting = True
    t0 = time.monotonic()
    await asyncio.sleep(seconds)
    elapsed = time.monotonic() - t0
    for c in clients:
        c.counting = False
    steps = [(c.last_step - s0) / elapsed for c, s0 in zip(clients, steps0, strict=True)]
    busy = await asyncio.to_thread(health, base, seconds)
    for c in clients:
        await c.ws.close()
    for r in readers:
        r.cancel()
    fps = np.array([c.frames / elapsed for c in clients])
    lat = np.concatenate([np.asarray(c.latencies) for c in clients]) * 1000.0
    return {
        "n": n,
        "fps_min": float(fps.min()),
        "fps_median": float(np.median(fps)),
        "lat_p50": float(np.percentile(lat, 50)) if lat.size else None,
        "lat_p95": float(np.percentile(lat, 95)) if lat.size else None,
        "rss_per_session_kb": (busy["rss_kb"] - idle["rss_kb"]) / n,
        "rss_kb": busy["rss_kb"],
        "lag": busy["loop_lag_ms"],
        "steps_min": min(steps),
        "steps_max": max(steps),
    }


def wait_idle(base: str) -> None:
    deadline = time.monotonic() + 20
    while health(base)["sessions"] and time.monotonic() < deadline:
        time.sleep(0.2)


def render(results: list[dict], seconds: float) -> str:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [
        "## Many sessions (`bench/load.py`)",
        "",
        f"Measured {time.strftime('%Y-%m-%d')} on {platform.machine()}, {os.cpu_count()} cores "
        f"(load average {load:.2f} before the run), Python {platform.python_version()}: one "
        "server process, N WebSocket clients in one client process on the same machine "
        "(127.0.0.1), every session playing the default 2-4-2-1 network at the default speed "
        f"(\"max\"), default settings (30 step frames/s, 5 grid frames/s), {seconds:g} s "
        "windows. Latency = client receive time − the step frame's `sent_at`.",
        "",
        "| N | step frames/s per client (min / median) | goal ≥ 25 at N = 50 "
        "| latency p50 / p95 ms | server RSS per session | loop lag p50 / p99 ms "
        "| steps/s per session (min / max) |",
        "|---:|---:|---|---:|---:|---:|---:|",
    ]
    for r in results:
        goal = ("✓" if r["fps_min"] >= FPS_GOAL else "✗") if r["n"] == 50 else ""
        lag = r["lag"]
        lines.append(
            f"| {r['n']} | {r['fps_min']:.1f} / {r['fps_median']:.1f} | {goal} | "
            f"{r['lat_p50']:.1f} / {r['lat_p95']:.1f} | {r['rss_per_session_kb'] / 1024:.2f} MiB "
            f"| {lag['p50']} / {lag['p99']} | {r['steps_min']:,.0f} / {r['steps_max']:,.0f} |"
        )
    lines += [
        "",
        "Sessions take turns on the single training worker (one chunk each per round, first "
        "come first served); with many sessions playing, each chunk shrinks to a fair share of "
        "one frame interval, so every client keeps its frame rate and steps/s are split evenly. "
        "The client process shares the two cores with the server, so the numbers are a lower "
        "bound for a classroom where the browsers run elsewhere.",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--sizes", default="10,25,50")
    args = parser.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    results = []
    with running_server(env=SERVER_ENV, timeout=30) as srv:
        for n in sizes:
            r = asyncio.run(run_level(srv.base, n, args.seconds))
            results.append(r)
            print(json.dumps(r), flush=True)
            wait_idle(srv.base)
    text = render(results, args.seconds)
    print(text)
    if not args.no_write:
        write_section("load", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
