"""Message parsing, frame encoding and metric decimation, without a server."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from app.frames import dumps
from app.metrics import BUCKETS_MAX, MetricsBuffer
from app.protocol import ProtocolError, parse_message
from app.settings import Settings


def _error(text) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        parse_message(text)
    return info.value


def test_parse_accepts_play_with_number_or_max():
    assert parse_message('{"type": "play", "id": 1, "speed": 25}').speed == 25
    assert parse_message('{"type": "play", "id": "a"}').speed == "max"


def test_parse_rejects_non_json_as_invalid_json():
    assert _error("{nope").code == "invalid_json"
    assert _error("[1, 2]").code == "invalid_json"


def test_parse_rejects_unknown_type_keeping_the_id():
    err = _error('{"type": "dance", "id": 7}')
    assert (err.code, err.id) == ("unknown_type", 7)
    assert "dance" in err.message


def test_parse_rejects_out_of_range_and_unknown_fields_with_problems():
    err = _error('{"type": "step", "id": 2, "n": 0, "extra": true}')
    assert err.code == "invalid_message" and err.id == 2
    paths = [p for p, _ in err.details["problems"]]
    assert "n" in paths and "extra" in paths


def test_parse_rejects_missing_id_and_binary():
    assert _error('{"type": "pause"}').code == "invalid_message"
    assert _error(b"\x00\x01").code == "invalid_message"


def test_json_never_contains_nan_or_infinity():
    text = dumps({"a": float("nan"), "b": [float("inf"), 1.0], "c": np.float64("nan")})
    assert json.loads(text) == {"a": None, "b": [None, 1.0], "c": None}


class _Rec:
    def __init__(self, step, loss, norms):
        self.step, self.total_loss, self.data_loss, self.penalty = step, loss, loss, 0.0
        self.grad_norms = norms


def test_metrics_decimation_keeps_a_single_step_spike_in_max():
    buf = MetricsBuffer(2)
    for s in range(1, 1001):
        buf.add(_Rec(s, 10.0 if s == 437 else 0.5, [0.1, 0.2]))
    body = buf.flush(1001)
    assert body["count"] == 1000 and (body["from_step"], body["to_step"]) == (1, 1000)
    buckets = body["buckets"]
    assert len(buckets["step"]) == BUCKETS_MAX and sum(buckets["n"]) == 1000
    assert max(buckets["loss"]["max"]) == 10.0
    assert min(buckets["loss"]["min"]) == 0.5
    pairs = zip(buckets["loss"]["mean"], buckets["n"], strict=True)
    assert math.isclose(sum(m * n for m, n in pairs), 999 * 0.5 + 10.0)
    assert buckets["step"][-1] == 1000
    assert len(buf) == 0


def test_metrics_with_few_steps_sends_each_step_exactly():
    buf = MetricsBuffer(1)
    for s in (5, 6, 7):
        buf.add(_Rec(s, s / 10, [s]))
    b = buf.flush(8)["buckets"]
    assert b["step"] == [5, 6, 7] and b["loss"]["max"] == [0.5, 0.6, 0.7]
    assert b["grad_norms"][0]["mean"] == [5.0, 6.0, 7.0]


def test_settings_read_environment_and_flags_override_them():
    env = {"PROPSCOPE_PORT": "9001", "PROPSCOPE_DISPLAY_FPS": "12", "PROPSCOPE_HOST": "0.0.0.0"}
    s = Settings.from_env(env=env)
    assert (s.port, s.display_fps, s.host) == (9001, 12.0, "0.0.0.0")
    assert Settings.from_env(env=env, port=9002, host=None).port == 9002
    with pytest.raises(ValueError):
        Settings.from_env(env={"PROPSCOPE_PORT": "eighty"})
    with pytest.raises(ValueError):
        Settings.from_env(env={"PROPSCOPE_DISPLAY_FPS": "500"})
