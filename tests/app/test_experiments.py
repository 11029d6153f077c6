"""Saved experiments, export/import, history CSV and CSV datasets, over the TestClient."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from tests.app.support import WsClient, make_settings, messages_of

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def client(tmp_path):
    app = create_app(make_settings(db_path=str(tmp_path / "exp.db"), max_upload_bytes=20_000))
    with TestClient(app) as c:
        yield c

# `session` (tests/app/conftest.py) opens its socket on this module's `client`.


def snapshot_of(c: WsClient) -> dict:
    _, seen = c.request({"type": "snapshot"})
    return messages_of(seen, "snapshot")[0]


def params(snapshot: dict) -> list[np.ndarray]:
    return [np.asarray(p[k]) for p in snapshot["parameters"] for k in ("weight", "bias")]


def assert_same_params(a: dict, b: dict) -> None:
    for x, y in zip(params(a), params(b), strict=True):
        np.testing.assert_array_equal(x, y)


SPEC = {"data": {"dataset": "spiral", "noise": 0.1},
        "network": {"hidden": [{"units": 6}, {"units": 5}]},
        "training": {"optimizer": {"name": "momentum", "learning_rate": 0.05},
                     "batch_size": 7}}


def ok(reply: dict) -> dict:
    assert reply["type"] == "ack", reply
    return reply


def test_save_list_open_rename_delete_share(client, session):
    ok(session.request({"type": "configure", "spec": SPEC})[0])
    ok(session.request({"type": "step", "n": 23})[0])
    ack = ok(session.request({"type": "save", "name": "  my   spiral ", "publish": True})[0])
    exp, owner = ack["experiment"], ack["owner_token"]
    assert exp["name"] == "my spiral" and exp["step"] == 23 and exp["dataset"] == "spiral"
    assert ack["share_url"].endswith(f"/e/{exp['id']}")
    saved = snapshot_of(session)

    listed = client.get("/api/experiments").json()
    assert listed["total"] == 1 and listed["experiments"][0]["id"] == exp["id"]
    detail = client.get(f"/api/experiments/{exp['id']}").json()
    assert detail["spec"]["data"]["dataset"] == "spiral"
    assert detail["history"]["rows"][-1][0] == 23  # the loss history up to the saved step
    assert sum(r[1] for r in detail["history"]["rows"]) == 23
    page = client.get(f"/e/{exp['id']}")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert client.get("/e/nosuchid").status_code == 404
    assert client.get("/api/experiments/nosuchid").status_code == 404

    # the session moves on, then opens the saved state again and continues identically
    ok(session.request({"type": "step", "n": 10})[0])
    after_ten = snapshot_of(session)
    ok(session.request({"type": "reset", "reinitialize": True})[0])
    ack, seen = session.request({"type": "open", "experiment": exp["id"]})
    ok(ack)
    assert ack["step"] == 23
    opened = messages_of(seen, "snapshot")[0]
    assert opened["reason"] == "open" and opened["state"]["step"] == 23
    assert_same_params(opened, saved)
    ok(session.request({"type": "step", "n": 10})[0])
    assert_same_params(snapshot_of(session), after_ten)
    err, _ = session.request({"type": "open", "experiment": "nosuchid"})
    assert err["code"] == "not_found"

    # rename/delete need the owner token
    r = client.patch(f"/api/experiments/{exp['id']}", json={"name": "renamed"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    r = client.patch(f"/api/experiments/{exp['id']}", json={"name": "renamed"},
                     headers={"X-Owner-Token": "wrong"})
    assert r.status_code == 403
    r = client.patch(f"/api/experiments/{exp['id']}", json={"name": "renamed"},
                     headers={"X-Owner-Token": owner})
    assert r.status_code == 200 and r.json()["name"] == "renamed"
    assert client.delete(f"/api/experiments/{exp['id']}").status_code == 403
    r = client.request("DELETE", f"/api/experiments/{exp['id']}", json={"owner_token": owner})
    assert r.status_code == 200
    assert client.get("/api/experiments").json()["total"] == 0


def download(client, ack: dict) -> bytes:
    r = client.get(ack["url"])
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    assert len(r.content) == ack["bytes"]
    return r.content


@pytest.mark.parametrize("fmt", ["json", "npz"])
def test_export_import_continues_bit_identically(client, fmt):
    with client.websocket_connect("/ws") as ws_a, client.websocket_connect("/ws") as ws_b:
        a, b = WsClient(ws_a), WsClient(ws_b)
        a.handshake()
        b.handshake()
        spec = {**SPEC, "network": {"hidden": [{"units": 5, "dropout": 0.2}], "dtype": "float32"}}
        ok(a.request({"type": "configure", "spec": spec})[0])
        ok(a.request({"type": "step", "n": 31})[0])  # mid-epoch: the batch order matters
        ack = ok(a.request({"type": "export", "format": fmt})[0])
        assert ack["filename"].endswith("." + fmt)
        data = download(client, ack)

        r = client.post("/api/import", content=data)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["step"] == 31 and body["format"] == fmt
        ack, seen = b.request({"type": "open_import", "token": body["import_token"]})
        assert ok(ack)["step"] == 31
        assert messages_of(seen, "snapshot")[0]["reason"] == "import"
        for c in (a, b):
            ok(c.request({"type": "step", "n": 40})[0])
        assert_same_params(snapshot_of(a), snapshot_of(b))

    bad = client.post("/api/import", content=b'{"format": "something else"}')
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_import"


def test_history_csv_export(client, session):
    ok(session.request({"type": "configure", "spec": SPEC})[0])
    ok(session.request({"type": "step", "n": 50})[0])
    ok(session.request({"type": "step", "n": 1})[0])
    ack = ok(session.request({"type": "export", "format": "csv"})[0])
    rows = list(csv.reader(io.StringIO(download(client, ack).decode())))
    header, rows = rows[0], rows[1:]
    assert header[:5] == ["step", "n", "loss_mean", "loss_min", "loss_max"]
    assert "grad_norm_2_max" in header and len(header) == 2 + 9 + 9
    assert sum(int(r[1]) for r in rows) == 51 and rows[-1][0] == "51"
    assert all(float(r[header.index("loss_min")]) <= float(r[header.index("loss_max")])
               for r in rows)
    assert client.get("/api/downloads/nope").status_code == 404


GOOD_CSV = "size,rooms,price\n" + "\n".join(
    f"{50 + i},{1 + i % 4},{100 + 3 * i + (i % 4) * 10}" for i in range(60)
)


def upload(client, text: str | bytes):
    body = text.encode() if isinstance(text, str) else text
    return client.post("/api/csv/preview", content=body, headers={"content-type": "text/csv"})


def test_csv_upload_preview_then_train(client, session):
    r = upload(client, GOOD_CSV)
    assert r.status_code == 200, r.text
    preview = r.json()
    assert preview["columns"] == ["size", "rooms", "price"] and preview["n_rows"] == 60
    assert preview["numeric"] == {"size": True, "rooms": True, "price": True}
    assert len(preview["rows"]) == 5
    spec = {"network": {"hidden": [{"units": 4}], "output_activation": "linear"},
            "training": {"optimizer": {"name": "adam", "learning_rate": 0.05}}}
    ack, seen = session.request({"type": "configure_csv", "spec": spec,
                                 "dataset_token": preview["dataset_token"], "target": "price",
                                 "features": ["size", "rooms"]})
    ok(ack)
    assert ack["dataset"]["task"] == "regression" and ack["dataset"]["inputs"] == ["size",
                                                                                   "rooms"]
    snap = messages_of(seen, "snapshot")[0]
    assert snap["spec"]["data"]["dataset"] == "custom" and snap["network"]["sizes"][0] == 2
    first = snap["state"]["metrics"]["train_loss"]
    ok(session.request({"type": "step", "n": 300})[0])
    assert snapshot_of(session)["state"]["metrics"]["train_loss"] < first

    # the custom data travels with a saved experiment
    saved = ok(session.request({"type": "save", "name": "houses"})[0])
    ok(session.request({"type": "configure", "spec": {}})[0])
    ack, seen = session.request({"type": "open", "experiment": saved["experiment"]["id"]})
    ok(ack)
    snap = messages_of(seen, "snapshot")[0]
    assert snap["data"]["target_name"] == "price" and snap["state"]["step"] == 300


BAD_FILES = {
    "empty": ("", None, None, "empty"),
    "header of numbers": ("1,2,3\n4,5,6\n", 1, None, "header"),
    "duplicate column": ("a,b,a\n1,2,3\n", 1, "a", "more than once"),
    "ragged row": ("a,b,c\n1,2,3\n4,5\n6,7,8\n", 3, None, "expected 3 values"),
    "unnamed column": ("a,,c\n1,2,3\n", 1, None, "no name"),
}


@pytest.mark.parametrize("name", list(BAD_FILES))
def test_bad_csv_upload_is_refused_with_row_and_column(client, name):
    text, row, column, reason = BAD_FILES[name]
    r = upload(client, text)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["code"] == "invalid_csv"
    assert error["row"] == row and error["column"] == column
    assert reason in error["reason"]


def test_csv_upload_limits(client):
    r = upload(client, "a,b\n" + "1,2\n" * 10_000)  # over max_upload_bytes (20 000 here)
    assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"
    r = upload(client, b"a,b\n1,2\n\xff\xfe,3\n")
    assert r.status_code == 400 and r.json()["error"]["row"] == 3
    r = client.post("/api/csv/preview", content=b"--x\r\n",
                    headers={"content-type": "multipart/form-data; boundary=x"})
    assert r.status_code == 415


CONTENT_ERRORS = {
    "not a number": ("x,y\n1,0\n2,1\nabc,0\n4,1\n5,0\n", "y", 4, "x", "not a number"),
    "empty cell": ("x,y\n1,0\n2,1\n,0\n4,1\n5,0\n", "y", 4, "x", "empty"),
    "unknown target": ("x,y\n1,0\n2,1\n3,0\n4,1\n", "z", None, "z", "no such column"),
    "one class": ("x,y\n1,a\n2,a\n3,a\n4,a\n", "y", None, "y", "only one class"),
    "too few rows": ("x,y\n1,0\n2,1\n", "y", None, None, "at least"),
}


@pytest.mark.parametrize("name", list(CONTENT_ERRORS))
def test_bad_csv_content_is_refused_at_configure(client, session, name):
    text, target, row, column, reason = CONTENT_ERRORS[name]
    r = upload(client, text)
    assert r.status_code == 200, r.text
    before = snapshot_of(session)
    err, _ = session.request({"type": "configure_csv", "spec": {},
                              "dataset_token": r.json()["dataset_token"], "target": target})
    assert err["type"] == "error" and err["code"] == "invalid_csv", err
    assert err["details"]["row"] == row and err["details"]["column"] == column
    assert reason in err["details"]["reason"]
    assert snapshot_of(session)["spec"] == before["spec"]  # the old state is kept


def test_unknown_tokens(session):
    err, _ = session.request({"type": "configure_csv", "dataset_token": "nope", "target": "y"})
    assert err["code"] == "not_found"
    err, _ = session.request({"type": "open_import", "token": "nope"})
    assert err["code"] == "not_found"
