"""Run recordings (PSR1 files) and the metrics history."""

from __future__ import annotations

import json
import math
import struct

import pytest

from app.recording import History
from tests.app.protocol_decoder import Frame, decode
from tests.app.support import WsClient

pytestmark = pytest.mark.timeout(60)


def read_recording(data: bytes) -> tuple[dict, list]:
    """A PSR1 reader written from docs/protocol.md §9.4 (not from app/recording.py)."""
    assert data[:4] == b"PSR1"
    version, head_len = struct.unpack_from("<II", data, 4)
    assert version == 1
    header = json.loads(data[12 : 12 + head_len])
    offset = 12 + head_len
    assert offset % 4 == 0
    items = []
    while offset < len(data):
        t, length, kind = struct.unpack_from("<dIB", data, offset)
        offset += 16
        assert offset % 4 == 0  # payloads are 4-byte aligned: Float32Array views work in place
        payload = data[offset : offset + length]
        offset += length + (-length) % 4
        items.append((t, decode(payload) if kind == 2 else json.loads(payload)))
    return header, items


def comparable(item):
    if isinstance(item, Frame):
        return ("frame", item.kind, item.seq, item.step,
                {k: v.tobytes() for k, v in item.arrays.items()})
    return ("json", json.dumps(item, sort_keys=True))


def test_replayed_recording_yields_the_same_messages_in_order(client, session):
    session.request({"type": "configure", "spec": {"data": {"dataset": "xor"}}})
    ack, received = session.request({"type": "record_start"})
    assert ack["recording"] is True
    for message in ({"type": "step", "n": 5}, {"type": "phase"}, {"type": "phase"},
                    {"type": "step", "n": 2}, {"type": "select", "sample": 3},
                    {"type": "explain", "layer": 1, "source": 0, "target": 0},
                    {"type": "set_weight", "layer": 0, "source": 1, "target": 2, "value": 0.5},
                    {"type": "grid", "resolution": 16}):
        reply, seen = session.request(message)
        assert reply["type"] == "ack", reply
        received += seen
    ack, seen = session.request({"type": "record_stop"})
    received += seen
    assert ack["messages"] == len(received) and not ack["truncated"]
    data = client.get(ack["url"]).content
    assert len(data) == ack["bytes"]
    header, items = read_recording(data)
    assert header["count"] == len(items) and header["protocol"] == 2
    times = [t for t, _ in items]
    assert times == sorted(times)
    assert [comparable(m) for _, m in items] == [comparable(m) for m in received]
    kinds = [m.kind if isinstance(m, Frame) else m["type"] for _, m in items]
    assert kinds[:3] == ["snapshot", "step", "grid"]  # it starts with the whole state
    assert "phase" in kinds and "explanation" in kinds and "metrics" in kinds

    err, _ = session.request({"type": "record_stop"})
    assert err["code"] == "bad_state"


def test_recording_of_a_played_run_keeps_order(client, session):
    session.request({"type": "record_start"})
    session.request({"type": "play", "speed": 2000})
    seen = []
    while len([m for m in seen if isinstance(m, Frame) and m.kind == "step"]) < 5:
        seen.append(session.recv())
    ack, more = session.request({"type": "pause"})
    ack, more2 = session.request({"type": "record_stop"})
    _, items = read_recording(client.get(ack["url"]).content)
    frames = [m for _, m in items if isinstance(m, Frame)]
    seqs = [f.seq for f in frames]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    got = [m.seq for m in [*seen, *more, *more2] if isinstance(m, Frame)]
    assert set(got) <= set(seqs)  # the client may have skipped frames, never others
    metrics = [m for _, m in items if isinstance(m, dict) and m["type"] == "metrics"]
    assert sum(m["count"] for m in metrics) == frames[-1].step  # every step, exactly once


def test_history_compacts_keeping_counts_and_extremes():
    h = History(1, max_rows=64)
    step = 0
    for _ in range(50):
        n = 3
        steps = list(range(step + 1, step + n + 1))
        step += n
        loss = [float(s % 7) for s in steps]
        stats = {"mean": loss, "min": loss, "max": loss}
        h.add_metrics({"buckets": {"step": steps, "n": [1] * n, "loss": stats,
                                   "data_loss": stats, "penalty": stats,
                                   "grad_norms": [stats]}})
    assert len(h.rows) <= 64
    assert sum(r[1] for r in h.rows) == 150 and h.rows[-1][0] == 150
    assert min(r[3] for r in h.rows) == 0.0 and max(r[4] for r in h.rows) == 6.0
    total = sum(r[2] * r[1] for r in h.rows)
    assert math.isclose(total, sum(float(s % 7) for s in range(1, 151)))
    csv_text = h.to_csv()
    assert csv_text.splitlines()[0].startswith("step,n,loss_mean")
    again = History.from_dict(json.loads(json.dumps(h.to_dict())))
    assert again.rows == h.rows
    # the step counter going back (configure, reset) restarts the history there
    stats = {"mean": [1.0], "min": [1.0], "max": [1.0]}
    h.add_metrics({"buckets": {"step": [1], "n": [1], "loss": stats, "data_loss": stats,
                               "penalty": stats, "grad_norms": [stats]}})
    assert len(h.rows) == 1


def test_session_welcome_unchanged(client):
    with client.websocket_connect("/ws") as ws:
        c = WsClient(ws)
        c.handshake()
        assert "role" not in c.welcome
