"""Pacing through a real server: a page that reports its paints is sent a step frame only after
it has painted the one before (docs/protocol.md §5); a client that never reports is not paced."""

from __future__ import annotations

import asyncio
import time

import pytest

from app.devserver import running_server
from tests.app.live_server import LiveClient
from tests.app.protocol_decoder import Frame


@pytest.fixture(scope="module")
def base():
    with running_server(timeout=30) as server:
        yield server.base


async def _step_frames_during(client: LiveClient, seconds: float, report: bool) -> list[Frame]:
    """Step frames received in `seconds`; each reported painted at once when `report`."""
    got = []
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        try:
            item = await client.recv(left)
        except TimeoutError:
            break
        if isinstance(item, Frame) and item.kind == "step":
            got.append(item)
            if report:
                await client.send({"type": "painted", "run": item.header["run"], "seq": item.seq})
    return got


async def _playing(base: str) -> LiveClient:
    client = await LiveClient.connect(base)
    ack, _ = await client.request({"type": "play", "speed": "max"})
    assert ack["type"] == "ack"
    return client


def _played(base: str, seconds: float, report: bool) -> list[Frame]:
    """The step frames a client playing at max receives in `seconds` (reporting or not)."""
    async def go():
        client = await _playing(base)
        frames = await _step_frames_during(client, seconds, report)
        await client.close()
        return frames

    return asyncio.run(go())


def test_a_client_that_never_reports_gets_the_display_rate(base):
    frames = _played(base, 2.0, report=False)
    assert len(frames) >= 30  # 30 a second by default; a loaded machine may skip some


def test_a_page_that_stops_reporting_gets_about_one_frame_a_second(base):
    async def go():
        client = await _playing(base)
        first = await _step_frames_during(client, 0.5, report=True)
        await client.drain_for(0.3)
        stalled = await _step_frames_during(client, 2.5, report=False)
        await client.close()
        return first, stalled

    first, stalled = asyncio.run(go())
    assert len(first) >= 3
    assert 1 <= len(stalled) <= 4  # the stall fallback (1 s), not the display rate (75)


def test_reporting_each_paint_keeps_frames_flowing_one_at_a_time(base):
    frames = _played(base, 2.0, report=True)
    assert len(frames) >= 20
    steps = [f.step for f in frames]
    assert steps == sorted(steps) and len(set(steps)) == len(steps)  # every one newer


def test_painted_gets_no_reply_and_a_bad_one_an_error(base):
    async def go():
        client = await LiveClient.connect(base)
        await client.drain_for(0.3)
        await client.send({"type": "painted", "seq": 1})
        quiet = await client.drain_for(0.5)
        bad, _ = await client.request({"type": "painted", "seq": -1})
        pong, _ = await client.request({"type": "ping"})
        await client.close()
        return quiet, bad, pong

    quiet, bad, pong = asyncio.run(go())
    assert [m for m in quiet if isinstance(m, dict)] == []
    assert bad["type"] == "error" and bad["code"] == "invalid_message"
    assert pong["type"] == "pong"
