// Binary frame decoder (docs/protocol.md §4), the mirror of app/frames.py. Little-endian:
// "PSF1" | u8 version | u8 kind | u16 N | u32 seq | u32 step | u32 schema id | u32 S | u32 J
// | schema JSON (S bytes, 0 = the decoder holds it) | JSON header | spaces to 8
// | float64 header values | arrays (float32, float64, or uint8 planes with float32 ranges —
// drawn only: their entries are marked `approx` and `at2` reads no number from them — or aliases)

// mirrors app/frames.py KIND_*; 6 = probe (the drawing pad's input forward through the network),
// 7 = parameters (a part of a large network's snapshot: float64; the page draws from step frames)
export const KIND = { STEP: 1, GRID: 2, PHASE: 3, LINE: 4, POINTS: 5, PROBE: 6, PARAMETERS: 7 };
export const VERSION = 2; // mirrors app PROTOCOL_VERSION
const PREFIX = 28;
const PREFIX_V1 = 20;
// app/frames.py DECODER_SCHEMAS: more than a server ever relies on a peer holding (PEER_SCHEMAS)
const MAX_SCHEMAS = 256;
const utf8 = new TextDecoder("utf-8");

// The schemas a socket has been sent, by id (one per socket: ids are the server's). Keeps the
// MAX_SCHEMAS most recently used.
export class SchemaBook {
  constructor() {
    this.byId = new Map();
  }
  put(id, schema) {
    this.byId.delete(id);
    this.byId.set(id, schema);
    if (this.byId.size > MAX_SCHEMAS) this.byId.delete(this.byId.keys().next().value);
  }
  get(id) {
    const schema = this.byId.get(id);
    if (schema !== undefined) this.put(id, schema);
    return schema;
  }
}

function magicOf(view) {
  return String.fromCharCode(view.getUint8(0), view.getUint8(1), view.getUint8(2), view.getUint8(3));
}

function merge(into, extra) {
  for (const [key, value] of Object.entries(extra)) {
    const old = into[key];
    if (value && typeof value === "object" && !Array.isArray(value)
        && old && typeof old === "object" && !Array.isArray(old)) merge(old, value);
    else into[key] = value;
  }
}

function setPath(header, path, value) {
  const keys = path.split(".");
  let node = header;
  for (const key of keys.slice(0, -1)) {
    if (!node[key] || typeof node[key] !== "object") node[key] = {};
    node = node[key];
  }
  node[keys[keys.length - 1]] = value;
}

// The float64 header values (NaN → null): a number, or a list for a shape [n]; "same" repeats
// an earlier one. Returns the offset after them.
function readValues(view, offset, entries, header) {
  const got = {};
  for (const [path, shape, encoding, alias] of entries) {
    let value;
    if (encoding === "same") value = Array.isArray(got[alias]) ? got[alias].slice() : got[alias];
    else {
      const items = [];
      for (let i = 0; i < (shape.length ? shape[0] : 1); i++) {
        const v = view.getFloat64(offset, true);
        items.push(Number.isFinite(v) ? v : null);
        offset += 8;
      }
      value = shape.length ? items : items[0];
    }
    got[path] = value;
    setPath(header, path, value);
  }
  return offset;
}

// uint8 planes back to float32: v = lo + q·(hi − lo)/255 per plane (rounded to float32, as
// app/frames.py decode_frame does). A wire format, not the network's mathematics.
function dequantise(buffer, offset, shape, n) {
  const planes = shape[0];
  const lo = new Float32Array(buffer, offset, planes);
  const hi = new Float32Array(buffer, offset + 4 * planes, planes);
  const q = new Uint8Array(buffer, offset + 8 * planes, n);
  const out = new Float32Array(n);
  const size = n / planes;
  for (let p = 0; p < planes; p++) {
    const step = (hi[p] - lo[p]) / 255;
    const base = p * size;
    for (let i = 0; i < size; i++) out[base + i] = lo[p] + q[base + i] * step;
  }
  return { data: out, end: offset + 8 * planes + n + ((4 - (n % 4)) % 4) };
}

// One frame. `schemas` (a SchemaBook, one per socket) is needed for frames sent without their
// schema; a frame that carries its schema (recordings, the notebook widget) decodes alone.
export function decodeFrame(buffer, schemas = null) {
  const view = new DataView(buffer);
  const magic = magicOf(view);
  if (magic !== "PSF1") throw new Error(`not a Propscope frame (magic ${magic})`);
  const version = view.getUint8(4);
  if (version === 1) return decodeV1(buffer, view);
  if (version !== VERSION) throw new Error(`frame version ${version} is not supported`);
  const kind = view.getUint8(5);
  const count = view.getUint16(6, true);
  const seq = view.getUint32(8, true);
  const step = view.getUint32(12, true);
  const schemaId = view.getUint32(16, true);
  const schemaLength = view.getUint32(20, true);
  const jsonLength = view.getUint32(24, true);
  let offset = PREFIX;
  let schema;
  if (schemaLength) {
    schema = JSON.parse(utf8.decode(new Uint8Array(buffer, offset, schemaLength)));
    if (schemas) schemas.put(schemaId, schema);
    offset += schemaLength;
  } else {
    schema = schemas && schemas.get(schemaId);
    if (!schema) throw new Error(`frame without its schema ${schemaId}, which this page has not seen`);
  }
  const header = structuredClone(schema.header);
  merge(header, JSON.parse(utf8.decode(new Uint8Array(buffer, offset, jsonLength))));
  offset += jsonLength;
  offset += (8 - (offset % 8)) % 8;
  offset = readValues(view, offset, schema.values, header);
  const arrays = {};
  for (const [name, shape, encoding, alias] of schema.arrays) {
    const n = shape.reduce((a, b) => a * b, 1);
    if (encoding === "same") arrays[name] = { ...arrays[alias], shape };
    else if (encoding === "f4") {
      arrays[name] = { shape, data: new Float32Array(buffer, offset, n) };
      offset += 4 * n;
    } else if (encoding === "f8") {
      // float64 needs 8-byte alignment: a frame's arrays start aligned, a copy otherwise
      const data = offset % 8 === 0 ? new Float64Array(buffer, offset, n)
        : new Float64Array(buffer.slice(offset, offset + 8 * n));
      arrays[name] = { shape, data };
      offset += 8 * n;
    } else if (encoding === "u8") {
      const { data, end } = dequantise(buffer, offset, shape, n);
      arrays[name] = { shape, data, approx: true };
      offset = end;
    } else throw new Error(`array ${name}: unknown encoding ${encoding}`);
  }
  if (count !== schema.arrays.length) throw new Error("array count does not match the frame's schema");
  if (offset !== buffer.byteLength) throw new Error("bytes after the frame's last array");
  return { version, kind, seq, step, schema: schemaId, header, arrays, bytes: buffer.byteLength };
}

// Version 1 (recordings made before schemas): every frame names its float32 arrays itself.
function decodeV1(buffer, view) {
  const kind = view.getUint8(5);
  const count = view.getUint16(6, true);
  const seq = view.getUint32(8, true);
  const step = view.getUint32(12, true);
  const jsonLength = view.getUint32(16, true);
  const header = JSON.parse(utf8.decode(new Uint8Array(buffer, PREFIX_V1, jsonLength)));
  let offset = PREFIX_V1 + jsonLength;
  offset += (4 - (offset % 4)) % 4;
  const arrays = {};
  for (const [name, shape] of header.arrays || []) {
    const n = shape.reduce((a, b) => a * b, 1);
    arrays[name] = { shape, data: new Float32Array(buffer, offset, n) };
    offset += 4 * n;
  }
  if (count !== (header.arrays || []).length) {
    throw new Error("array count does not match the frame header");
  }
  return { version: 1, kind, seq, step, schema: null, header, arrays, bytes: buffer.byteLength };
}

// Element (i, j) of a 2-D array entry, or undefined — also for an entry sent quantised
// (`approx`: drawn only, its numbers are not the engine's to print).
export function at2(entry, i, j) {
  if (!entry || entry.approx) return undefined;
  return entry.data[i * entry.shape[1] + j];
}

// Row-major slice [i] of a 3-D (n, R, R) array as a Float32Array view (no copy).
export function plane(entry, i) {
  if (!entry) return null;
  const size = entry.shape.slice(1).reduce((a, b) => a * b, 1);
  return entry.data.subarray(i * size, (i + 1) * size);
}

export function maxAbs(data) {
  let m = 0;
  if (!data) return 0;
  for (let i = 0; i < data.length; i++) {
    const v = Math.abs(data[i]);
    if (v > m && Number.isFinite(v)) m = v;
  }
  return m;
}
