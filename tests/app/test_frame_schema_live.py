"""Schemas once per socket (docs/protocol.md §4) against a real ``python -m app serve``: a
resumed socket and a room's viewers (written straight to their transports) get each schema
with the first frame that needs it, then compact frames that decode to the same layout."""

from __future__ import annotations

import asyncio
import time

import pytest

from app.devserver import running_server
from tests.app.live_server import LiveClient

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def base():
    with running_server(timeout=30) as server:
        yield server.base


async def until(client: LiveClient, pred, timeout: float = 15.0):
    end = time.monotonic() + timeout
    while True:
        item = await client.recv(max(0.01, end - time.monotonic()))
        if pred(item):
            return item


def test_a_resumed_socket_gets_the_schema_again_then_compact_frames(base):
    async def scenario():
        a = await LiveClient.connect(base)
        await a.request({"type": "step", "n": 3})
        token = a.welcome["token"]
        await a.close()
        b = await LiveClient.connect(base, f"?resume={token}")
        await b.request({"type": "step", "n": 1})
        await b.request({"type": "step", "n": 1})
        await b.close()
        return b

    b = asyncio.run(scenario())
    frames = b.frames("step")
    assert frames[0].had_schema
    assert not frames[-1].had_schema and frames[-1].schema_id == frames[-2].schema_id
    assert frames[-1].step == 5 and "weight_grad.0" in frames[-1].arrays


def test_a_late_viewer_gets_the_schema_with_the_room_state_then_compact_broadcasts(base):
    async def scenario():
        teacher = await LiveClient.connect(base)
        ack, _ = await teacher.request({"type": "room_open"})
        await teacher.request({"type": "step", "n": 2})
        viewer = await LiveClient.connect(base, f"?room={ack['code']}")
        await until(viewer, lambda m: isinstance(m, dict) and m.get("type") == "room_hold")
        for _ in range(3):
            await teacher.request({"type": "step", "n": 1})
        await until(viewer, lambda m: getattr(m, "kind", None) == "step" and m.step == 5)
        await teacher.close()
        await viewer.close()
        return teacher, viewer

    teacher, viewer = asyncio.run(scenario())
    seen = viewer.frames("step")
    assert seen[0].had_schema  # in the room's state, though the teacher's socket had it before
    later = [f for f in seen if f.step in (4, 5)]
    assert [f.had_schema for f in later] == [False, False]
    mine = next(f for f in teacher.frames("step") if f.step == 5)
    assert later[-1].header["run"] == mine.header["run"]
    assert later[-1].header["loss"] == mine.header["loss"]
    assert later[-1].arrays.keys() == mine.arrays.keys()
    assert (later[-1].arrays["weight.0"] == mine.arrays["weight.0"]).all()
