"""Streaming benchmark: a real server process, real WebSocket clients, loopback only.

Measures, in one run (well under two minutes):

* training steps/s of one session playing at "max" while frames stream at 30 fps, for the
  Playground's default 2-4-2-1 network and for 2-8-8-8-1 (batch 10);
* step/grid frame sizes (schema known, with schema, the version 1 layout) and encode times,
  binary versus JSON text for reference;
* event-loop lag (p50/p99/max, measured inside the server) and ping round trips with 8 sessions
  playing at "max".

Writes its section of docs/performance.md between ``<!-- bench:stream -->`` and
``<!-- /bench:stream -->`` (other sections are left alone). Usage: ``python bench/stream.py``
(``--no-write`` to only print).
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

from app import views  # noqa: E402
from app.devserver import running_server  # noqa: E402
from app.frames import KIND_STEP, decode_frame, dumps, encode_frame  # noqa: E402
from app.run import Pace, Run  # noqa: E402
from bench.perf_doc import write_section  # noqa: E402
from engine.spec import Spec  # noqa: E402
from engine.trainer import Trainer  # noqa: E402

NETWORKS = {
    "2-4-2-1": {"network": {"hidden": [{"units": 4}, {"units": 2}]}},
    "2-8-8-8-1": {"network": {"hidden": [{"units": 8}, {"units": 8}, {"units": 8}]}},
}
GOALS = {"2-4-2-1": 7500, "2-8-8-8-1": 5000}
LAG_GOAL_MS = 20.0
STEP_GOAL_BYTES = 600  # a small network's step frame, schema known (issue 11)
SIDE_GOAL = 0.45  # each of two runs side by side keeps this share of one run's steps/s


def _health(base: str, since: float) -> dict:
    with urllib.request.urlopen(f"{base}/api/health?since={since}", timeout=5) as r:
        return json.loads(r.read())


class Client:
    def __init__(self, ws):
        self.ws = ws
        self.next_id = 0
        self.frames = 0
        self.frame_bytes = 0
        self.waiting: dict[int, asyncio.Future] = {}
        self.reader = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def connect(cls, base: str) -> Client:
        import websockets

        ws = await websockets.connect(
            base.replace("http", "ws") + "/ws", max_size=None, compression=None
        )
        return cls(ws)

    async def _read(self):
        async for data in self.ws:
            if isinstance(data, bytes):
                self.frames += 1
                self.frame_bytes += len(data)
                continue
            message = json.loads(data)
            fut = self.waiting.pop(message.get("id"), None)
            if fut is not None and message["type"] in ("ack", "error", "pong"):
                fut.set_result(message)

    async def request(self, message: dict) -> dict:
        self.next_id += 1
        fut = asyncio.get_running_loop().create_future()
        self.waiting[self.next_id] = fut
        await self.ws.send(json.dumps({**message, "id": self.next_id}))
        reply = await asyncio.wait_for(fut, 30)
        if reply["type"] == "error":
            raise RuntimeError(reply)
        return reply

    async def close(self):
        await self.ws.close()
        self.reader.cancel()


async def _steps_per_second(base: str, spec: dict, seconds: float) -> dict:
    c = await Client.connect(base)
    await c.request({"type": "configure", "spec": spec})
    await c.request({"type": "set_fps", "fps": 30})
    frames0, bytes0 = c.frames, c.frame_bytes
    t0 = time.perf_counter()
    start = await c.request({"type": "play", "speed": "max"})
    del start
    await asyncio.sleep(seconds)
    ack = await c.request({"type": "pause"})
    elapsed = time.perf_counter() - t0
    frames = c.frames - frames0
    await c.close()
    return {"steps_per_s": ack["step"] / elapsed, "frames_per_s": frames / elapsed,
            "frame_kb_per_s": (c.frame_bytes - bytes0) / elapsed / 1000, "steps": ack["step"]}


async def _side_by_side(base: str, spec: dict, seconds: float) -> dict:
    """One session, two runs in lockstep (a learning-rate fork), playing at "max"."""
    c = await Client.connect(base)
    await c.request({"type": "configure", "spec": spec})
    await c.request({"type": "set_fps", "fps": 30})
    await c.request({"type": "compare", "changes": {
        "training": {"optimizer": {"learning_rate": 0.3}}}})
    frames0 = c.frames
    t0 = time.perf_counter()
    await c.request({"type": "play", "speed": "max"})
    await asyncio.sleep(seconds)
    ack = await c.request({"type": "pause"})
    elapsed = time.perf_counter() - t0
    frames = c.frames - frames0
    await c.close()
    return {"steps_per_s_each": ack["step"] / elapsed, "frames_per_s": frames / elapsed}


async def _eight_sessions(base: str, seconds: float) -> dict:
    clients = [await Client.connect(base) for _ in range(8)]
    probe = await Client.connect(base)
    for c in clients:
        await c.request({"type": "play", "speed": "max"})
    await asyncio.sleep(0.5)
    rtts = []
    t_end = time.perf_counter() + seconds
    while time.perf_counter() < t_end:
        t0 = time.perf_counter()
        await probe.request({"type": "ping"})
        rtts.append((time.perf_counter() - t0) * 1000)
        await asyncio.sleep(0.02)
    lag = await asyncio.to_thread(_health, base, seconds)
    steps = []
    for c in clients:
        steps.append((await c.request({"type": "pause"}))["step"])
    for c in [*clients, probe]:
        await c.close()
    return {
        "loop_lag_ms": lag["loop_lag_ms"],
        "ping_ms": {"p50": float(np.percentile(rtts, 50)), "p99": float(np.percentile(rtts, 99))},
        "steps_per_s_each": float(np.mean(steps)) / (seconds + 0.5),
        "steps_per_s_total": float(np.sum(steps)) / (seconds + 0.5),
    }


# --- encoding, in process ------------------------------------------------------------------


def _time_us(fn, repeat: int = 300) -> float:
    fn()
    t0 = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - t0) / repeat * 1e6


def _v1_size(frame: bytes) -> int:
    """The bytes the same frame took in protocol version 1 (every frame naming its float32
    arrays in its JSON header, no schema): the reference for the sizes below."""
    header, arrays = decode_frame(frame)
    for key in ("kind", "seq", "step", "version", "schema"):
        header.pop(key)
    header["arrays"] = [[name, list(a.shape)] for name, a in arrays.items()]
    head = len(dumps(header).encode())
    return 20 + head + (-(20 + head)) % 4 + sum(4 * a.size for a in arrays.values())


def _grid_sizes(spec: dict, resolution: int) -> dict:
    run = Run(Trainer(Spec.from_dict(spec)))
    run.grid_resolution = resolution
    for _ in range(20):
        run.trainer.step()
    grid = views.grid_frames(run)[0]
    return {"v1": _v1_size(grid), "whole": len(grid), "compact": len(grid.compact),
            "resolution": decode_frame(grid)[0]["resolution"]}


def _encoding(spec: dict) -> dict:
    run = Run(Trainer(Spec.from_dict(spec)))
    pace = Pace()
    for _ in range(20):
        run.trainer.step()
    step_bin = views.step_frame(run, pace)
    header, arrays = decode_frame(step_bin)
    playing = views.step_frame(run, Pace(playing=True))

    def as_json():
        t = run.trainer
        record = t.last_record
        out = {"type": "step", "seq": 1, "step": t.step_count, "layers": []}
        traced = t.trace_samples([0])
        for layer, tr, st in zip(t.network.layers, record.layers, traced.layers, strict=True):
            out["layers"].append({
                "W": layer.weight.tolist(), "b": layer.bias.tolist(),
                "gW": tr.weight_grad.tolist(), "gWd": tr.weight_grad_data.tolist(),
                "gb": tr.bias_grad.tolist(), "uW": tr.weight_update.tolist(),
                "ub": tr.bias_update.tolist(), "x": st.input[0].tolist(),
                "z": st.pre_activation[0].tolist(), "a": st.activation[0].tolist(),
                "ga": st.grad_activation[0].tolist(), "d": st.delta[0].tolist(),
            })
        return dumps(out)

    step_json = as_json()
    grids = views.grid_frames(run)
    grid_header, grid_arrays = decode_frame(grids[0])
    grid_json = dumps({k: v.tolist() for k, v in grid_arrays.items()})
    pure_encode = _time_us(
        lambda: encode_frame(KIND_STEP, 1, 1, {"epoch": 0}, list(arrays.items()),
                             fixed={"run": "r0"}, values={"loss": 0.1})
    )
    return {
        "step_bytes": len(step_bin.compact),
        "step_playing_bytes": len(playing.compact),
        "step_whole_bytes": len(step_bin),
        "step_v1_bytes": _v1_size(step_bin),
        "step_json_bytes": len(step_json.encode()),
        "step_us": _time_us(lambda: views.step_frame(run, pace)),
        "step_encode_only_us": pure_encode,
        "step_json_us": _time_us(as_json),
        "grid_bytes": len(grids[0].compact),
        "grid_whole_bytes": len(grids[0]),
        "grid_v1_bytes": _v1_size(grids[0]),
        "grid_json_bytes": len(grid_json.encode()),
        "grid_us": _time_us(lambda: views.grid_frames(run), 100),
        "grid_json_us": _time_us(
            lambda: dumps({k: v.tolist() for k, v in grid_arrays.items()}), 50
        ),
        "resolution": grid_header["resolution"],
        "grid_6x8": _grid_sizes({"network": {"hidden": [{"units": 8}] * 6}}, 40),
    }


# --- report ---------------------------------------------------------------------------------


def _section(results: dict) -> str:
    rows = []
    for name, r in results["single"].items():
        ok = "✓" if r["steps_per_s"] >= GOALS[name] else "✗"
        rows.append(
            f"| {name} | {r['steps_per_s']:,.0f} | ≥ {GOALS[name]:,} {ok} | "
            f"{r['frames_per_s']:.1f} | {r['frame_kb_per_s']:,.0f} |"
        )
    side_rows = []
    for name, r in results["side"].items():
        ok = "✓" if r["ratio"] >= SIDE_GOAL else "✗"
        side_rows.append(
            f"| {name} | {r['alone']:,.0f} | {r['steps_per_s_each']:,.0f} | "
            f"**{r['ratio']:.0%}** (goal ≥ {SIDE_GOAL:.0%} {ok}) | {r['frames_per_s']:.1f} |"
        )
    enc = results["encoding"]
    eight = results["eight"]
    lag = eight["loop_lag_ms"]
    lag_ok = "✓" if lag["p99"] is not None and lag["p99"] <= LAG_GOAL_MS else "✗"
    res = enc["resolution"]
    g6 = enc["grid_6x8"]
    step_ok = "✓" if max(enc["step_bytes"], enc["step_playing_bytes"]) <= STEP_GOAL_BYTES else "✗"
    return "\n".join([
        "## Streaming server (`bench/stream.py`)",
        "",
        f"Measured {results['date']} on {results['machine']} (load average "
        f"{results['load']:.2f} before the run; other processes on the machine move the lag"
        f" figures), Python {platform.python_version()}:"
        " a real server process (`python -m app serve`), real WebSocket clients on 127.0.0.1,"
        " batch 10, circle dataset, default settings (30 step frames/s, 5 grid frames/s).",
        "",
        "Training speed of one session playing at \"max\" while streaming:",
        "",
        "| network | steps/s | goal | binary frames/s received (step + grid) | binary kB/s"
        " received |",
        "|---|---:|---|---:|---:|",
        *rows,
        "",
        "Two runs side by side in one session (a learning-rate fork, lockstep: both always on"
        " the same step), playing at \"max\" while both stream, against one run measured just"
        " before in the same server:",
        "",
        "| network | one run, steps/s | each of two runs, steps/s | share kept | binary frames/s"
        " received (both runs) |",
        "|---|---:|---:|---|---:|",
        *side_rows,
        "",
        "Frame sizes and encode times (2-4-2-1 after 20 steps; the step frame includes tracing"
        f" the selected sample; the grid frame includes evaluating {res}×{res} points). Binary"
        " bytes are a frame as a socket gets it once it has the frame's schema (docs/protocol.md"
        " §4); the first frame of a configuration also carries the schema (\"with schema\");"
        " \"version 1\" is the same frame in the previous layout (every frame naming its"
        " float32 arrays), computed in the same run:",
        "",
        "| frame | binary bytes | with schema | version 1 | binary µs | JSON bytes (reference)"
        " | JSON µs |",
        "|---|---:|---:|---:|---:|---:|---:|",
        f"| step (paused) | **{enc['step_bytes']:,}** (goal ≤ {STEP_GOAL_BYTES} {step_ok}) | "
        f"{enc['step_whole_bytes']:,} | {enc['step_v1_bytes']:,} | {enc['step_us']:.0f} "
        f"(encode alone {enc['step_encode_only_us']:.0f}) | {enc['step_json_bytes']:,} | "
        f"{enc['step_json_us']:.0f} |",
        f"| step (playing) | **{enc['step_playing_bytes']:,}** | | | | | |",
        f"| grid {res}×{res} | {enc['grid_bytes']:,} | {enc['grid_whole_bytes']:,} | "
        f"{enc['grid_v1_bytes']:,} | {enc['grid_us']:.0f} | "
        f"{enc['grid_json_bytes']:,} | {enc['grid_json_us']:.0f} (encode only) |",
        f"| grid {g6['resolution']}×{g6['resolution']}, 2-8-8-8-8-8-8-1 | {g6['compact']:,} | "
        f"{g6['whole']:,} | {g6['v1']:,} | | | |",
        "",
        "Thumbnails are uint8 planes (each with its float32 range): a value is within"
        " (max − min)/510 of the engine's, at most one colour-table entry off (§4).",
        "",
        "Eight sessions playing at \"max\" at once (2-4-2-1):",
        "",
        f"* event-loop lag inside the server: p50 {lag['p50']} ms, **p99 {lag['p99']} ms** "
        f"(goal ≤ {LAG_GOAL_MS:g} ms {lag_ok}), max {lag['max']} ms over {lag['samples']} samples",
        f"* ping round trip from a ninth, idle client: p50 {eight['ping_ms']['p50']:.1f} ms, "
        f"p99 {eight['ping_ms']['p99']:.1f} ms",
        f"* training: {eight['steps_per_s_each']:,.0f} steps/s per session, "
        f"{eight['steps_per_s_total']:,.0f} in total (the GIL serialises NumPy at these sizes)",
    ])


async def _measure(base: str, seconds: float) -> dict:
    single = {}
    for name, spec in NETWORKS.items():
        single[name] = await _steps_per_second(base, spec, seconds)
    side = {}
    for name, spec in NETWORKS.items():  # each against a single run measured just before it
        alone = await _steps_per_second(base, spec, seconds)
        two = await _side_by_side(base, spec, seconds)
        side[name] = {**two, "alone": alone["steps_per_s"],
                      "ratio": two["steps_per_s_each"] / alone["steps_per_s"]}
    eight = await _eight_sessions(base, max(seconds, 5.0))
    return {"single": single, "side": side, "eight": eight}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    t0 = time.monotonic()
    load = os.getloadavg()[0]
    encoding = _encoding(NETWORKS["2-4-2-1"])
    # output to the terminal, as before: a warning during a benchmark run is worth seeing
    with running_server(log=sys.stderr) as srv:
        results = asyncio.run(_measure(srv.base, args.seconds))
    results.update(
        encoding=encoding,
        date=time.strftime("%Y-%m-%d"),
        machine=f"{platform.machine()}, {os.cpu_count()} cores",
        load=load,
    )
    print(json.dumps(results, indent=2, default=float))
    text = _section(results)
    print(text)
    if not args.no_write:
        write_section("stream", text)
    print(f"bench/stream.py took {time.monotonic() - t0:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
