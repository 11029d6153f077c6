"""Backprop against a genetic algorithm, live: a GA run beside a backprop run (§10)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.app.support import frames_of, messages_of

pytestmark = pytest.mark.timeout(120)

XOR = {"data": {"dataset": "xor"},
       "network": {"hidden": [{"units": 8, "activation": "tanh"}]},
       "training": {"batch_size": 10, "optimizer": {"name": "sgd", "learning_rate": 0.03}}}
GA = {"type": "compare", "trainer": "evolution",
      "evolution": {"population": 50, "elite": 2, "seed": 3}}


def ok(reply: dict) -> dict:
    assert reply["type"] == "ack", reply
    return reply


def metrics_by_run(items: list) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for m in messages_of(items, "metrics"):
        out.setdefault(m["run"], []).append(m)
    return out


def test_a_genetic_algorithm_beside_backprop_lowers_its_loss_and_counts_forward_passes(
        session):
    ok(session.request({"type": "configure", "spec": XOR})[0])
    ack, seen = session.request(GA)
    assert ack["run"] == "r1" and ack["restart"] is True
    assert ack["runs"][1]["trainer"] == "evolution"
    assert ack["runs"][1]["label"] == "genetic algorithm"
    snapshots = messages_of(seen, "snapshot")
    assert [s["state"]["step"] for s in snapshots] == [0, 0]

    first_loss = None
    generations, received = 0, []
    while generations < 60:
        _, items = session.request({"type": "step", "n": 20})
        received += items
        ga = metrics_by_run(items)["r1"]
        for m in ga:
            evolution = m["evolution"]
            if evolution["generation"] and first_loss is None:
                first_loss = evolution["best_loss"][0]
            generations = max([generations, *evolution["generation"]])
    last = metrics_by_run(received)["r1"][-1]
    g = max(m["evolution"]["generation"][-1] for m in metrics_by_run(received)["r1"]
            if m["evolution"]["generation"])
    assert last["trainer"] == "evolution"
    assert last["cost"]["forward_passes"] == 50 + g * 48  # the elite keep their scores
    n_train = len(snapshots[1]["data"]["train"]["x"])
    assert last["cost"]["samples_forward"] == last["cost"]["forward_passes"] * n_train
    best = last["eval"]["train_loss"]
    assert best < 0.6 * first_loss, (first_loss, best)
    backprop = metrics_by_run(received)["r0"][-1]
    assert backprop["trainer"] == "backprop"
    assert backprop["cost"]["samples_forward"] == 10 * backprop["to_step"]
    # the GA's frames draw its best network: parameters, no gradients
    frame = [f for f in frames_of(received, "step") if f.header["run"] == "r1"][-1]
    assert frame.header["trainer"] == "evolution" and frame.step == g
    assert "weight.0" in frame.arrays and "weight_grad.0" not in frame.arrays


def test_the_genetic_algorithm_is_deterministic_given_its_seed(session):
    ok(session.request({"type": "configure", "spec": XOR})[0])
    ok(session.request(GA)[0])
    ok(session.request({**GA, "label": "same seed"})[0])
    for _ in range(8):  # one step: at most one generation each (more share their time)
        _, items = session.request({"type": "step", "n": 1})
    frames = {f.header["run"]: f for f in frames_of(items, "step")}
    assert frames["r1"].step == frames["r2"].step == 8
    for name, value in frames["r1"].arrays.items():
        assert np.array_equal(value, frames["r2"].arrays[name]), name


def test_gradient_messages_are_refused_for_a_genetic_algorithm(session):
    ok(session.request({"type": "configure", "spec": XOR})[0])
    ok(session.request(GA)[0])
    for message in ({"type": "set", "run": "r1", "learning_rate": 0.1},
                    {"type": "set_weight", "run": "r1", "layer": 0, "source": 0, "target": 0,
                     "value": 1.0}):
        reply, _ = session.request(message)
        assert reply["code"] == "bad_state" and "genetic algorithm" in reply["message"]
    reply, _ = session.request({**GA, "evolution": {"population": 1}})
    assert reply["code"] == "invalid_spec" and "population" in reply["message"]
    reply, _ = session.request({**GA, "restart": False})
    assert reply["code"] == "bad_state"


def test_reset_rebuilds_the_genetic_algorithm_at_generation_0(session):
    ok(session.request({"type": "configure", "spec": XOR})[0])
    ok(session.request(GA)[0])
    ok(session.request({"type": "step", "n": 5})[0])
    _, seen = session.request({"type": "reset"})
    snapshots = messages_of(seen, "snapshot")
    assert [(s["run"], s["state"]["step"]) for s in snapshots] == [("r0", 0), ("r1", 0)]
    ok(session.request({"type": "configure", "spec": XOR})[0])
    _, seen = session.request({"type": "snapshot"})
    assert [s["run"] for s in messages_of(seen, "snapshot")] == ["r0"]
