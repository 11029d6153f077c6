"""Training in worker processes (app/training_pool.py) against a real server: playing sessions
step in child processes, the runs come back exactly as they trained, and a process killed
mid-lesson is noticed, reported and replaced while the session goes on."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import urllib.request

import pytest

from app.devserver import running_server
from engine import persistence
from engine.spec import Spec
from engine.trainer import Trainer
from tests.app.live_server import LiveClient, health

pytestmark = pytest.mark.timeout(120)

SPEC = {"data": {"dataset": "circle", "n_samples": 300, "noise": 0.1, "seed": 3},
        "network": {"hidden": [{"units": 6, "activation": "tanh"},
                               {"units": 5, "activation": "relu", "dropout": 0.1}]},
        "training": {"batch_size": 10, "seed": 11,
                     "optimizer": {"name": "adam", "learning_rate": 0.01},
                     "regularization": "l2", "regularization_rate": 0.001}}


@pytest.fixture(scope="module")
def base():
    with running_server("--training-processes", os.environ.get("TP", "2"), timeout=30) as server:
        yield server.base


def run(coro):
    return asyncio.run(coro)


def training(base: str) -> dict:
    return health(base)["training"]


def lent(base: str) -> list[dict]:
    return [p for p in training(base)["processes"] if p["leases"]]


async def configured(base: str) -> LiveClient:
    client = await LiveClient.connect(base)
    ack, _ = await client.request({"type": "configure", "spec": SPEC})
    assert ack["type"] == "ack", ack
    return client


async def until(client: LiveClient, pred, timeout: float = 15.0):
    end = time.monotonic() + timeout
    while (left := end - time.monotonic()) > 0:
        item = await client.recv(left)
        if pred(item):
            return item
    raise AssertionError(f"not received in {timeout} s; last: {client.items[-3:]}")


def exported(base: str, ack: dict) -> dict:
    with urllib.request.urlopen(base + ack["url"], timeout=10) as r:
        return json.loads(r.read())


def test_a_playing_session_steps_in_a_child_process_and_comes_back_when_paused(base):
    async def scenario():
        client = await configured(base)
        await client.request({"type": "play", "speed": "max"})
        await client.drain_for(1.0)
        during = lent(base)
        ack, _ = await client.request({"type": "pause"})
        after = lent(base)
        await client.close()
        return during, ack, after

    during, ack, after = run(scenario())
    assert len(during) == 1 and during[0]["leases"] == 1 and during[0]["alive"]
    assert during[0]["pid"] not in (None, os.getpid())
    assert ack["playing"] is False and ack["step"] > 100
    assert after == []  # paused, the runs are back in the server


def test_what_comes_back_is_exactly_the_trainer_stepped_as_many_times_here(base):
    async def scenario():
        client = await configured(base)
        await client.request({"type": "play", "speed": "max"})
        await client.drain_for(0.8)
        paused, _ = await client.request({"type": "pause"})
        ack, _ = await client.request({"type": "export", "format": "json"})
        await client.close()
        return paused["step"], exported(base, ack)

    steps, state = run(scenario())
    local = Trainer(Spec.from_dict(SPEC))
    for _ in range(steps):
        local.step()
    assert steps > 100
    assert state == json.loads(persistence.to_json(local))  # every float, bit for bit


def test_messages_while_playing_see_the_live_run_and_play_goes_on(base):
    async def scenario():
        client = await configured(base)
        await client.request({"type": "play", "speed": "max"})
        await client.drain_for(0.5)
        first, _ = await client.request({"type": "export", "format": "json"})
        await client.drain_for(0.5)
        second, _ = await client.request({"type": "export", "format": "json"})
        await client.request({"type": "pause"})
        await client.close()
        return first, exported(base, first), second, exported(base, second)

    first, first_state, second, second_state = run(scenario())
    assert 0 < first["step"] < second["step"]  # play went on between the two
    assert first_state["parameters"] != second_state["parameters"]


def test_a_killed_training_process_is_reported_and_the_session_goes_on_from_its_checkpoint(
        base):
    async def scenario():
        client = await configured(base)
        await client.request({"type": "play", "speed": "max"})
        await client.drain_for(0.5)
        (victim,) = lent(base)
        os.kill(victim["pid"], signal.SIGKILL)
        restored = await until(client, lambda m: isinstance(m, dict)
                               and m.get("event") == "restored")
        snapshot = await until(client, lambda m: isinstance(m, dict)
                               and m.get("type") == "snapshot")
        await client.drain_for(0.5)
        later = [f.step for f in client.frames("step")][-1]
        processes = lent(base)
        ack, _ = await client.request({"type": "pause"})
        await client.close()
        return victim, restored, snapshot, later, processes, ack

    victim, restored, snapshot, later, processes, ack = run(scenario())
    assert restored["run"] == "r0" and restored["lost_steps"] >= 0
    assert snapshot["reason"] == "restored"
    assert later > restored["step"]  # still training, from the checkpoint on
    assert [p["pid"] for p in processes] != [victim["pid"]] and processes[0]["alive"]
    assert ack["step"] >= later
    assert training(base)["started"] >= 2


HEAVY = {"data": {"dataset": "circle", "n_samples": 2000},
         "network": {"hidden": [{"units": 300, "activation": "tanh"},
                                {"units": 300, "activation": "tanh"}]},
         "training": {"batch_size": 1000}}


def test_a_heavy_session_trains_in_a_process_of_its_own_and_a_light_one_keeps_its_own(base):
    async def scenario():
        heavy, light = await LiveClient.connect(base), await configured(base)
        ack, _ = await heavy.request({"type": "configure", "spec": HEAVY})
        assert ack["type"] == "ack", ack
        await heavy.request({"type": "play", "speed": "max"})
        await light.request({"type": "play", "speed": "max"})
        await light.drain_for(1.0)
        during = lent(base)
        for c in (heavy, light):
            await c.request({"type": "pause"})
            await c.close()
        return during

    during = run(scenario())
    assert sorted((p["heavy"], p["leases"]) for p in during) == [(False, 1), (True, 1)]
