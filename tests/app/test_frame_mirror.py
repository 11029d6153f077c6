"""The page's decoder (static/js/frames.js, run in Node) and the server's (app/frames.py) read
the same frames to the same header and the same float32 values, bit for bit — whole frames and
compact ones after their schema, quantised thumbnails included."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from app import views
from app.frames import decode_frame
from app.run import Pace, Run
from engine.spec import Spec
from engine.trainer import Trainer

ROOT = Path(__file__).resolve().parents[2]
NODE = shutil.which("node")

SCRIPT = """
import { readFileSync } from "node:fs";
import { SchemaBook, decodeFrame } from "%s";
const book = new SchemaBook();
const out = JSON.parse(readFileSync(0, "utf8")).map((b64) => {
  const bytes = Buffer.from(b64, "base64");
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  const f = decodeFrame(buffer, book);
  const arrays = Object.fromEntries(Object.entries(f.arrays).map(([k, v]) =>
    [k, Buffer.from(new Uint8Array(Float32Array.from(v.data).buffer)).toString("base64")]));
  return { header: f.header, kind: f.kind, seq: f.seq, step: f.step, arrays };
});
process.stdout.write(JSON.stringify(out));
"""


def decode_in_node(frames: list[bytes]) -> list[dict]:
    module = (ROOT / "static/js/frames.js").as_uri()
    result = subprocess.run(
        [NODE, "--input-type=module", "-e", SCRIPT % module],
        input=json.dumps([base64.b64encode(f).decode() for f in frames]),
        capture_output=True, text=True, timeout=60, check=True,
    )
    return json.loads(result.stdout)


@pytest.mark.skipif(NODE is None, reason="needs Node.js (the JS tests' runtime)")
def test_the_page_decodes_step_and_grid_frames_to_the_servers_header_and_values():
    run = Run(Trainer(Spec.from_dict({"network": {"hidden": [{"units": 4}, {"units": 2}]}})))
    for _ in range(3):
        run.trainer.step()
    first, grid = views.step_frame(run, Pace()), views.grid_frames(run)[0]
    run.trainer.step()
    second = views.step_frame(run, Pace())
    assert second.schema_id == first.schema_id
    sent = [bytes(first), bytes(grid), second.compact]
    schemas: dict = {}
    theirs = decode_in_node(sent)
    for data, js in zip(sent, theirs, strict=True):
        header, arrays = decode_frame(data, schemas)
        for key in ("kind", "seq", "step"):
            assert js[key] == header.pop(key)
        header.pop("version")
        header.pop("schema")
        assert js["header"] == header
        assert js["arrays"].keys() == arrays.keys()
        for name, a in arrays.items():
            got = np.frombuffer(base64.b64decode(js["arrays"][name]), "<f4").reshape(a.shape)
            np.testing.assert_array_equal(got, a, err_msg=name)
