// Binary frame decoder (docs/protocol.md §4). Little-endian:
// "PSF1" | u8 version | u8 kind | u16 N | u32 seq | u32 step | u32 J | JSON header | pad | float32…

// mirrors app/frames.py KIND_*; 6 = probe (the drawing pad's input forward through the network)
export const KIND = { STEP: 1, GRID: 2, PHASE: 3, LINE: 4, POINTS: 5, PROBE: 6 };
const PREFIX = 20;
const utf8 = new TextDecoder("utf-8");

export function decodeFrame(buffer) {
  const view = new DataView(buffer);
  const magic = String.fromCharCode(
    view.getUint8(0), view.getUint8(1), view.getUint8(2), view.getUint8(3));
  if (magic !== "PSF1") throw new Error(`not a Propscope frame (magic ${magic})`);
  const version = view.getUint8(4);
  const kind = view.getUint8(5);
  const count = view.getUint16(6, true);
  const seq = view.getUint32(8, true);
  const step = view.getUint32(12, true);
  const jsonLength = view.getUint32(16, true);
  const header = JSON.parse(utf8.decode(new Uint8Array(buffer, PREFIX, jsonLength)));
  let offset = PREFIX + jsonLength;
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
  return { version, kind, seq, step, header, arrays, bytes: buffer.byteLength };
}

// Element (i, j) of a 2-D array entry, or undefined.
export function at2(entry, i, j) {
  if (!entry) return undefined;
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
