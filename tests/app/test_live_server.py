"""A real server process driven by a real WebSocket client (the `websockets` package)."""

from __future__ import annotations

import asyncio
import json
import time

import numpy as np
import pytest

from app.devserver import running_server
from tests.app.live_server import LiveClient, health

pytestmark = pytest.mark.timeout(90)


@pytest.fixture(scope="module")
def server():
    with running_server() as s:
        yield s.base


def run(coro):
    return asyncio.run(coro)


def test_play_for_a_second_then_pause_trains_and_streams_decodable_frames(server):
    async def scenario():
        c = await LiveClient.connect(server)
        assert c.welcome["protocol"] == 2
        await c.request({"type": "configure", "spec": {"data": {"dataset": "circle"}}})
        await c.request({"type": "play", "speed": "max"})
        await c.drain_for(1.0)
        ack, _ = await c.request({"type": "pause"})
        await c.close()
        return c, ack

    c, ack = run(scenario())
    steps = c.frames("step")
    assert ack["step"] > 500
    assert steps[-1].step == ack["step"] and not steps[-1].header["playing"]
    seqs = [f.seq for f in c.frames()]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    assert [f.step for f in steps] == sorted(f.step for f in steps)
    evals = [m["eval"] for m in c.messages("metrics") if m["eval"]]
    assert evals[-1]["train_loss"] < 0.5 * evals[0]["train_loss"]
    counted = sum(m["count"] for m in c.messages("metrics"))
    assert counted == ack["step"]  # every step is in the metrics, exactly once
    for f in steps:
        assert f.arrays["weight.0"].shape == (2, 4) and f.arrays["sample.delta.2"].shape == (1,)
    assert c.frames("grid")[-1].arrays["activation.2"].shape == (1, 40, 40)


def test_frame_rate_stays_at_the_display_rate_while_steps_run_far_faster(server):
    async def scenario():
        c = await LiveClient.connect(server)
        await c.request({"type": "play", "speed": "max"})
        start = time.monotonic()
        await c.drain_for(1.0)
        ack, _ = await c.request({"type": "pause"})
        elapsed = time.monotonic() - start
        snap_ack, seen = await c.request({"type": "snapshot"})
        await c.close()
        return c, ack, elapsed, seen

    c, ack, elapsed, seen = run(scenario())
    playing = [f for f in c.frames("step") if f.header["playing"]]
    assert 5 <= len(playing) <= 30 * elapsed + 1
    assert ack["step"] > 20 * len(playing)
    grids = [f for f in c.frames("grid")]
    assert len(grids) <= 5 * elapsed + 3
    last = [f for f in c.frames("step") if f.step == ack["step"]][-1]
    snapshot = next(m for m in seen if isinstance(m, dict) and m["type"] == "snapshot")
    assert snapshot["state"]["step"] == ack["step"]
    for k, layer in enumerate(snapshot["parameters"]):
        np.testing.assert_array_equal(last.arrays[f"weight.{k}"], np.float32(layer["weight"]))
        np.testing.assert_array_equal(last.arrays[f"bias.{k}"], np.float32(layer["bias"]))


def test_two_playing_sessions_stay_separate_and_pings_stay_fast(server):
    async def scenario():
        a = await LiveClient.connect(server)
        b = await LiveClient.connect(server)
        await a.request({"type": "configure", "spec": {"data": {"dataset": "xor"}}})
        await a.request({"type": "play"})
        await b.request({"type": "play", "speed": 100})
        rtts = []
        for _ in range(10):
            t0 = time.perf_counter()
            await b.request({"type": "ping"})
            rtts.append(time.perf_counter() - t0)
            await asyncio.sleep(0.05)
        ack_a, _ = await a.request({"type": "pause"})
        ack_b, _ = await b.request({"type": "pause"})
        await a.close()
        await b.close()
        return a, b, ack_a, ack_b, rtts

    a, b, ack_a, ack_b, rtts = run(scenario())
    assert a.welcome["token"] != b.welcome["token"]
    assert ack_a["step"] > 10 * ack_b["step"] > 0
    assert max(f.step for f in b.frames("step")) == ack_b["step"]
    assert a.snapshot["spec"]["data"]["dataset"] == "circle"
    assert b.messages("snapshot")[-1]["spec"]["data"]["dataset"] == "circle"
    assert sorted(rtts)[len(rtts) // 2] < 0.05


def test_reconnecting_with_the_token_resumes_at_the_same_step(server):
    async def scenario():
        c = await LiveClient.connect(server)
        await c.request({"type": "step", "n": 33})
        await c.close()
        d = await LiveClient.connect(server, f"?resume={c.welcome['token']}")
        await d.close()
        return c, d

    c, d = run(scenario())
    assert d.welcome["resumed"] is True and d.snapshot["state"]["step"] == 33
    assert health(server)["sessions"] >= 1


def test_environment_variables_configure_the_server():
    env = {"PROPSCOPE_DISPLAY_FPS": "12", "PROPSCOPE_GRID_RESOLUTION": "24"}
    with running_server(env=env) as s:
        base = s.base

        async def scenario():
            c = await LiveClient.connect(base)
            await c.recv()
            grid = await c.recv()
            await c.close()
            return c, grid

        c, grid = run(scenario())
    assert c.welcome["server"]["display_fps"] == 12
    assert grid.arrays["activation.0"].shape == (4, 24, 24)


def test_a_message_over_the_size_cap_closes_the_socket_with_1009(server):
    import websockets

    async def scenario():
        c = await LiveClient.connect(server)
        await c.ws.send(json.dumps({"type": "ping", "id": 1, "pad": "x" * 70_000}))
        with pytest.raises(websockets.ConnectionClosed) as info:
            while True:
                await c.recv()
        return info.value

    closed = run(scenario())
    assert closed.rcvd is not None and closed.rcvd.code == 1009
