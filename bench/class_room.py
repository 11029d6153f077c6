"""A class of N students, each training a handed-out copy, with the teacher's dashboard open.

Everything on 127.0.0.1: a real server process (``python -m app serve``), the teacher (a
websockets client in this process, which receives the dashboard) and the students, 20 to a
client process (websockets clients: each joins the room with a nickname, takes its copy and
plays it, counting the binary frames it receives and reading them as a page would, undecoded).
For each speed it measures every student's frames per second while all play, and the intervals
between the dashboard's updates on the teacher's socket (goal: p95 ≤ 1 s; the dashboard ticks
every 0.5 s and sends when something changed).

Writes its section ``class-room`` of docs/performance.md (bench/perf_doc.py).
Usage: ``python bench/class_room.py [--students 40]
[--speeds max 30] [--seconds 6] [--no-write]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.devserver import running_server  # noqa: E402
from bench.perf_doc import write_section  # noqa: E402

PER_PROCESS = 20


# --- a process of students ----------------------------------------------------------------------


async def _students_main(url: str, first: int, n: int) -> None:
    """Commands on stdin: ``join`` (n students join with nicknames; "joined"), ``copies`` (wait
    for every hand-out; "ready"), ``play SPEED SECONDS`` (all play, count frames, pause; a JSON
    line), ``bye``."""
    import websockets

    loop = asyncio.get_running_loop()
    sockets: list = []
    counts = [0] * n
    handed = [asyncio.Event() for _ in range(n)]
    measuring = {"on": False}

    async def reader(k: int, ws) -> None:
        async for data in ws:
            if isinstance(data, bytes):
                if measuring["on"]:
                    counts[k] += 1
            elif '"room_handout"' in data:
                handed[k].set()

    while True:
        line = (await loop.run_in_executor(None, sys.stdin.readline)).split()
        if not line or line[0] == "bye":
            break
        if line[0] == "join":
            for k in range(n):
                ws = await websockets.connect(url, max_size=None, compression=None)
                while True:  # the room's state, up to its hold message
                    data = await ws.recv()
                    if isinstance(data, str) and '"room_hold"' in data:
                        break
                await ws.send(json.dumps({"type": "class_join", "id": 1,
                                          "nickname": f"student {first + k + 1}"}))
                sockets.append(ws)
                loop.create_task(reader(k, ws))
            print("joined", flush=True)
        elif line[0] == "copies":
            await asyncio.wait_for(asyncio.gather(*(e.wait() for e in handed)), 120)
            print("ready", flush=True)
        elif line[0] == "play":
            speed = line[1] if line[1] == "max" else float(line[1])
            seconds = float(line[2])
            for ws in sockets:
                await ws.send(json.dumps({"type": "play", "id": 2, "speed": speed}))
            await asyncio.sleep(1.0)  # every copy is playing
            counts[:] = [0] * n
            cpu0 = time.process_time()
            measuring["on"] = True
            t0 = time.monotonic()
            await asyncio.sleep(seconds)
            measuring["on"] = False
            elapsed = time.monotonic() - t0
            for ws in sockets:
                await ws.send(json.dumps({"type": "pause", "id": 3}))
            await asyncio.sleep(0.5)
            print(json.dumps({"rates": [c / elapsed for c in counts],
                              "client_cpu": (time.process_time() - cpu0) / elapsed}), flush=True)
    for ws in sockets:
        await ws.close()


def _spawn(url: str, first: int, n: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, __file__, "--students-process", url, str(first), str(n)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT)


def _tell(procs: list[subprocess.Popen], command: str, answer: str | None = None) -> list[str]:
    for p in procs:
        p.stdin.write(command + "\n")
        p.stdin.flush()
    lines = [p.stdout.readline().strip() for p in procs]
    if answer is not None and any(line != answer for line in lines):
        raise RuntimeError(f"students answered {lines!r} to {command!r}")
    return lines


# --- the teacher --------------------------------------------------------------------------------


async def _teacher_measure(base: str, n: int, speeds: list[str], seconds: float) -> dict:
    import websockets

    ws = await websockets.connect(base.replace("http://", "ws://") + "/ws", max_size=None,
                                  compression=None)
    ids = iter(range(1, 10**9))
    boards: list[float] = []

    async def request(message: dict) -> dict:
        message = {**message, "id": next(ids)}
        await ws.send(json.dumps(message))
        while True:
            data = await ws.recv()
            if isinstance(data, str):
                reply = json.loads(data)
                if reply.get("type") == "class_dashboard":
                    boards.append(time.monotonic())
                if reply.get("id") == message["id"] and reply["type"] in ("ack", "error"):
                    return reply

    code = (await request({"type": "room_open"}))["code"]
    url = base.replace("http://", "ws://") + f"/ws?room={code}"
    procs = [_spawn(url, first, min(PER_PROCESS, n - first))
             for first in range(0, n, PER_PROCESS)]
    results = {}
    try:
        _tell(procs, "join", "joined")
        ack = await request({"type": "room_handout"})
        if ack.get("viewers") != n:
            raise RuntimeError(f"handed out {ack}")
        _tell(procs, "copies", "ready")
        for speed in speeds:
            boards.clear()
            listen = asyncio.get_running_loop().create_task(_drain(ws, boards))
            lines = await asyncio.get_running_loop().run_in_executor(
                None, _tell, procs, f"play {speed} {seconds}")
            listen.cancel()
            rates = [r for line in lines for r in json.loads(line)["rates"]]
            cpu = sum(json.loads(line)["client_cpu"] for line in lines)
            gaps = [b - a for a, b in zip(boards, boards[1:], strict=False)]
            results[speed] = {"min": min(rates), "median": statistics.median(rates),
                              "max": max(rates), "client_cpu": cpu, "updates": len(boards),
                              "p95_gap": _p95(gaps) if gaps else float("nan"),
                              "max_gap": max(gaps) if gaps else float("nan")}
    finally:
        for p in procs:
            p.stdin.write("bye\n")
            p.stdin.flush()
        for p in procs:
            p.wait(timeout=30)
        await ws.close()
    return results


async def _drain(ws, boards: list[float]) -> None:
    """The teacher's socket while the class plays: the dashboard's arrival times."""
    while True:
        data = await ws.recv()
        if isinstance(data, str) and '"class_dashboard"' in data[:40]:
            boards.append(time.monotonic())


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


# --- the report ---------------------------------------------------------------------------------


def _section(n: int, results: dict, seconds: float) -> str:
    load = os.getloadavg()[0]
    lines = [
        f"## A class: {n} students training their copies, the dashboard open "
        "(`bench/class_room.py`)",
        "",
        f"Measured {time.strftime('%Y-%m-%d')} on {platform.machine()}, {os.cpu_count()} cores "
        f"(load average {load:.2f} after the runs), Python {platform.python_version()}. A real "
        f"server process; {n} students in client processes of {PER_PROCESS} (websockets "
        "clients on 127.0.0.1: each joins with a nickname, takes its hand-out copy of the default "
        "2-4-2-1 circle network and plays it, counting the binary frames it receives); the "
        "teacher's socket receives the dashboard. Each speed: all play for "
        f"{seconds:g} s; the dashboard ticks every 0.5 s and is sent when it changed.",
        "",
        "| speed | student frames/s min / median / max | goal ≥ 20 | dashboard updates | "
        "interval p95 / max | goal p95 ≤ 1 s | client processes' CPU |",
        "|---|---|---|---:|---|---|---:|",
    ]
    for speed, r in results.items():
        lines.append(
            f"| {speed} | {r['min']:.1f} / {r['median']:.1f} / {r['max']:.1f} | "
            f"{'✓' if r['min'] >= 20 else '✗'} | {r['updates']} | "
            f"{r['p95_gap']:.2f} s / {r['max_gap']:.2f} s | "
            f"{'✓' if r['p95_gap'] <= 1.0 else '✗'} | {r['client_cpu'] * 100:.0f} % of a core |")
    lines += ["",
              "Frames are step frames (≤ 30 a second per copy at the server's display rate), "
              "grid frames (5 a second while playing) and the copies' other binary frames; at "
              "a stepping speed below the display rate a copy sends one step frame per step "
              "(the page's default speed, 1 step a second, is for following a step by eye)."]
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--students-process":
        asyncio.run(_students_main(sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=40)
    parser.add_argument("--speeds", nargs="+", default=["max", "30"])
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    with running_server(timeout=30) as server:
        results = asyncio.run(_teacher_measure(server.base, args.students, args.speeds,
                                               args.seconds))
    section = _section(args.students, results, args.seconds)
    print(section)
    if not args.no_write:
        write_section("class-room", section)


if __name__ == "__main__":
    main()
