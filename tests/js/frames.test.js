// Binary frame decoding (static/js/frames.js, docs/protocol.md §4): the layout app/frames.py
// writes, built here byte by byte.
import assert from "node:assert/strict";
import { test } from "node:test";

import { KIND, at2, decodeFrame, maxAbs, plane } from "../../static/js/frames.js";

// "PSF1" | u8 version | u8 kind | u16 N | u32 seq | u32 step | u32 J | JSON | pad to 4 | float32…
function encode({ kind = KIND.STEP, seq = 7, step = 42, header = {}, arrays = [], count = null }) {
  const json = new TextEncoder().encode(JSON.stringify({ ...header, arrays: arrays.map(([n, s]) => [n, s]) }));
  const pad = (4 - ((20 + json.length) % 4)) % 4;
  const floats = arrays.reduce((n, [, shape]) => n + shape.reduce((a, b) => a * b, 1), 0);
  const buf = new ArrayBuffer(20 + json.length + pad + 4 * floats);
  const v = new DataView(buf);
  [..."PSF1"].forEach((c, i) => v.setUint8(i, c.charCodeAt(0)));
  v.setUint8(4, 1);
  v.setUint8(5, kind);
  v.setUint16(6, count ?? arrays.length, true);
  v.setUint32(8, seq, true);
  v.setUint32(12, step, true);
  v.setUint32(16, json.length, true);
  new Uint8Array(buf, 20, json.length).set(json);
  let off = 20 + json.length + pad;
  for (const [, shape, values] of arrays) {
    new Float32Array(buf, off, values.length).set(values);
    off += 4 * values.length;
  }
  return buf;
}

test("a step frame decodes to its prefix, its JSON header and its named arrays", () => {
  const buf = encode({
    header: { loss: 0.25, phase: null },
    arrays: [["weight.0", [2, 3], [1, 2, 3, 4, 5, 6]], ["bias.0", [3], [0.5, -0.5, 0]]],
  });
  const f = decodeFrame(buf);
  assert.equal(f.kind, KIND.STEP);
  assert.equal(f.seq, 7);
  assert.equal(f.step, 42);
  assert.equal(f.header.loss, 0.25);
  assert.deepEqual(f.arrays["weight.0"].shape, [2, 3]);
  assert.equal(at2(f.arrays["weight.0"], 1, 2), 6);
  assert.deepEqual(Array.from(f.arrays["bias.0"].data), [0.5, -0.5, 0]);
  assert.equal(f.bytes, buf.byteLength);
});

test("arrays are views on the frame's buffer after the 4-byte padding (no copy)", () => {
  for (const extra of ["", "x", "xx", "xxx"]) { // every padding length
    const buf = encode({ header: { note: extra }, arrays: [["activation.0", [2, 2, 2], [1, 2, 3, 4, 5, 6, 7, 8]]] });
    const f = decodeFrame(buf);
    assert.equal(f.arrays["activation.0"].data.buffer, buf);
    assert.deepEqual(Array.from(plane(f.arrays["activation.0"], 1)), [5, 6, 7, 8]);
  }
});

test("a buffer that is no Propscope frame, or whose count disagrees, is refused", () => {
  const buf = encode({ arrays: [["weight.0", [1], [1]]] });
  new DataView(buf).setUint8(0, "X".charCodeAt(0));
  assert.throws(() => decodeFrame(buf), /not a Propscope frame/);
  assert.throws(() => decodeFrame(encode({ arrays: [["weight.0", [1], [1]]], count: 2 })), /count/);
});

test("maxAbs skips NaN and infinities (a diverging run still draws)", () => {
  assert.equal(maxAbs(new Float32Array([1, -3, NaN, Infinity, 2])), 3);
  assert.equal(maxAbs(null), 0);
});
