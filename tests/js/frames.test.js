// Binary frame decoding (static/js/frames.js, docs/protocol.md §4): the layout app/frames.py
// writes, built here byte by byte.
import assert from "node:assert/strict";
import { test } from "node:test";

import { KIND, SchemaBook, at2, decodeFrame, maxAbs, plane } from "../../static/js/frames.js";

const utf8 = new TextEncoder();
const size = (shape) => shape.reduce((a, b) => a * b, 1);

// "PSF1" | u8 2 | u8 kind | u16 N | u32 seq | u32 step | u32 schema id | u32 S | u32 J
// | schema JSON | header JSON | spaces to 8 | float64 values | arrays
// arrays: [name, shape, values] (f4), [name, shape, {same}] or [name, shape, {u8: [lo, hi, q]}]
function encode({ kind = KIND.STEP, seq = 7, step = 42, id = 3, header = {}, fixed = {},
  values = [], arrays = [], withSchema = true, count = null, version = 2 }) {
  const entries = arrays.map(([name, shape, v]) => {
    if (v.same) return [name, shape, "same", v.same];
    return [name, shape, v.u8 ? "u8" : "f4"];
  });
  const valueEntries = values.map(([path, v]) => [path, Array.isArray(v) ? [v.length] : [], "f8"]);
  const schema = withSchema ? utf8.encode(JSON.stringify({ arrays: entries, header: fixed, values: valueEntries })) : new Uint8Array(0);
  const json = utf8.encode(JSON.stringify(header));
  const start = 28 + schema.length + json.length;
  const pad = (8 - (start % 8)) % 8;
  const floats = values.reduce((n, [, v]) => n + (Array.isArray(v) ? v.length : 1), 0);
  let data = 0;
  for (const [, shape, v] of arrays) {
    if (v.same) continue;
    if (v.u8) data += 8 * shape[0] + size(shape) + ((4 - (size(shape) % 4)) % 4);
    else data += 4 * size(shape);
  }
  const buf = new ArrayBuffer(start + pad + 8 * floats + data);
  const dv = new DataView(buf);
  [..."PSF1"].forEach((c, i) => dv.setUint8(i, c.charCodeAt(0)));
  dv.setUint8(4, version);
  dv.setUint8(5, kind);
  dv.setUint16(6, count ?? arrays.length, true);
  dv.setUint32(8, seq, true);
  dv.setUint32(12, step, true);
  dv.setUint32(16, id, true);
  dv.setUint32(20, schema.length, true);
  dv.setUint32(24, json.length, true);
  new Uint8Array(buf, 28, schema.length).set(schema);
  new Uint8Array(buf, 28 + schema.length, json.length).set(json);
  new Uint8Array(buf, start, pad).fill(0x20);
  let off = start + pad;
  for (const [, v] of values) {
    for (const x of Array.isArray(v) ? v : [v]) {
      dv.setFloat64(off, x === null ? NaN : x, true);
      off += 8;
    }
  }
  for (const [, shape, v] of arrays) {
    if (v.same) continue;
    if (v.u8) {
      const [lo, hi, q] = v.u8;
      new Float32Array(buf, off, lo.length).set(lo);
      new Float32Array(buf, off + 4 * lo.length, hi.length).set(hi);
      new Uint8Array(buf, off + 8 * lo.length, q.length).set(q);
      off += 8 * lo.length + q.length + ((4 - (q.length % 4)) % 4);
    } else {
      new Float32Array(buf, off, v.length).set(v);
      off += 4 * v.length;
    }
  }
  return buf;
}

test("a step frame decodes to its prefix, its header (schema, JSON, float64) and its arrays", () => {
  const buf = encode({
    fixed: { run: "r0", sample: { index: 3 } },
    header: { epoch: 1, sample: { predicted: 0 } },
    values: [["loss", 0.25], ["steps_per_s", null], ["sample.output", [0.5, -1]]],
    arrays: [["weight.0", [2, 3], [1, 2, 3, 4, 5, 6]], ["bias.0", [3], [0.5, -0.5, 0]]],
  });
  const f = decodeFrame(buf);
  assert.deepEqual([f.version, f.kind, f.seq, f.step, f.schema], [2, KIND.STEP, 7, 42, 3]);
  assert.deepEqual(f.header, {
    run: "r0", epoch: 1, loss: 0.25, steps_per_s: null,
    sample: { index: 3, predicted: 0, output: [0.5, -1] },
  });
  assert.deepEqual(f.arrays["weight.0"].shape, [2, 3]);
  assert.equal(at2(f.arrays["weight.0"], 1, 2), 6);
  assert.deepEqual(Array.from(f.arrays["bias.0"].data), [0.5, -0.5, 0]);
  assert.equal(f.bytes, buf.byteLength);
});

test("float32 arrays are views on the frame's buffer whatever the padding (no copy)", () => {
  for (const extra of ["", "x", "xx", "xxx", "xxxx", "xxxxx", "xxxxxx", "xxxxxxx"]) {
    const buf = encode({ header: { note: extra }, arrays: [["activation.0", [2, 2, 2], [1, 2, 3, 4, 5, 6, 7, 8]]] });
    const f = decodeFrame(buf);
    assert.equal(f.arrays["activation.0"].data.buffer, buf);
    assert.deepEqual(Array.from(plane(f.arrays["activation.0"], 1)), [5, 6, 7, 8]);
  }
});

test("a frame without its schema decodes with the schema its socket was sent before", () => {
  const schemas = new SchemaBook();
  const arrays = [["weight.0", [2], [1, 2]]];
  decodeFrame(encode({ id: 9, fixed: { run: "r1" }, arrays }), schemas);
  const later = decodeFrame(encode({ id: 9, withSchema: false, header: { epoch: 2 }, arrays: [["weight.0", [2], [3, 4]]] }), schemas);
  assert.deepEqual(later.header, { run: "r1", epoch: 2 });
  assert.deepEqual(Array.from(later.arrays["weight.0"].data), [3, 4]);
});

test("a frame without its schema is refused by a page that was never sent it", () => {
  const buf = encode({ id: 5, withSchema: false, arrays: [] });
  assert.throws(() => decodeFrame(buf, new SchemaBook()), /schema 5/);
  assert.throws(() => decodeFrame(buf), /schema 5/);
});

test("an alias hands the very same values under both names", () => {
  const f = decodeFrame(encode({
    arrays: [["weight_grad.0", [2], [0.5, 1]], ["weight_grad_data.0", [2], { same: "weight_grad.0" }]],
  }));
  assert.equal(f.arrays["weight_grad_data.0"].data, f.arrays["weight_grad.0"].data);
});

test("uint8 planes decode to lo + q·(hi − lo)/255 with each plane's own range", () => {
  const f = decodeFrame(encode({
    kind: KIND.GRID,
    arrays: [["activation.0", [2, 1, 3], { u8: [[-1, 0], [1, 10], [0, 255, 51, 0, 255, 0]] }]],
  }));
  const got = Array.from(f.arrays["activation.0"].data);
  assert.deepEqual(got.slice(0, 3), [-1, 1, Math.fround(-1 + 51 * (2 / 255))]);
  assert.deepEqual(got.slice(3), [0, 10, 0]);
});

test("the schema book keeps the most recently used schemas", () => {
  const book = new SchemaBook();
  book.put(1, "one");
  for (let id = 2; id <= 257; id++) {
    book.put(id, id);
    book.get(1);
  }
  assert.equal(book.get(1), "one");
  assert.equal(book.get(2), undefined);
});

test("a version 1 frame (recordings made before schemas) still decodes", () => {
  const json = utf8.encode(JSON.stringify({ run: "r0", arrays: [["weight.0", [2]]] }));
  const pad = (4 - ((20 + json.length) % 4)) % 4;
  const buf = new ArrayBuffer(20 + json.length + pad + 8);
  const dv = new DataView(buf);
  [..."PSF1"].forEach((c, i) => dv.setUint8(i, c.charCodeAt(0)));
  dv.setUint8(4, 1);
  dv.setUint8(5, KIND.STEP);
  dv.setUint16(6, 1, true);
  dv.setUint32(16, json.length, true);
  new Uint8Array(buf, 20, json.length).set(json);
  new Float32Array(buf, 20 + json.length + pad, 2).set([1.5, -2]);
  const f = decodeFrame(buf);
  assert.equal(f.version, 1);
  assert.deepEqual(Array.from(f.arrays["weight.0"].data), [1.5, -2]);
});

test("a buffer that is no Propscope frame, of another version, or whose count disagrees, is refused", () => {
  const buf = encode({ arrays: [["weight.0", [1], [1]]] });
  new DataView(buf).setUint8(0, "X".charCodeAt(0));
  assert.throws(() => decodeFrame(buf), /not a Propscope frame/);
  assert.throws(() => decodeFrame(encode({ arrays: [], version: 3 })), /version 3/);
  assert.throws(() => decodeFrame(encode({ arrays: [["weight.0", [1], [1]]], count: 2 })), /count/);
});

test("maxAbs skips NaN and infinities (a diverging run still draws)", () => {
  assert.equal(maxAbs(new Float32Array([1, -3, NaN, Infinity, 2])), 3);
  assert.equal(maxAbs(null), 0);
});
