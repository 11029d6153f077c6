"""Issue 12 findings 1–3: exports, stored experiments and messages are untrusted input.

A doctored file is refused with a 400 naming the field; an .npz's declared sizes are checked
before anything is read; a lone surrogate never silences a session; a failure while playing is
logged and answered, and leaves the session and its room usable.
"""

from __future__ import annotations

import io
import json
import logging
import sqlite3
import tracemalloc
import zipfile

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from tests.app.support import WsClient, make_settings, messages_of

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def client(tmp_path):
    app = create_app(make_settings(db_path=str(tmp_path / "exp.db")))
    with TestClient(app) as c:
        yield c


def ok(reply: dict) -> dict:
    assert reply["type"] == "ack", reply
    return reply


def export(client, c: WsClient, fmt: str = "json") -> bytes:
    ack = ok(c.request({"type": "export", "format": fmt})[0])
    return client.get(ack["url"]).content


HOUSES = "size,rooms,price\n" + "\n".join(
    f"{50 + i},{1 + i % 4},{100 + 3 * i + (i % 4) * 10}" for i in range(60)
)


def custom_export(client, session) -> dict:
    """A real JSON export of a session trained on uploaded CSV data (it carries `dataset`)."""
    token = client.post("/api/csv/preview", content=HOUSES.encode(),
                        headers={"content-type": "text/csv"}).json()["dataset_token"]
    ok(session.request({"type": "configure_csv", "dataset_token": token, "target": "price",
                        "spec": {"network": {"output_activation": "linear"}}})[0])
    ok(session.request({"type": "step", "n": 3})[0])
    return json.loads(export(client, session))


def refused(client, body: bytes) -> dict:
    r = client.post("/api/import", content=body)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["code"] == "invalid_import"
    return error


# --- finding 1: a doctored export -------------------------------------------------------------


def test_a_batch_order_outside_the_data_is_refused_naming_position_order(client, session):
    state = json.loads(export(client, session))
    assert client.post("/api/import", content=json.dumps(state).encode()).status_code == 200
    state["position"]["order"] = [1_000_000] * 20
    error = refused(client, json.dumps(state).encode())
    assert error["field"] == "position.order" and "position.order" in error["message"]


@pytest.mark.parametrize("field, value", [
    ("position.cursor", 10**9),
    ("position.step", -1),
    ("position.order_rng", {"bit_generator": "MT19937"}),
    ("optimizer.learning_rate", 1e6),
    ("optimizer.state", {"velocity": [0.0] * 3}),
    ("parameters", [[1.0]]),
])
def test_every_field_of_an_export_is_checked_against_its_limits(client, session, field, value):
    ok(session.request({"type": "configure", "spec": {"training": {
        "optimizer": {"name": "momentum"}}}})[0])
    ok(session.request({"type": "step", "n": 2})[0])
    state = json.loads(export(client, session))
    head, _, key = field.rpartition(".")
    (state[head] if head else state)[key] = value
    error = refused(client, json.dumps(state).encode())
    assert error["field"].startswith(field), error


def test_an_import_of_more_rows_than_a_spec_may_have_is_refused(client, session):
    state = custom_export(client, session)
    assert client.post("/api/import", content=json.dumps(state).encode()).status_code == 200
    rows = state["dataset"]["x_train"]
    state["dataset"]["x_train"] = rows * (10_001 // len(rows) + 1)
    state["dataset"]["y_train"] = state["dataset"]["y_train"] * (10_001 // len(rows) + 1)
    error = refused(client, json.dumps(state).encode())
    assert error["field"] == "dataset.x_train" and "10000" in error["message"]


def test_a_tampered_stored_experiment_cannot_harm_the_session_that_opens_it(client, tmp_path):
    with client.websocket_connect("/ws") as ws:
        teacher = WsClient(ws)
        teacher.handshake()
        ok(teacher.request({"type": "step", "n": 5})[0])
        saved = ok(teacher.request({"type": "save", "name": "lesson"})[0])["experiment"]
        # someone with the database file (or an older server that stored an unchecked import)
        state = json.loads(export(client, teacher))
        state["position"]["order"] = [1_000_000] * 20
        db = sqlite3.connect(tmp_path / "exp.db")
        db.execute("UPDATE experiments SET state = ? WHERE id = ?",
                   (json.dumps(state).encode(), saved["id"]))
        db.commit()
        db.close()
        code = ok(teacher.request({"type": "room_open"})[0])["code"]
        with client.websocket_connect(f"/ws?room={code}") as viewer_ws:
            viewer = WsClient(viewer_ws)
            assert viewer.recv()["type"] == "welcome"
            err, _ = teacher.request({"type": "open", "experiment": saved["id"]})
            assert err["type"] == "error" and err["code"] == "invalid_file", err
            assert err["details"]["field"] == "position.order"
            ok(teacher.request({"type": "play"})[0])
            ack, _ = teacher.request({"type": "pause"})
            assert ok(ack)["step"] > 5
            assert client.get(f"/api/rooms/{code}").status_code == 200
            r = client.get(f"/api/experiments/{saved['id']}/export?format=json")
            assert r.status_code == 400 and r.json()["error"]["field"] == "position.order"


def test_a_failure_while_playing_is_logged_answered_and_leaves_session_and_room_usable(
        client, caplog):
    with client.websocket_connect("/ws") as ws:
        teacher = WsClient(ws)
        teacher.handshake()
        code = ok(teacher.request({"type": "room_open"})[0])["code"]
        with client.websocket_connect(f"/ws?room={code}") as viewer_ws:
            viewer = WsClient(viewer_ws)
            assert viewer.recv()["type"] == "welcome"
            (session,) = client.app.state.registry.sessions.values()
            # the trainer state the doctored export of finding 1 produced on the old server
            session.trainer._order = np.full(20, 1_000_000, dtype=np.int64)
            session.trainer._cursor = 0
            with caplog.at_level(logging.ERROR, logger="propscope.session"):
                ok(teacher.request({"type": "play"})[0])
                ack, seen = teacher.request({"type": "pause"})
            ok(ack)  # pause is answered
            errors = messages_of(seen, "error")
            assert errors and errors[0]["code"] == "internal_error", seen
            assert [m["reason"] for m in messages_of(seen, "status")][-1] == "error"
            logged = [r.getMessage() for r in caplog.records]
            assert any("event=play_failed" in m and f"session={session.id}" in m
                       for m in logged), logged
            assert client.get(f"/api/rooms/{code}").status_code == 200  # the room is still open
            ok(teacher.request({"type": "reset"})[0])
            ok(teacher.request({"type": "step", "n": 3})[0])
            assert teacher.request({"type": "ping"})[0]["type"] == "pong"


# --- finding 2: lone surrogates ---------------------------------------------------------------


def test_a_lone_surrogate_in_a_message_gets_an_error_and_the_session_keeps_talking(session):
    session.ws.send_text('{"type":"ping","id":"\\ud800"}')
    reply = session.recv()
    assert reply["type"] == "error" and reply["code"] == "invalid_message"
    assert reply["id"] is None and "id" in reply["message"]
    session.ws.send_text('{"type":"configure","id":7,"spec":{"data":{"dataset":"\\udfff"}}}')
    reply = session.recv()
    assert reply == {**reply, "type": "error", "id": 7, "code": "invalid_message"}
    assert session.request({"type": "ping"})[0]["type"] == "pong"


def test_an_export_with_a_lone_surrogate_is_refused(client, session):
    state = custom_export(client, session)
    state["dataset"]["target_name"] = "\ud800"
    body = json.dumps(state).encode()  # ensure_ascii: the surrogate travels as \ud800
    error = refused(client, body)
    assert error["field"] == "dataset.target_name" and "surrogate" in error["message"]


# --- finding 3: decompressed sizes ------------------------------------------------------------


def test_an_npz_member_declaring_512_mib_is_refused_before_it_is_read(client, session):
    real = export(client, session, "npz")
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(real)) as src, \
            zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as out:
        for info in src.infolist():
            if info.filename != "param_0.npy":
                out.writestr(info.filename, src.read(info))
        with out.open("param_0.npy", "w", force_zip64=True) as f:
            header = io.BytesIO()
            np.lib.format.write_array_header_1_0(
                header, {"descr": "<f8", "fortran_order": False, "shape": (2**26,)})
            f.write(header.getvalue())
            zeros = bytes(1 << 20)
            for _ in range(512):
                f.write(zeros)
    body = buffer.getvalue()
    assert len(body) < 1024 * 1024
    tracemalloc.start()
    try:
        r = client.post("/api/import", content=body)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert r.status_code == 400 and "decompressed" in r.json()["error"]["message"], r.text
    assert peak < 32 * 1024 * 1024, f"the refusal cost {peak / 2**20:.0f} MiB"
