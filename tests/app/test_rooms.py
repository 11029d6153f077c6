"""Classroom rooms over the TestClient: join, read-only, focus, hold, hand-out, follow, close."""

from __future__ import annotations

import numpy as np
import pytest

from app.rooms import CODE_ALPHABET, CODE_LENGTH
from tests.app.protocol_decoder import Frame
from tests.app.support import WsClient, frames_of, messages_of

pytestmark = pytest.mark.timeout(60)


def until(c: WsClient, pred, limit: int = 200) -> tuple[object, list]:
    """Receive until pred(item) holds; returns (that item, everything before it)."""
    seen = []
    for _ in range(limit):
        item = c.recv()
        if pred(item):
            return item, seen
        seen.append(item)
    raise AssertionError(f"not received in {limit} messages: {seen[-5:]}")


def is_type(kind: str):
    return lambda m: isinstance(m, dict) and m.get("type") == kind


def join(client, code: str):
    """Connect a viewer; returns (context, WsClient, the messages up to the room's state)."""
    ctx = client.websocket_connect(f"/ws?room={code}")
    ws = ctx.__enter__()
    v = WsClient(ws)
    welcome = v.recv()
    assert welcome["type"] == "welcome" and welcome["role"] == "viewer"
    assert welcome["room"]["code"] == code
    snapshot, _ = until(v, is_type("snapshot"))
    assert snapshot["reason"] == "room"
    v.snapshot = snapshot
    hold, seen = until(v, is_type("room_hold"))
    assert frames_of(seen, "step") and frames_of(seen, "grid")
    return ctx, v, [welcome, snapshot, *seen, hold]


def params(snapshot: dict) -> list[np.ndarray]:
    return [np.asarray(p[k]) for p in snapshot["parameters"] for k in ("weight", "bias")]


def open_room(presenter: WsClient) -> dict:
    ack, _ = presenter.request({"type": "room_open"})
    assert ack["type"] == "ack", ack
    return ack


def test_open_join_read_only_focus_hold_close(client, session):
    ack = open_room(session)
    code = ack["code"]
    assert len(code) == CODE_LENGTH and set(code) <= set(CODE_ALPHABET)
    assert ack["join_path"] == f"/r/{code}" and ack["join_url"].endswith(f"/r/{code}")
    assert ack["qr_svg"].startswith("<svg") and "path" in ack["qr_svg"]
    assert open_room(session)["code"] == code  # idempotent
    assert client.get(f"/r/{code}").status_code == 200
    assert client.get("/r/ZZZZZZ").status_code == 404
    assert client.get(f"/api/rooms/{code}").json()["viewers"] == 0

    ctx, viewer, _ = join(client, code)
    try:
        # the viewer cannot drive the presenter's session
        for attempt in ({"type": "step", "n": 5}, {"type": "play"}, {"type": "room_open"},
                        {"type": "save", "name": "x"}, {"type": "focus", "focus": 1}):
            reply, _ = viewer.request(attempt)
            assert reply["type"] == "error" and reply["code"] == "read_only", reply
        pong, _ = viewer.request({"type": "ping", "t": 1})
        assert pong["type"] == "pong"
        snap_ack, seen = session.request({"type": "snapshot"})
        snapshot = messages_of(seen, "snapshot")[0]
        assert snapshot["state"]["step"] == 0
        assert any(m.get("type") == "room_update" and m["viewers"] == 1
                   for m in session_messages(seen))

        # the presenter's stream reaches the viewer: snapshot (request), steps, explanations
        until(viewer, is_type("snapshot"))
        step_ack, _ = session.request({"type": "step", "n": 3})
        frame, seen = until(viewer, lambda m: isinstance(m, Frame) and m.kind == "step"
                            and m.step == 3)
        assert messages_of(seen, "metrics")
        assert not [m for m in seen if isinstance(m, dict) and m.get("type") == "ack"]
        session.request({"type": "explain", "layer": 0, "source": 0, "target": 0})
        explanation, _ = until(viewer, is_type("explanation"))
        assert explanation["layer"] == 0 and explanation["step"] == 3

        # focus and hold are broadcast
        focus = {"neuron": [1, 2], "inspector": "weight", "note": "é"}
        ack, _ = session.request({"type": "focus", "focus": focus})
        assert ack["type"] == "ack" and ack["viewers"] == 1
        got, _ = until(viewer, is_type("focus"))
        assert got["focus"] == focus
        too_big, _ = session.request({"type": "focus", "focus": "x" * 5000})
        assert too_big["type"] == "error" and too_big["code"] == "invalid_message"
        ack, _ = session.request({"type": "room_hold", "hold": True})
        assert ack["hold"] is True
        hold, _ = until(viewer, is_type("room_hold"))
        assert hold["hold"] is True and hold["step"] == 3

        # a late viewer gets the current state, focus and hold at once
        ctx2, late, got = join(client, code)
        assert late.snapshot["state"]["step"] == 3
        assert got[-1]["hold"] is True
        focus_msg, _ = until(late, is_type("focus"))
        assert focus_msg["focus"] == focus
        ctx2.__exit__(None, None, None)

        # closing tells the viewers and ends their sockets
        ack, _ = session.request({"type": "room_close"})
        assert ack["code"] == code
        closed, _ = until(viewer, is_type("room_closed"))
        assert closed["reason"] == "closed"
        assert viewer.ws.receive()["type"] == "websocket.close"
        err, _ = session.request({"type": "room_hold"})
        assert err["code"] == "no_room"
    finally:
        ctx.__exit__(None, None, None)


def session_messages(items: list) -> list[dict]:
    return [m for m in items if isinstance(m, dict)]


def test_unknown_room_is_refused(client):
    with client.websocket_connect("/ws?room=ABCDEF") as ws:
        v = WsClient(ws)
        err = v.recv()
        assert err["type"] == "error" and err["code"] == "unknown_room"
        assert ws.receive()["type"] == "websocket.close"


def test_handout_gives_independent_copies_then_follow_again(client, session):
    session.request({"type": "configure", "spec": {
        "data": {"dataset": "xor"},
        "training": {"optimizer": {"name": "adam", "learning_rate": 0.01}}}})
    session.request({"type": "step", "n": 7})
    code = open_room(session)["code"]
    ctx1, v1, _ = join(client, code)
    ctx2, v2, _ = join(client, code)
    try:
        ack, _ = session.request({"type": "room_handout"})
        assert ack["viewers"] == 2 and ack["step"] == 7
        _, seen = session.request({"type": "snapshot"})
        presenter_snap = messages_of(seen, "snapshot")[0]
        copies = []
        for v in (v1, v2):
            handout, _ = until(v, is_type("room_handout"))
            assert handout["step"] == 7 and handout["token"]
            snap, _ = until(v, is_type("snapshot"))
            assert snap["state"]["step"] == 7
            for a, b in zip(params(snap), params(presenter_snap), strict=True):
                np.testing.assert_array_equal(a, b)
            assert snap["spec"] == presenter_snap["spec"]
            copies.append(snap)

        # viewer 1 trains its copy; the presenter and viewer 2 do not move
        ack, _ = v1.request({"type": "step", "n": 5})
        assert ack["type"] == "ack" and ack["step"] == 12
        _, seen = session.request({"type": "snapshot"})
        assert messages_of(seen, "snapshot")[0]["state"]["step"] == 7

        # the presenter and viewer 2 take the same 3 steps: bit-identical (optimiser state too)
        session.request({"type": "step", "n": 3})
        v2.request({"type": "step", "n": 3})
        _, seen = session.request({"type": "snapshot"})
        p_snap = messages_of(seen, "snapshot")[0]
        _, seen = v2.request({"type": "snapshot"})
        v_snap = messages_of(seen, "snapshot")[0]
        assert p_snap["state"]["step"] == v_snap["state"]["step"] == 10
        for a, b in zip(params(p_snap), params(v_snap), strict=True):
            np.testing.assert_array_equal(a, b)
        _, seen = v1.request({"type": "snapshot"})
        assert messages_of(seen, "snapshot")[0]["state"]["step"] == 12  # its own session

        # back to following: the presenter's state again, read-only again
        ack, _ = v1.request({"type": "room_follow"})
        assert ack["type"] == "ack" and ack["of"] == "room_follow"
        snap, _ = until(v1, is_type("snapshot"))
        assert snap["reason"] == "room" and snap["state"]["step"] == 10
        err, _ = v1.request({"type": "step"})
        assert err["code"] == "read_only"
        session.request({"type": "step", "n": 1})
        until(v1, lambda m: isinstance(m, Frame) and m.kind == "step" and m.step == 11)
        services = client.app.state.services
        registry = client.app.state.registry
        private = [s for s in registry.sessions.values()
                   if s.ext is not None and s.ext.handout_of == code]
        assert len(private) == 1  # viewer 1's copy is gone, viewer 2's remains
        assert services.rooms.get(code).followers
    finally:
        ctx1.__exit__(None, None, None)
        ctx2.__exit__(None, None, None)


def test_presenter_session_ending_closes_the_room(client, session):
    code = open_room(session)["code"]
    ctx, viewer, _ = join(client, code)
    try:
        registry = client.app.state.registry
        presenter = next(s for s in registry.sessions.values()
                         if s.ext is not None and s.ext.room is not None)
        client.portal.call(presenter.task.cancel)
        closed, _ = until(viewer, is_type("room_closed"))
        assert closed["reason"] == "presenter_left"
        assert client.app.state.services.rooms.get(code) is None
    finally:
        ctx.__exit__(None, None, None)
