"""Property tests: generated and mutated protocol messages thrown at a live session.

Every message gets exactly one reply (ack, error or pong); a message answered with an error
changes nothing (step count, parameters, spec); the session still steps afterwards; the server
never fails (no internal_error) and never sends invalid JSON.
"""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.main import create_app
from tests.app.protocol_decoder import decode
from tests.app.support import WsClient, make_settings, messages_of

pytestmark = pytest.mark.timeout(120)

VALID = {
    "configure": {"spec": {"data": {"dataset": "xor"}}},
    "play": {"speed": 50},
    "pause": {},
    "step": {"n": 2},
    "phase": {},
    "reset": {"reinitialize": False},
    "regenerate": {"seed": 3},
    "set": {"learning_rate": 0.1},
    "select": {"sample": 1, "split": "test"},
    "explain": {"layer": 0, "source": 0, "target": 0},
    "grid": {"resolution": 16},
    "set_weight": {"layer": 0, "source": 0, "target": 0, "value": 0.5},
    "set_fps": {"fps": 20},
    "snapshot": {},
    "ping": {"t": 1.0},
    "compare": {"changes": {"training": {"optimizer": {"learning_rate": 0.3}}}},
    "close_run": {"run": "r1"},
    "promote_run": {"run": "r0"},
}
FIELDS = sorted({k for v in VALID.values() for k in v} | {
    "sample", "split", "learning_rate", "regularization", "regularization_rate", "batch_size",
    "optimizer", "spec", "reinitialize", "seed", "source", "target", "value", "resolution"})

# JSON text of nasty values (NaN/Infinity literals are not JSON: the server must say so)
NASTY_TEXT = ["NaN", "Infinity", "-Infinity", "1e999", "-1e999", "-1", "0", "-0.0", "1e308",
              "99999999999999999999999999", "9" * 400, '"x"', '""', "true", "null", "[]", "{}",
              '"' + "é" * 200 + '"', "[[[[[[[[[[1]]]]]]]]]]", '{"a":{"b":{"c":[1,2,3]}}}',
              "0.5", "3", "128", "10001", "-2147483649", "2147483648", '"max"', '"NaN"']

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


@st.composite
def bad_messages(draw) -> str:
    """Raw text of a message that is probably wrong (it may by chance be valid)."""
    kind = draw(st.sampled_from(["mutate_field", "extra_field", "drop_field", "wrong_type",
                                 "random_json", "garble", "nasty_spec"]))
    mtype = draw(st.sampled_from(sorted(VALID)))
    body = {"type": mtype, "id": draw(st.integers(1, 10**6)), **VALID[mtype]}
    if kind == "mutate_field":
        field = draw(st.sampled_from(FIELDS))
        parts = [f'"{k}":{json.dumps(v)}' for k, v in body.items() if k != field]
        parts.append(f'"{field}":{draw(st.sampled_from(NASTY_TEXT))}')
        return "{" + ",".join(parts) + "}"
    if kind == "extra_field":
        body[draw(st.text(min_size=1, max_size=10))] = draw(json_values)
    elif kind == "drop_field":
        body.pop(draw(st.sampled_from(sorted(body))))
    elif kind == "wrong_type":
        body["type"] = draw(st.sampled_from([None, 1, [], {}, "", "PING", "step ", "ack",
                                             "error", "welcome", "__class__", "_on_step"]))
    elif kind == "random_json":
        return json.dumps(draw(json_values))
    elif kind == "nasty_spec":
        section = draw(st.sampled_from(["data", "network", "training", "bogus"]))
        key = draw(st.sampled_from(["dataset", "n_samples", "noise", "hidden", "seed",
                                    "batch_size", "optimizer", "loss", "features", "units",
                                    "learning_rate", "max_epochs"]))
        value = draw(st.sampled_from(NASTY_TEXT))
        return (f'{{"type":"configure","id":{body["id"]},'
                f'"spec":{{"{section}":{{"{key}":{value}}}}}}}')
    text = json.dumps(body)
    if kind == "garble" and text:
        i = draw(st.integers(0, len(text) - 1))
        op = draw(st.sampled_from(["delete", "insert", "truncate"]))
        if op == "delete":
            text = text[:i] + text[i + 1:]
        elif op == "insert":
            text = text[:i] + draw(st.sampled_from(list('{}[]",:\\0eE-+.x\x00é'))) + text[i:]
        else:
            text = text[:i]
    return text


def strict(text: str):
    def refuse(name):
        raise AssertionError(f"{name} sent in JSON")

    return json.loads(text, parse_constant=refuse)


class Probe:
    def __init__(self, ws) -> None:
        self.ws = ws
        self.client = WsClient(ws)

    def replies(self, n: int) -> list[dict]:
        """The next n replies (ack/error/pong), skipping everything else; checks JSON."""
        got = []
        while len(got) < n:
            message = self.ws.receive()
            if message.get("text") is None:
                assert message.get("bytes") is not None, message
                decode(message["bytes"], self.client.schemas)  # a schema may come only once
                continue
            item = strict(message["text"])
            if item["type"] in ("ack", "error", "pong"):
                got.append(item)
        return got

    def state(self) -> dict:
        _, seen = self.client.request({"type": "snapshot"})
        snap = messages_of(seen, "snapshot")[0]
        return {"spec": snap["spec"], "parameters": snap["parameters"],
                "step": snap["state"]["step"], "playing": snap["state"]["playing"]}


def test_generated_bad_messages_get_errors_and_change_nothing():
    app = create_app(make_settings(rate_limit_per_s=1e6, rate_limit_burst=1e6))
    with TestClient(app) as client, client.websocket_connect("/ws") as ws:
        probe = Probe(ws)
        probe.client.handshake()
        counts = {"error": 0, "ack": 0, "pong": 0}

        @settings(max_examples=250, deadline=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(st.lists(bad_messages(), min_size=1, max_size=4))
        def check(texts):
            before = probe.state()
            for text in texts:
                ws.send_text(text)
            replies = probe.replies(len(texts))
            for r in replies:
                counts[r["type"]] += 1
                if r["type"] == "error":
                    assert r["code"] != "internal_error", r
                    assert isinstance(r["message"], str) and r["message"]
            if all(r["type"] == "error" for r in replies):
                assert probe.state() == before
            # back to a known state; the session must still step
            probe.client.request({"type": "pause"})
            ack, _ = probe.client.request({"type": "reset"})
            assert ack["type"] == "ack", ack
            ack, _ = probe.client.request({"type": "step"})
            assert ack["type"] == "ack" and ack["step"] == 1, ack

        check()
        assert counts["error"] > 200  # most generated messages are bad, as intended
        health = client.get("/api/health").json()
        assert health["sessions"] == 1 and health["attached"] == 1
