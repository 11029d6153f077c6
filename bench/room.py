"""Room fan-out benchmark: one presenter playing at "max", N viewers, one viewer never reading.

Everything runs on 127.0.0.1: a real server process (``python -m app serve``), the presenter
(a websockets client in this process) and the viewers in separate client processes (at most 100
viewers per process, so that the Python clients do not starve each other of CPU), plus one raw
socket that joins the room and then never reads a byte (tiny receive buffer).

For each N it measures, in one server:

1. the presenter's training steps/s with 0 viewers (``play`` for ``--seconds``),
2. the same with N viewers connected, while every viewer counts the binary frames it receives,
3. 0 viewers again (after the viewers left); the baseline is the mean of 1 and 3.

Writes its section of docs/performance.md between ``<!-- bench:room -->`` and
``<!-- /bench:room -->``. Usage: ``python bench/room.py [--viewers 50 100 200] [--no-write]``.
``tests/app/test_rooms_live.py`` runs :func:`measure` with 100 viewers.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import platform
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.devserver import running_server  # noqa: E402
from bench.perf_doc import write_section  # noqa: E402

PER_PROCESS = 100


# --- the viewer process --------------------------------------------------------------------------


class _LeanViewer(asyncio.Protocol):
    """A minimal WebSocket client (RFC 6455): handshake, frame parsing, pongs. It checks that
    every binary message is a Propscope frame and counts them; far cheaper per message than a
    full client library, so that the client side does not steal the server's CPU."""

    def __init__(self, path: str, host: str, index: int, counts: list, state: dict,
                 ready: asyncio.Event) -> None:
        self.path, self.host, self.index = path, host, index
        self.counts, self.state, self.ready = counts, state, ready
        self.buf = bytearray()
        self.upgraded = False
        self.joined = False
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport) -> None:
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write(
            f"GET {self.path} HTTP/1.1\r\nHost: {self.host}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        if not self.upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            if not buf.startswith(b"HTTP/1.1 101"):
                raise RuntimeError(bytes(buf[:200]))
            del buf[: end + 4]
            self.upgraded = True
        pos = 0
        n = len(buf)
        while n - pos >= 2:
            op = buf[pos] & 0x0F
            length = buf[pos + 1] & 0x7F
            head = 2
            if length == 126:
                if n - pos < 4:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 4], "big")
                head = 4
            elif length == 127:
                if n - pos < 10:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                head = 10
            if n - pos < head + length:
                break
            start = pos + head
            if op == 2:
                if buf[start : start + 4] != b"PSF1":
                    raise RuntimeError("not a Propscope frame")
                if self.state["measuring"]:
                    self.counts[self.index] += 1
            elif op == 1 and not self.joined:
                if b'"type":"room_hold"' in buf[start : start + length]:
                    self.joined = True
                    self.state["joined"] += 1
                    if self.state["joined"] == self.state["n"]:
                        self.ready.set()
            elif op == 9:  # ping → pong (client frames are masked)
                payload = bytes(buf[start : start + length])
                mask = os.urandom(4)
                masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
                self.transport.write(bytes((0x8A, 0x80 | len(payload))) + mask + masked)
            elif op == 8:
                self.transport.close()
            pos = start + length
        del buf[:pos]

    def connection_lost(self, exc) -> None:
        if not self.closed.done():
            self.closed.set_result(exc)


def _stalled_viewer(host: str, port: int, code: str) -> socket.socket:
    """A viewer that completes the handshake and never reads again."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect((host, port))
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(
        f"GET /ws?room={code} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        .encode()
    )
    return s


async def _viewers_main(url: str, n: int, stalled: bool) -> None:
    """Commands on stdin: ``join`` (connect n viewers, print "joined" once all have the room's
    state), ``measure S`` (count frames for S seconds, print JSON), ``leave`` (close them all,
    print "left"), ``bye``."""
    netloc = url.split("//")[1].split("/")[0]
    host, port = netloc.split(":")
    path = "/" + url.split("//")[1].split("/", 1)[1]
    loop = asyncio.get_running_loop()
    viewers: list[_LeanViewer] = []
    keep: list[socket.socket] = []
    counts = [0] * n
    state = {"joined": 0, "n": n, "measuring": False}
    while True:
        line = (await loop.run_in_executor(None, sys.stdin.readline)).split()
        if not line or line[0] == "bye":
            break
        if line[0] == "join":
            state["joined"] = 0
            ready = asyncio.Event()
            if stalled:
                keep.append(_stalled_viewer(host, int(port), url.rsplit("=", 1)[1]))
            for i in range(n):
                _, proto = await loop.create_connection(
                    lambda i=i, r=ready: _LeanViewer(path, netloc, i, counts, state, r),
                    host, int(port),
                )
                viewers.append(proto)
                if i % 20 == 19:
                    await asyncio.sleep(0.02)
            await asyncio.wait_for(ready.wait(), 120)
            print("joined", flush=True)
        elif line[0] == "measure":
            seconds = float(line[1])
            counts[:] = [0] * n
            cpu0 = time.process_time()
            state["measuring"] = True
            t0 = time.monotonic()
            await asyncio.sleep(seconds)
            state["measuring"] = False
            elapsed = time.monotonic() - t0
            print(json.dumps({
                "rates": [c / elapsed for c in counts],
                "client_cpu": (time.process_time() - cpu0) / elapsed,
                "failed": sum(v.closed.done() for v in viewers),
            }), flush=True)
        elif line[0] == "leave":
            for v in viewers:
                v.transport.close()
            for v in viewers:
                await asyncio.wait_for(v.closed, 30)
            for k in keep:
                k.close()
            viewers, keep = [], []
            print("left", flush=True)


# --- the presenter side ------------------------------------------------------------------------


class Server:
    """A server process that outlives one `measure` call (the live test reuses it across
    retries): started by the constructor and ended by stop() rather than a with block."""

    def __init__(self, extra_env: dict | None = None) -> None:
        env = dict(extra_env or {})  # running_server gives it a database of its own
        self._stack = contextlib.ExitStack()
        dev = self._stack.enter_context(running_server(env=env, timeout=30))
        self.proc, self.port, self.base = dev.proc, dev.port, dev.base

    def cpu(self) -> float:
        """The server process's CPU seconds (user + system) so far (Linux /proc)."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            return float("nan")

    def stop(self) -> None:
        self._stack.close()


async def _request(ws, message: dict, msg_id: int) -> dict:
    await ws.send(json.dumps({**message, "id": msg_id}))
    while True:
        data = await ws.recv()
        if isinstance(data, str):
            m = json.loads(data)
            if m.get("id") == msg_id and m["type"] in ("ack", "error"):
                return m


async def _play(ws, seconds: float, ids) -> float:
    """Play at max for `seconds` while reading everything; steps/s from the acks."""
    start = await _request(ws, {"type": "pause"}, next(ids))
    t0 = time.monotonic()
    await _request(ws, {"type": "play", "speed": "max"}, next(ids))
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        try:
            await asyncio.wait_for(ws.recv(), left)
        except TimeoutError:
            break
    stop = await _request(ws, {"type": "pause"}, next(ids))
    return (stop["step"] - start["step"]) / (time.monotonic() - t0)


def _room_info(server: Server, code: str) -> dict:
    import urllib.request

    with urllib.request.urlopen(f"{server.base}/api/rooms/{code}", timeout=10) as r:
        return json.loads(r.read())


def _spawn_viewers(url: str, n: int) -> list[subprocess.Popen]:
    procs = []
    for k in range(0, n, PER_PROCESS):
        count = min(PER_PROCESS, n - k)
        procs.append(subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--viewer-process", url,
             str(count), "1" if k == 0 else "0"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=ROOT, text=True,
        ))
    return procs


async def measure(n_viewers: int, seconds: float = 2.0, server: Server | None = None,
                  rounds: int = 3) -> dict:
    """The presenter's steps/s alone and with n viewers (plus one that never reads), in
    alternating phases (alone, with, alone, with, …, alone: other load on the machine then
    hits both alike), and every viewer's binary frames/s while it watches."""
    import itertools

    import websockets

    own = server is None
    server = server or Server()
    procs: list[subprocess.Popen] = []
    loop = asyncio.get_running_loop()

    async def tell(command: str, expect: str | None = None) -> list[str]:
        for p in procs:
            p.stdin.write(command + "\n")
            p.stdin.flush()
        if expect is None:
            return []
        lines = [await loop.run_in_executor(None, p.stdout.readline) for p in procs]
        for line in lines:
            assert expect in line, f"{command}: {line!r}"
        return lines

    try:
        ws = await websockets.connect(server.base.replace("http", "ws") + "/ws",
                                      max_size=None, compression=None)
        ids = itertools.count(1)
        await _request(ws, {"type": "configure", "spec": {}}, next(ids))
        code = (await _request(ws, {"type": "room_open"}, next(ids)))["code"]
        url = server.base.replace("http", "ws") + f"/ws?room={code}"
        procs = _spawn_viewers(url, n_viewers)
        await _play(ws, 1.0, ids)  # warm-up
        alone, watched, rates, joins = [], [], [], []
        failed, client_cpu, fanout = 0, 0.0, 0.0
        cpu_alone, cpu_watched = [], []

        async def phase(into: list, cpu_into: list) -> None:
            c0, t0 = server.cpu(), time.monotonic()
            into.append(await _play(ws, seconds, ids))
            cpu_into.append((server.cpu() - c0) / (time.monotonic() - t0))

        for r in range(rounds):
            await phase(alone, cpu_alone)
            t = time.monotonic()
            await tell("join", "joined")
            joins.append(time.monotonic() - t)
            for p in procs:
                p.stdin.write(f"measure {seconds}\n")
                p.stdin.flush()
            info0, t0 = _room_info(server, code), time.monotonic()
            await phase(watched, cpu_watched)
            info1, t1 = _room_info(server, code), time.monotonic()
            fanout += (info1["fanout_s"] - info0["fanout_s"]) / (t1 - t0) / rounds
            for p in procs:
                result = json.loads(await loop.run_in_executor(None, p.stdout.readline))
                if r == rounds - 1:
                    rates += result["rates"]
                failed += result["failed"]
                client_cpu += result["client_cpu"] / rounds
            await tell("leave", "left")
            await asyncio.sleep(0.3)
        await phase(alone, cpu_alone)
        await tell("bye")
        for p in procs:
            p.wait(30)
        procs = []
        await ws.close()
        base = sum(alone) / len(alone)
        with_viewers = sum(watched) / len(watched)
        # Each watched phase against the mean of the two alone phases around it; the median of
        # these ratios is robust to a burst of load from elsewhere hitting one phase.
        ratios = sorted(w / ((alone[i] + alone[i + 1]) / 2) for i, w in enumerate(watched))
        rates.sort()
        return {
            "viewers": n_viewers,
            "steps_alone": alone,
            "steps_watched": watched,
            "baseline": base,
            "with_viewers": with_viewers,
            "drop": 1 - ratios[len(ratios) // 2],
            "drop_of_means": 1 - with_viewers / base,
            "noise": max(alone) / min(alone) - 1,
            "server_cpu_alone": sum(cpu_alone) / len(cpu_alone),
            "server_cpu_watched": sum(cpu_watched) / len(cpu_watched),
            "min_fps": rates[0],
            "median_fps": rates[len(rates) // 2],
            "max_fps": rates[-1],
            "failed": failed,
            "join_s": max(joins),
            "fanout_share": fanout,
            "client_cpu": client_cpu,
        }
    finally:
        for p in procs:
            p.kill()
        if own:
            server.stop()


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--viewer-process":
        url, n, stalled = sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1"
        asyncio.run(_viewers_main(url, n, stalled))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--viewers", type=int, nargs="+", default=[50, 100, 200])
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    results = []
    for n in args.viewers:
        server = Server()
        try:
            r = asyncio.run(measure(n, args.seconds, server, args.rounds))
        finally:
            server.stop()
        results.append(r)
        print(json.dumps(r))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [
        "## Classroom rooms (`bench/room.py`)",
        "",
        f"Measured {time.strftime('%Y-%m-%d')} on {platform.machine()}, {os.cpu_count()} cores "
        f"(load average {load:.2f} after the runs: other processes share the machine), Python "
        f"{platform.python_version()}. A real server process; the presenter (a `websockets` "
        "client) plays the default 2-4-2-1 circle network at \"max\" (30 step frames/s + 5 "
        "grid frames/s + 30 `metrics`/s); the viewers are minimal RFC 6455 clients "
        f"(handshake, frame parsing, pongs; {PER_PROCESS} per process, in separate processes) "
        "on 127.0.0.1, plus one extra viewer that never reads (4 KiB receive buffer). Phases "
        f"alternate: alone, with viewers, alone, … ({args.rounds} rounds of {args.seconds:g} s; "
        "viewers join before and leave after each watched phase), so load from elsewhere hits "
        "both alike.",
        "",
        "| viewers | presenter steps/s alone | with viewers | drop (median of paired phases; "
        "of the means) | goal ≤ 10 % "
        "| viewer frames/s min / median / max | goal ≥ 20 | server time fanning out "
        "| server CPU alone / with viewers | viewer clients' CPU | join (all) |",
        "|---:|---:|---:|---:|---|---|---|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['viewers']} | {r['baseline']:,.0f} | {r['with_viewers']:,.0f} | "
            f"{100 * r['drop']:.1f} %; {100 * r['drop_of_means']:.1f} % | "
            f"{'✓' if r['drop'] <= 0.10 else '✗'} | "
            f"{r['min_fps']:.1f} / {r['median_fps']:.1f} / {r['max_fps']:.1f} | "
            f"{'✓' if r['min_fps'] >= 20 else '✗'} | {100 * r['fanout_share']:.1f} % | "
            f"{100 * r['server_cpu_alone']:.0f} % / {100 * r['server_cpu_watched']:.0f} % | "
            f"{100 * r['client_cpu']:.0f} % of a core | {r['join_s']:.1f} s |"
        )
    lines += [
        "",
        "Per phase (steps/s): " + "; ".join(
            f"{r['viewers']} viewers: alone "
            + ", ".join(f"{x:,.0f}" for x in r["steps_alone"])
            + " / with " + ", ".join(f"{x:,.0f}" for x in r["steps_watched"])
            for r in results
        ) + ".",
        "",
        "Each message is encoded once; for every viewer the messages of one event-loop turn "
        "(metrics + step frame + grid) are framed once as one WebSocket byte string and written "
        "straight to the viewer's transport (one system call per viewer per turn, no task per "
        "viewer). A viewer with more than 64 KiB unsent skips step/grid frames (the next one "
        "carries the newest state) and is cut off at `max_outbox_bytes`, so the viewer that "
        "never reads slows nobody. \"Server time fanning out\" is the share of wall time the "
        "event loop spent in that loop (system calls included, during which the training "
        "thread keeps running). The remaining drop is CPU contention on 2 cores: the kernel's "
        "loopback work and the client processes compete with the training thread.",
    ]
    section = "\n".join(lines)
    print(section)
    if not args.no_write:
        write_section("room", section)


if __name__ == "__main__":
    main()
