"""Every state change is an `event` (docs/protocol.md §3): to the owner, each viewer, recordings."""

from __future__ import annotations

import pytest

from tests.app.support import messages_of
from tests.app.test_recording import read_recording
from tests.app.test_rooms import is_type, join, open_room, until

pytestmark = pytest.mark.timeout(60)

CHANGES = (
    ({"type": "set", "learning_rate": 0.25, "batch_size": 5}, "settings"),
    ({"type": "select", "sample": 3, "split": "test"}, "selection"),
    ({"type": "set_weight", "layer": 0, "source": 1, "target": 0, "value": 0.75}, "edit"),
    ({"type": "set_fps", "fps": 12}, "fps"),
    ({"type": "grid", "resolution": 24}, "grid_resolution"),
    ({"type": "phase"}, "phase"),
    ({"type": "reset"}, "reset"),
    ({"type": "regenerate", "seed": 9}, "regenerate"),
)


def test_each_change_reaches_a_room_viewer_as_an_event_with_the_new_values(client, session):
    session.request({"type": "configure", "spec": {"data": {"dataset": "xor"}}})
    code = open_room(session)["code"]
    ctx, viewer, _ = join(client, code)
    try:
        for message, name in CHANGES:
            ack, seen = session.request(message)
            assert ack["type"] == "ack", ack
            mine = [e for e in messages_of(seen, "event") if e["event"] == name]
            theirs, _ = until(viewer, lambda m, n=name: is_type("event")(m) and m["event"] == n)
            assert mine == [theirs]
            assert theirs["run"] == "r0" and "step" in theirs
    finally:
        ctx.__exit__(None, None, None)


def test_a_viewers_settings_event_carries_the_whole_training_setup(client, session):
    session.request({"type": "configure", "spec": {"data": {"dataset": "xor"}}})
    code = open_room(session)["code"]
    ctx, viewer, _ = join(client, code)
    try:
        session.request({"type": "set", "optimizer": {"name": "adam"}, "learning_rate": 0.02,
                         "regularization": "l2", "regularization_rate": 0.001})
        event, _ = until(viewer, lambda m: is_type("event")(m) and m["event"] == "settings")
        training = event["training"]
        assert training["optimizer"]["name"] == "adam"
        assert training["optimizer"]["learning_rate"] == 0.02
        assert (training["regularization"], training["regularization_rate"]) == ("l2", 0.001)
    finally:
        ctx.__exit__(None, None, None)


def test_a_recording_holds_every_event_in_the_order_it_happened(client, session):
    session.request({"type": "configure", "spec": {"data": {"dataset": "xor"}}})
    session.request({"type": "record_start"})
    for message, _ in CHANGES:
        ack, _ = session.request(message)
        assert ack["type"] == "ack", ack
    ack, _ = session.request({"type": "record_stop"})
    _, items = read_recording(client.get(ack["url"]).content)
    recorded = [m["event"] for _, m in items if isinstance(m, dict) and m["type"] == "event"]
    assert recorded == [name for _, name in CHANGES]
    settings = next(m for _, m in items if isinstance(m, dict) and m.get("event") == "settings")
    assert settings["training"]["optimizer"]["learning_rate"] == 0.25
    assert settings["training"]["batch_size"] == 5


def test_a_lesson_is_part_of_the_state_a_joining_viewer_receives(client, session):
    ack, seen = session.request({"type": "configure", "lesson": "overfitting",
                                 "spec": {"data": {"dataset": "circle"}}})
    assert ack["type"] == "ack"
    assert messages_of(seen, "snapshot")[0]["state"]["lesson"] == "overfitting"
    assert messages_of(seen, "event")[-1] == {
        "type": "event", "event": "configure", "run": "r0", "step": 0,
        "lesson": "overfitting"}
    code = open_room(session)["code"]
    ctx, viewer, _ = join(client, code)
    try:
        assert viewer.snapshot["state"]["lesson"] == "overfitting"
    finally:
        ctx.__exit__(None, None, None)


def test_an_unknown_lesson_is_refused_and_the_setup_kept(session):
    reply, _ = session.request({"type": "configure", "lesson": "no_such_lesson",
                                "spec": {"data": {"dataset": "spiral"}}})
    assert reply["code"] == "invalid_value" and "no_such_lesson" in reply["message"]
    _, seen = session.request({"type": "snapshot"})
    assert messages_of(seen, "snapshot")[0]["data"]["dataset"]["name"] != "spiral"


def test_reset_and_regenerate_keep_the_lesson(session):
    session.request({"type": "configure", "lesson": "overfitting",
                     "spec": {"data": {"dataset": "circle"}}})
    for message in ({"type": "reset"}, {"type": "regenerate", "seed": 4}):
        _, seen = session.request(message)
        assert messages_of(seen, "snapshot")[0]["state"]["lesson"] == "overfitting"
