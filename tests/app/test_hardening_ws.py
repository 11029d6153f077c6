"""Issue 5 hardening through the TestClient: origins, caps, limits, headers, divergence, queues."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from app.connection import Connection
from app.frames import KIND_GRID, KIND_STEP, encode_frame
from app.main import create_app
from app.security import TokenBucket, origin_allowed, redact
from tests.app.protocol_decoder import decode
from tests.app.support import WsClient, expect_refusal, make_settings, messages_of

pytestmark = pytest.mark.timeout(60)


def strict_json(text: str):
    """json.loads that refuses NaN/Infinity (what a browser's JSON.parse does)."""

    def refuse(name):
        raise ValueError(f"{name} in JSON")

    return json.loads(text, parse_constant=refuse)


def close_code(ws) -> int:
    while True:
        message = ws.receive()
        if message["type"] == "websocket.close":
            return message["code"]


# --- origins ---------------------------------------------------------------------------------

HOST = "127.0.0.1:8000"
BYPASSES = [
    "http://127.0.0.1:8000.evil.com",
    "http://localhost.evil.com",
    "http://evil.com",
    "null",
    "",
    "file://",
    "ws://127.0.0.1:8000",
    "chrome-extension://127.0.0.1:8000",
    "http://127.0.0.1:8000/",
    "http://127.0.0.1:8000/path",
    "http://user@127.0.0.1:8000",
    "http://127.0.0.1:8000@evil.com",
    "http://evil.com#@127.0.0.1:8000",
    "http://evil.com?127.0.0.1:8000",
    "http://127.0.0.1",
    "http://127.0.0.1:8001",
    "http://127.0.0.1:8000 ",
    " http://127.0.0.1:8000",
    "http://127.0.0.1:8000,http://evil.com",
    "http://127.0.0.1.:8000x",
    "http://[::1]:8000",
]


def test_origin_must_match_the_host_exactly():
    assert origin_allowed(None, HOST, [])  # not a browser
    assert origin_allowed("http://127.0.0.1:8000", HOST, [])
    assert origin_allowed("http://localhost:8000", "localhost:8000", [])
    assert origin_allowed("http://[::1]:8000", "[::1]:8000", [])
    assert origin_allowed("http://example.org", "example.org", [])  # default port 80
    for origin in BYPASSES:
        assert not origin_allowed(origin, HOST, []), origin
    assert not origin_allowed("http://127.0.0.1:8000", None, [])
    assert not origin_allowed("http://127.0.0.1:8000", "127.0.0.1:8000.evil.com", [])


def test_origin_allowlist_is_exact_and_replaces_the_same_host_rule():
    allow = ["http://lab.example:8000", "https://propscope.example"]
    assert origin_allowed("http://lab.example:8000", "whatever", allow)
    assert origin_allowed("https://propscope.example", HOST, allow)
    assert origin_allowed("https://propscope.example:443", HOST, allow)
    assert not origin_allowed("http://propscope.example", HOST, allow)  # scheme differs
    assert not origin_allowed("http://lab.example:8000.evil.com", HOST, allow)
    assert not origin_allowed("http://127.0.0.1:8000", HOST, allow)
    with pytest.raises(ValueError):
        make_settings(allowed_origins="lab.example")


def test_foreign_origins_are_refused_before_the_handshake():
    app = create_app(make_settings())
    with TestClient(app) as c:
        for origin in ("http://evil.com", "http://testserver.evil.com", "null"):
            with pytest.raises(WebSocketDisconnect) as info:
                with c.websocket_connect("/ws", headers={"origin": origin}):
                    pass
            assert info.value.code == 1008
        with c.websocket_connect("/ws", headers={"origin": "http://testserver"}) as ws:
            assert WsClient(ws).handshake()[0]["type"] == "welcome"
        assert c.get("/api/health").json()["sessions"] == 1


def test_configured_allowlist_admits_only_listed_origins():
    app = create_app(make_settings(allowed_origins="http://lab.example:8000"))
    with TestClient(app) as c:
        with c.websocket_connect("/ws", headers={"origin": "http://lab.example:8000"}) as ws:
            WsClient(ws).handshake()
        with pytest.raises(WebSocketDisconnect):
            with c.websocket_connect("/ws", headers={"origin": "http://testserver"}):
                pass


# --- resume tokens ---------------------------------------------------------------------------


def test_token_in_subprotocol_resumes_and_tokens_do_not_cross():
    app = create_app(make_settings())
    with TestClient(app) as c:
        with c.websocket_connect("/ws") as wa, c.websocket_connect("/ws") as wb:
            a, b = WsClient(wa), WsClient(wb)
            a.handshake()
            b.handshake()
            a.request({"type": "step", "n": 4})
            b.request({"type": "step", "n": 9})
            ta, tb = a.welcome["token"], b.welcome["token"]
        assert ta != tb and len(ta) >= 32
        protocols = ["propscope.v1", f"propscope.resume.{ta}"]
        with c.websocket_connect("/ws", subprotocols=protocols) as ws:
            assert ws.accepted_subprotocol == "propscope.v1"
            r = WsClient(ws)
            r.handshake()
            assert r.welcome["resumed"] and r.snapshot["state"]["step"] == 4
        with c.websocket_connect(f"/ws?resume={tb}") as ws:
            r = WsClient(ws)
            r.handshake()
            assert r.welcome["token"] == tb and r.snapshot["state"]["step"] == 9
        for guess in (ta[:-1], ta + "x", ta.upper(), tb[:20], "", "%00"):
            with c.websocket_connect(f"/ws?resume={guess}") as ws:
                r = WsClient(ws)
                r.handshake()
                assert r.welcome["token"] not in (ta, tb) and r.snapshot["state"]["step"] == 0


def test_logs_never_hold_a_resume_token():
    line = '127.0.0.1:5 - "WebSocket /ws?resume=abcDEF_-123&x=1" [accepted]'
    assert "abcDEF" not in redact(line) and "x=1" in redact(line)
    assert "abc" not in redact("offered propscope.resume.abc")


# --- sizes, rates, caps ----------------------------------------------------------------------


def test_a_message_over_the_size_cap_closes_1009():
    app = create_app(make_settings())
    with TestClient(app) as c, c.websocket_connect("/ws") as ws:
        WsClient(ws).handshake()
        ws.send_text(json.dumps({"type": "ping", "id": 1, "pad": "é" * 40_000}))
        assert close_code(ws) == 1009


def test_inbound_rate_limit_closes_1008():
    app = create_app(make_settings(rate_limit_per_s=5, rate_limit_burst=10))
    with TestClient(app) as c, c.websocket_connect("/ws") as ws:
        WsClient(ws).handshake()
        for i in range(30):
            ws.send_text(json.dumps({"type": "ping", "id": i}))
        assert close_code(ws) == 1008


def test_token_bucket_refills_at_its_rate():
    now = [0.0]
    bucket = TokenBucket(50, 100, clock=lambda: now[0])
    assert all(bucket.take() for _ in range(100)) and not bucket.take()
    now[0] += 0.1
    assert sum(bucket.take() for _ in range(10)) == 5


def test_sessions_per_address_are_capped_and_detached_ones_give_way():
    app = create_app(make_settings(max_sessions_per_client=2))
    with TestClient(app) as c:
        with c.websocket_connect("/ws") as w1, c.websocket_connect("/ws") as w2:
            WsClient(w1).handshake()
            WsClient(w2).handshake()
            with c.websocket_connect("/ws") as w3:
                expect_refusal(w3, "too_many_sessions")
        # both are detached now: new sessions push the oldest detached ones out
        for _ in range(3):
            with c.websocket_connect("/ws") as ws:
                WsClient(ws).handshake()
        assert c.get("/api/health").json()["sessions"] == 2


# --- HTTP hygiene ----------------------------------------------------------------------------


def test_security_headers_on_every_response(client):
    for path in ("/", "/api/catalog", "/api/health", "/static/nope.js", "/nope"):
        r = client.get(path)
        csp = r.headers["content-security-policy"]
        directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
        assert directives["script-src"] == "'self'", path
        assert "unsafe-eval" not in csp
        assert directives["frame-ancestors"] == "'none'"
        assert directives["connect-src"].startswith("'self'")
        assert "ws:" not in directives["connect-src"].split()  # no wildcard ws: scheme
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "no-referrer"
        assert r.headers["x-frame-options"] == "DENY"


def test_templates_autoescape_html(app):
    env = app.state.templates.env
    assert env.autoescape("index.html") is True
    assert env.from_string("{{ x }}").render(x="<script>") in ("<script>", "&lt;script&gt;")
    template = env.get_template("index.html")
    assert template.environment.autoescape("index.html")


def test_errors_are_generic_500s_without_a_traceback():
    app = create_app(make_settings())

    @app.get("/boom")
    async def boom():
        raise RuntimeError("secret internals at /srv/propscope/app.py line 12")

    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.get("/boom")
    assert r.status_code == 500
    assert r.json() == {"error": "internal server error"}
    assert "secret" not in r.text and "Traceback" not in r.text
    # issue 12 finding 9: a 500 carries the security headers like every other response
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"


def test_catalog_publishes_every_limit(client):
    limits = client.get("/api/catalog").json()["limits"]
    for key in ("max_hidden_layers", "max_units_per_layer", "max_parameters", "max_samples",
                "max_upload_rows", "max_upload_columns", "max_upload_bytes",
                "min_grid_resolution", "max_grid_resolution", "max_message_bytes",
                "max_steps_per_message", "rate_limit_per_s", "max_sessions_per_client"):
        assert isinstance(limits[key], int | float), key


def test_oversized_networks_and_data_are_refused_and_change_nothing(session):
    before = session.snapshot["spec"]
    for spec in (
        {"network": {"hidden": [{"units": 4}] * 11}},
        {"network": {"hidden": [{"units": 513}]}},
        {"network": {"hidden": [{"units": 512}, {"units": 512}]}},
        {"data": {"n_samples": 10_001}},
        {"data": {"n_samples": 10**30}},
        {"training": {"batch_size": 10**9}},
        {"training": {"optimizer": {"learning_rate": 1e308}}},
        {"training": {"optimizer": {"learning_rate": -1}}},
    ):
        err, _ = session.request({"type": "configure", "spec": spec})
        assert err["code"] == "invalid_spec", spec
    for raw in ('{"type":"play","id":1,"speed":1e999}', '{"type":"set","id":2,"learning_rate":NaN}',
                '{"type":"grid","id":3,"resolution":129}', '{"type":"step","id":4,"n":10001}',
                '{"type":"set_fps","id":5,"fps":Infinity}'):
        session.ws.send_text(raw)
        assert session.recv()["type"] == "error"
    _, seen = session.request({"type": "snapshot"})
    snap = messages_of(seen, "snapshot")[0]
    assert snap["spec"] == before and snap["state"]["step"] == 0


# --- divergence ------------------------------------------------------------------------------

# (spec, a weight to set by hand first or None): learning rate 10 on sigmoid layers; Adam blown
# up by a huge weight (squares overflow); softmax whose exp overflows.
EXPLODING = {
    "sigmoid_lr10": ({"network": {"hidden": [{"units": 8, "activation": "sigmoid"}] * 3,
                                  "output_activation": "linear"},
                      "data": {"dataset": "plane"},
                      "training": {"optimizer": {"learning_rate": 10}}}, None),
    "adam_exploding": ({"network": {"hidden": [{"units": 8, "activation": "relu"}],
                                    "output_activation": "linear"},
                        "data": {"dataset": "sine"},
                        "training": {"optimizer": {"name": "adam", "learning_rate": 10}}},
                       1e200),
    "exp_overflow": ({"network": {"hidden": [{"units": 8, "activation": "relu"}],
                                  "output_activation": "softmax"},
                      "data": {"dataset": "iris"}, "training": {"loss": "cce"}}, 1e308),
}


@pytest.mark.filterwarnings("error::RuntimeWarning")
@pytest.mark.parametrize("name", list(EXPLODING))
def test_runaway_training_pauses_reports_and_recovers(name):
    app = create_app(make_settings())
    with TestClient(app) as c, c.websocket_connect("/ws") as ws:
        s = WsClient(ws)
        s.handshake()
        spec, kick = EXPLODING[name]
        ack, _ = s.request({"type": "configure", "spec": spec})
        assert ack["type"] == "ack", ack
        if kick is not None:
            s.request({"type": "set_weight", "layer": 0, "source": 0, "target": 0, "value": kick})
        s.request({"type": "play"})
        texts, diverged, status = [], None, None
        deadline = time.monotonic() + 10
        while status is None and time.monotonic() < deadline:
            message = ws.receive()
            if message.get("text") is None:
                if message.get("bytes") is not None:  # a frame: its schema may come only once
                    decode(message["bytes"], s.schemas)
                continue
            texts.append(message["text"])
            item = strict_json(message["text"])  # never NaN in JSON
            assert item["type"] != "error", item
            if item["type"] == "diverged":
                diverged = item
            if item["type"] == "status" and not item["playing"]:
                status = item
        assert status["reason"] == "diverged" and diverged is not None
        assert diverged["step"] == status["step"] >= 1
        assert diverged["layer"] is None or 0 <= diverged["layer"] < 4
        assert diverged["quantity"] in ("loss", "gradient") and diverged["suggestion"]
        err, _ = s.request({"type": "play"})
        assert err["code"] == "bad_state" and str(diverged["step"]) in err["message"]
        _, seen = s.request({"type": "snapshot"})
        for item in seen:
            if isinstance(item, dict):
                strict_json(json.dumps(item, allow_nan=False))
        s.request({"type": "reset"})
        ack, _ = s.request({"type": "step"})
        assert ack["step"] == 1 and ack["stopped"] is None


# --- the bounded outbox ----------------------------------------------------------------------


class StuckSocket:
    """A WebSocket whose sends never complete (a peer that stopped reading)."""

    scope: dict = {}

    def __init__(self) -> None:
        self.closed_with = None

    async def send_bytes(self, data):
        await asyncio.Event().wait()

    send_text = send_bytes

    async def close(self, code=1000, reason=""):
        self.closed_with = code


def test_outbox_keeps_only_the_newest_frame_of_each_kind_and_is_bounded():
    async def scenario():
        ws = StuckSocket()
        conn = Connection(ws, send_timeout=0.2, max_bytes=200_000)
        task = asyncio.get_running_loop().create_task(conn.run())
        conn.send("first")  # taken by the sender, which then blocks
        await asyncio.sleep(0.01)
        for i in range(500):
            conn.send(encode_frame(KIND_STEP, i, i, {}, []))
            conn.send(encode_frame(KIND_GRID, i, i, {}, []))
        kinds = [item[5] for _, item in conn.out]
        assert sorted(kinds) == [KIND_STEP, KIND_GRID] and conn.frames_replaced == 998
        newest = [item for _, item in conn.out if item[5] == KIND_STEP][0]
        assert int.from_bytes(newest[8:12], "little") == 499
        for _ in range(100):
            conn.send("x" * 10_000)  # JSON is never dropped: the byte cap drops the client
        assert conn.closed and conn.drop_reason and not conn.out
        await asyncio.sleep(0.05)
        assert ws.closed_with == 1008
        task.cancel()

    asyncio.run(scenario())


def test_a_send_that_never_completes_drops_the_client_after_the_timeout():
    async def scenario():
        ws = StuckSocket()
        conn = Connection(ws, send_timeout=0.1)
        task = asyncio.get_running_loop().create_task(conn.run())
        conn.send(b"frame")
        await asyncio.sleep(0.05)
        conn.check(time.monotonic())
        assert not conn.closed
        await asyncio.sleep(0.1)
        conn.check(time.monotonic())
        assert conn.closed and "0.1 s" in conn.drop_reason
        await asyncio.sleep(0.02)
        assert ws.closed_with == 1008
        task.cancel()

    asyncio.run(scenario())
