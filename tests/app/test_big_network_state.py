"""The largest network the spec accepts (2-352-352-352-1, 249 921 parameters) on the wire:
its snapshot streams its parameters in binary parts, so the whole state fits a connection's
outbox with no allowance (docs/protocol.md §3), and its step frames while playing carry the
large weight matrices quantised — drawn, never printed — and exactly once paused (§4)."""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app import views
from app.connection import Connection
from app.frames import KIND_PARAMETERS, PREFIX_SIZE, Frame
from app.main import create_app
from app.run import Pace, Run
from engine.spec import Spec
from engine.trainer import Trainer
from tests.app.protocol_decoder import decode
from tests.app.support import WsClient, make_settings

ROOT = Path(__file__).resolve().parents[2]
NODE = shutil.which("node")
BIG = {"data": {"dataset": "circle"}, "network": {"hidden": [{"units": 352}] * 3}}
OUTBOX = 4 * 1024 * 1024  # app/connection.py Connection max_bytes


@pytest.fixture(scope="module")
def run() -> Run:
    run = Run(Trainer(Spec.from_dict(BIG)))
    for _ in range(3):
        run.trainer.step()
    return run


def playing() -> Pace:
    pace = Pace()
    pace.playing = True
    return pace


def exact_parameters(run: Run) -> list[dict[str, np.ndarray]]:
    net = run.trainer.network
    return [dict(layout.views(net.flat)) for layout in net.layouts]


def rebuilt(snapshot: dict, parts: list) -> list[dict[str, np.ndarray]]:
    """The parameters from a snapshot's parts, as a client puts them together (§3)."""
    out: list[dict[str, np.ndarray]] = [{} for _ in snapshot["network"]["layers"]]
    for part in parts:
        h = part.header
        block = part.arrays["values"]
        whole = out[h["layer"]].setdefault(h["name"], np.full(h["shape"], np.nan))
        whole[h["row"] : h["row"] + len(block)] = block
    return out


def test_the_biggest_accepted_network_is_the_one_measured(run):
    assert run.trainer.network.parameter_count == 249_921
    assert run.trainer.network.parameter_count <= 250_000  # engine/spec.py max_parameters


def test_its_snapshot_sends_no_parameters_inline_but_says_how_many_parts_follow(run):
    snap = views.snapshot(run, Pace(), "test", [])
    assert snap["parameters"] is None
    assert snap["parameter_parts"] == len(views.parameter_parts(run)) > 1
    assert len(json.dumps(snap)) < 64 * 1024


def test_each_part_is_at_most_a_mebibyte_and_together_they_are_the_exact_parameters(run):
    parts = views.parameter_parts(run)
    assert all(p.kind == KIND_PARAMETERS and len(p) <= views.PART_BYTES + 4096 for p in parts)
    decoded = [decode(bytes(p)) for p in parts]
    assert {f.header["parts"] for f in decoded} == {len(parts)}
    assert [f.header["part"] for f in decoded] == list(range(len(parts)))
    snap = views.snapshot(run, Pace(), "test", [])
    for got, want in zip(rebuilt(snap, decoded), exact_parameters(run), strict=True):
        for name in want:
            np.testing.assert_array_equal(got[name], want[name])  # float64, bit for bit


def test_a_small_network_keeps_its_parameters_in_the_snapshot():
    small = Run(Trainer(Spec.from_dict({"network": {"hidden": [{"units": 4}, {"units": 2}]}})))
    snap = views.snapshot(small, Pace(), "test", [])
    assert snap["parameter_parts"] == 0 and views.parameter_parts(small) == []
    assert snap["parameters"][0]["weight"] == small.trainer.network.layouts[0].views(
        small.trainer.network.flat)["weight"].tolist()


class _Socket:
    """A WebSocket that is never written to: the outbox only fills."""

    scope: dict = {}


def test_the_whole_state_fits_an_outbox_that_allows_nothing_extra(run):
    async def scenario() -> Connection:
        conn = Connection(_Socket(), max_bytes=OUTBOX)
        assert conn.allowance == 0
        for item in run.full_state(Pace(), "test", []):
            conn.send(item)
        return conn

    conn = asyncio.run(scenario())
    assert conn.drop_reason is None and not conn.closed
    kinds = [item.kind if isinstance(item, Frame) else "text" for _, item in conn.out]
    assert kinds[0] == "text" and kinds.count(KIND_PARAMETERS) >= 2
    assert conn.text_bytes <= OUTBOX  # the snapshot and its parts: what the cap counts


def test_a_client_gets_the_state_of_the_largest_network_and_rebuilds_it_exactly():
    app = create_app(make_settings())
    with TestClient(app) as client, client.websocket_connect("/ws") as ws:
        c = WsClient(ws)
        c.handshake()
        ack, seen = c.request({"type": "configure", "spec": BIG})
        assert ack["type"] == "ack"
        while not any(getattr(f, "kind", None) == "step" for f in seen):
            seen.append(c.recv())
        snaps = [m for m in seen if isinstance(m, dict) and m.get("type") == "snapshot"]
        parts = [f for f in seen if getattr(f, "kind", None) == "parameters"]
        assert len(snaps) == 1 and len(parts) == snaps[0]["parameter_parts"] > 1
        # the parts come after their snapshot and before its step frame
        order = [m.get("type") if isinstance(m, dict) else m.kind for m in seen]
        assert order.index("snapshot") < order.index("parameters") < order.index("step")
        fresh = Run(Trainer(Spec.from_dict(BIG)))  # same spec, same seeds: same initial values
        for got, want in zip(rebuilt(snaps[0], parts), exact_parameters(fresh), strict=True):
            for name in want:
                np.testing.assert_array_equal(got[name], want[name])


def _encodings(frame: bytes) -> dict[str, str]:
    schema_len = int.from_bytes(frame[20:24], "little")
    schema = json.loads(frame[PREFIX_SIZE : PREFIX_SIZE + schema_len])
    return {name: enc for name, _shape, enc, *_ in schema["arrays"]}


def test_while_playing_the_large_matrices_are_quantised_and_everything_else_is_float32(run):
    frame = views.step_frame(run, playing())
    enc = _encodings(bytes(frame))
    for k in (1, 2):  # the 352×352 gaps
        assert enc[f"weight.{k}"] == enc[f"weight_grad.{k}"] == enc[f"weight_update.{k}"] == "u8"
    for name in ("weight.0", "weight.3", "bias.1", "weight_grad.0", "sample.activation.1"):
        assert enc[name] == "f4"
    assert len(frame) < 0.3 * len(views.step_frame(run, Pace()))  # 0.80 MB against 3.0 MB


def test_quantised_weights_stay_within_half_a_level_of_each_rows_range(run):
    got = decode(bytes(views.step_frame(run, playing()))).arrays["weight.1"]
    want = exact_parameters(run)[1]["weight"]
    span = want.max(axis=1) - want.min(axis=1)
    assert np.all(np.abs(got - want) <= span[:, None] / 510 + 1e-6)
    # each row's extremes come back exactly (float32): the page's max|w| caption is exact
    np.testing.assert_array_equal(np.abs(got).max(), np.float32(np.abs(want).max()))


def test_a_paused_frame_carries_every_matrix_exactly(run):
    frame = decode(bytes(views.step_frame(run, Pace())))
    np.testing.assert_array_equal(frame.arrays["weight.1"],
                                  exact_parameters(run)[1]["weight"].astype(np.float32))
    assert set(_encodings(bytes(views.step_frame(run, Pace()))).values()) <= {"f4", "same"}


NODE_SCRIPT = """
import { readFileSync } from "node:fs";
import { at2, decodeFrame } from "%s";
const out = JSON.parse(readFileSync(0, "utf8")).map((b64) => {
  const bytes = Buffer.from(b64, "base64");
  const f = decodeFrame(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  const arrays = Object.fromEntries(Object.entries(f.arrays).map(([k, v]) => [k, {
    approx: !!v.approx, bits: v.data.BYTES_PER_ELEMENT * 8, first: v.data[0],
    at: v.shape.length === 2 ? (at2(v, 0, 0) ?? null) : null }]));
  return { kind: f.kind, header: f.header, arrays };
});
process.stdout.write(JSON.stringify(out));
"""


@pytest.mark.skipif(NODE is None, reason="needs Node.js (the JS tests' runtime)")
def test_the_page_reads_parts_as_float64_and_prints_nothing_from_a_quantised_matrix(run):
    part = views.parameter_parts(run)[0]
    step = views.step_frame(run, playing())
    result = subprocess.run(
        [NODE, "--input-type=module", "-e", NODE_SCRIPT % (ROOT / "static/js/frames.js").as_uri()],
        input=json.dumps([base64.b64encode(bytes(f)).decode() for f in (part, step)]),
        capture_output=True, text=True, timeout=60, check=True)
    got_part, got_step = json.loads(result.stdout)
    assert got_part["kind"] == KIND_PARAMETERS
    values = got_part["arrays"]["values"]
    assert values["bits"] == 64 and not values["approx"]
    assert values["first"] == float(decode(bytes(part)).arrays["values"].flat[0])
    w1, w0 = got_step["arrays"]["weight.1"], got_step["arrays"]["weight.0"]
    assert w1["approx"] and w1["at"] is None  # at2 reads no number from it
    first = float(np.float32(exact_parameters(run)[0]["weight"][0, 0]))
    assert not w0["approx"] and w0["at"] == first
