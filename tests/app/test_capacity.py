"""Issue 12 findings 6–8 over the TestClient: hand-out copies count against the session cap,
the teacher's session is never evicted by students', only the teacher drives the room, and a
grid frame fits its budget at the published maxima."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.views import GRID_BUDGET_BYTES
from tests.app.support import WsClient, expect_refusal, frames_of, make_settings

pytestmark = pytest.mark.timeout(90)


def ok(reply: dict) -> dict:
    assert reply["type"] == "ack", reply
    return reply


def viewer(client, code: str):
    ctx = client.websocket_connect(f"/ws?room={code}")
    v = WsClient(ctx.__enter__())
    assert v.recv()["type"] == "welcome"
    for _ in range(20):
        item = v.recv()
        if isinstance(item, dict) and item.get("type") == "room_hold":
            return ctx, v
    raise AssertionError("the viewer never got the room's state")


def test_hand_out_copies_count_against_max_sessions():
    app = create_app(make_settings(max_sessions=3))
    with TestClient(app) as client, client.websocket_connect("/ws") as ws:
        teacher = WsClient(ws)
        teacher.handshake()
        code = ok(teacher.request({"type": "room_open"})[0])["code"]
        viewers = [viewer(client, code) for _ in range(3)]
        ack = ok(teacher.request({"type": "room_handout"})[0])
        assert ack["viewers"] == 2 and ack["refused"] == 1
        assert len(app.state.registry.sessions) == 3
        for ctx, _ in viewers:
            ctx.__exit__(None, None, None)


def test_a_students_tabs_never_evict_the_teachers_detached_session():
    app = create_app(make_settings(max_sessions=2))
    with TestClient(app) as client:
        with client.websocket_connect("/ws") as ws:
            teacher = WsClient(ws)
            teacher.handshake()
            ack = ok(teacher.request({"type": "room_open"})[0])
            assert ack["role"] == "teacher"
            code, token = ack["code"], teacher.welcome["token"]
        # the teacher's tab reloads; meanwhile a student opens tabs
        with client.websocket_connect("/ws") as ws:
            WsClient(ws).handshake()
            with client.websocket_connect("/ws") as ws2:
                expect_refusal(ws2, "server_busy")
        assert client.get(f"/api/rooms/{code}").status_code == 200
        with client.websocket_connect(f"/ws?resume={token}") as ws:
            assert json.loads(ws.receive_text())["resumed"] is True


def test_only_the_teacher_can_close_hold_or_hand_out(client, session):
    code = ok(session.request({"type": "room_open"})[0])["code"]
    ctx, v = viewer(client, code)
    try:
        for kind in ("room_close", "room_hold", "room_handout", "focus"):
            err, _ = v.request({"type": kind})
            assert err["type"] == "error" and err["code"] == "read_only", (kind, err)
        assert client.get(f"/api/rooms/{code}").status_code == 200
        # a student's own copy (after a hand-out) has no room to close or hold
        ok(session.request({"type": "room_handout"})[0])
        for kind in ("room_close", "room_hold", "room_handout"):
            err, _ = v.request({"type": kind})
            assert err["type"] == "error" and err["code"] in ("no_room", "bad_state"), err
        assert client.get(f"/api/rooms/{code}").status_code == 200
    finally:
        ctx.__exit__(None, None, None)


@pytest.mark.parametrize("hidden, resolution", [([150] * 10, 128), ([64] * 3, 128)])
def test_grids_of_the_largest_networks_fit_their_budget(session, hidden, resolution):
    spec = {"data": {"dataset": "spiral", "n_samples": 10_000},
            "network": {"hidden": [{"units": u} for u in hidden]}}
    ok(session.request({"type": "configure", "spec": spec})[0])
    ack, seen = session.request({"type": "grid", "resolution": resolution})
    (grid,) = frames_of(seen, "grid")
    r = grid.header["resolution"]
    assert r == ok(ack)["effective_resolution"] and 8 <= r < resolution
    assert sum(a.nbytes for a in grid.arrays.values()) <= GRID_BUDGET_BYTES
    assert all(a.shape[-2:] == (r, r) for name, a in grid.arrays.items())


def test_places_are_kept_for_the_copies_of_a_rooms_following_viewers():
    app = create_app(make_settings(max_sessions=4))
    with TestClient(app) as client, client.websocket_connect("/ws") as ws:
        teacher = WsClient(ws)
        teacher.handshake()
        code = ok(teacher.request({"type": "room_open"})[0])["code"]
        viewers = [viewer(client, code) for _ in range(2)]
        assert app.state.services.rooms.reserved_slots() == 2
        # 1 teacher + 2 kept for hand-outs: one more tab fits, the next is refused
        with client.websocket_connect("/ws") as student:
            WsClient(student).handshake()
            with client.websocket_connect("/ws") as late:
                reply = json.loads(late.receive_text())
                assert reply["code"] == "server_busy"
                assert "2 of them kept for the copies" in reply["message"]
            # the two viewers still get their copies
            ack = ok(teacher.request({"type": "room_handout"})[0])
            assert ack["viewers"] == 2 and ack["refused"] == 0
            assert app.state.services.rooms.reserved_slots() == 0
        for ctx, _ in viewers:
            ctx.__exit__(None, None, None)
