"""Issue 12 findings 4 and 9: what a page on another site, or a guesser, can make the server do.

State-changing HTTP endpoints refuse foreign origins and preflight-free body types; room codes
cannot be guessed quickly; the public experiment list shows only what an owner published.
"""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from app.main import create_app
from tests.app.support import WsClient, make_settings

pytestmark = pytest.mark.timeout(60)

EVIL = "http://evil.example"


@pytest.fixture
def client(tmp_path):
    app = create_app(make_settings(db_path=str(tmp_path / "exp.db")))
    with TestClient(app, base_url="http://127.0.0.1:8000") as c:
        yield c


def ok(reply: dict) -> dict:
    assert reply["type"] == "ack", reply
    return reply


def an_export(client, session) -> bytes:
    ack = ok(session.request({"type": "export", "format": "json"})[0])
    return client.get(ack["url"]).content


@pytest.mark.parametrize("path, content_type", [
    ("/api/import", "application/json"),
    ("/api/csv/preview", "text/csv"),
])
def test_uploads_from_a_foreign_origin_are_refused(client, session, path, content_type):
    body = an_export(client, session) if path == "/api/import" else b"a,b\n1,2\n3,4\n"
    r = client.post(path, content=body, headers={"Origin": EVIL, "Content-Type": content_type})
    assert r.status_code == 403 and r.json()["error"]["code"] == "cross_origin"
    assert r.headers["x-frame-options"] == "DENY"
    r = client.post(path, content=body, headers={"Sec-Fetch-Site": "cross-site",
                                                 "Content-Type": content_type})
    assert r.status_code == 403
    own = {"Origin": "http://127.0.0.1:8000", "Content-Type": content_type}
    assert client.post(path, content=body, headers=own).status_code == 200


@pytest.mark.parametrize("path", ["/api/import", "/api/csv/preview"])
def test_simple_request_bodies_that_need_no_preflight_are_refused(client, session, path):
    body = an_export(client, session) if path == "/api/import" else b"a,b\n1,2\n3,4\n"
    for kind in ("text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded"):
        r = client.post(path, content=body, headers={"Content-Type": kind})
        assert r.status_code == 415, (kind, r.text)


def test_rename_and_delete_from_a_foreign_origin_are_refused(client, session):
    ack = ok(session.request({"type": "save", "name": "mine"})[0])
    exp_id, token = ack["experiment"]["id"], ack["owner_token"]
    headers = {"Origin": EVIL, "X-Owner-Token": token, "Content-Type": "application/json"}
    assert client.patch(f"/api/experiments/{exp_id}", content=b'{"name":"x"}',
                        headers=headers).status_code == 403
    assert client.delete(f"/api/experiments/{exp_id}", headers=headers).status_code == 403
    assert client.get(f"/api/experiments/{exp_id}").json()["name"] == "mine"


def test_only_published_experiments_are_listed(client, session):
    private = ok(session.request({"type": "save", "name": "draft"})[0])
    public = ok(session.request({"type": "save", "name": "demo", "publish": True})[0])
    listed = client.get("/api/experiments").json()
    assert [e["name"] for e in listed["experiments"]] == ["demo"] and listed["total"] == 1
    # the owner still sees its own (it knows their ids), and the link still opens it
    private_id = private["experiment"]["id"]
    mine = client.get(f"/api/experiments?mine={private_id}").json()
    assert {e["name"] for e in mine["experiments"]} == {"draft", "demo"}
    assert client.get(f"/api/experiments/{private_id}").status_code == 200
    # publishing is the owner's choice, with its token
    r = client.patch(f"/api/experiments/{private_id}", json={"published": True})
    assert r.status_code == 403
    r = client.patch(f"/api/experiments/{private_id}", json={"published": True},
                     headers={"X-Owner-Token": private["owner_token"]})
    assert r.status_code == 200 and r.json()["published"] is True
    assert client.get("/api/experiments").json()["total"] == 2
    assert public["experiment"]["published"] is True


def test_room_codes_cannot_be_guessed_quickly(client, session):
    code = ok(session.request({"type": "room_open"})[0])["code"]
    refused = 0
    for i in range(40):
        r = client.get(f"/api/rooms/ZZZZ{i:02d}")
        refused += r.status_code == 429
    assert refused >= 25  # a burst of 10 failures, then about one a second
    # while throttled, even the right code is refused: the refusals tell a guesser nothing
    assert client.get(f"/api/rooms/{code}").status_code == 429
    with client.websocket_connect(f"/ws?room={code}") as ws:
        assert json.loads(ws.receive_text())["code"] == "too_many_attempts"
        with pytest.raises(WebSocketDisconnect):
            ws.receive_text()


def test_a_flooding_viewer_is_closed_1008(client, session):
    code = ok(session.request({"type": "room_open"})[0])["code"]
    with client.websocket_connect(f"/ws?room={code}") as ws:
        viewer = WsClient(ws)
        assert viewer.recv()["type"] == "welcome"
        for i in range(300):
            ws.send_text(json.dumps({"type": "room_follow", "id": i}))
        closed = next(m for m in iter(ws.receive, None) if m["type"] == "websocket.close")
        assert closed["code"] == 1008
    assert session.request({"type": "ping"})[0]["type"] == "pong"
