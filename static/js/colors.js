// Colour scales (presentation only). Sign: a colour-blind-safe diverging pair —
// orange for negative, blue for positive (Okabe–Ito hues, distinguishable in the common
// colour-vision deficiencies). The backward pass uses magenta *and* a dashed/chevron style,
// so it never relies on colour alone.

export const NEG = [214, 96, 0]; // #d66000 orange
export const POS = [0, 100, 178]; // #0064b2 blue
export const MID = [236, 236, 236];
export const FORWARD = "#111111";
export const FORWARD_GLOW = "rgba(255, 196, 0, 0.95)"; // gold pulses of the forward signal
export const BACKWARD = "#c2007a"; // magenta δ / ∂L/∂w wave
export const CLASS_COLORS = ["#d66000", "#0064b2", "#009e73", "#cc79a7", "#56b4e9", "#e69f00"];

export function hex(rgb) {
  return `#${rgb.map((c) => Math.round(c).toString(16).padStart(2, "0")).join("")}`;
}

// Signed value → CSS colour; t = |v| / scale in [0, 1] blends from light grey to the hue.
export function signColor(v, scale, alphaFloor = 0.25) {
  if (!Number.isFinite(v)) return "rgba(160, 0, 160, 0.9)";
  const t = scale > 0 ? Math.min(1, Math.abs(v) / scale) : 0;
  const c = v < 0 ? NEG : POS;
  const a = alphaFloor + (1 - alphaFloor) * t;
  return `rgba(${c[0]}, ${c[1]}, ${c[2]}, ${a.toFixed(3)})`;
}

// 256-entry RGB lookup table for a value in [-1, 1] (index 0 = -1, 255 = +1).
export const DIVERGING_LUT = (() => {
  const lut = new Uint8ClampedArray(256 * 3);
  for (let i = 0; i < 256; i++) {
    const x = i / 127.5 - 1;
    const c = x < 0 ? NEG : POS;
    const t = Math.abs(x);
    const w = [250, 250, 250];
    for (let k = 0; k < 3; k++) lut[i * 3 + k] = w[k] + (c[k] - w[k]) * t;
  }
  return lut;
})();

// Fill an ImageData from a (R×R) Float32Array mapped with v → (v − centre) / half.
export function paintPlane(imageData, values, centre, half) {
  const px = imageData.data;
  const inv = half > 0 ? 1 / half : 0;
  for (let i = 0; i < values.length; i++) {
    let x = (values[i] - centre) * inv;
    if (!(x === x)) x = 0; // NaN → neutral
    if (x > 1) x = 1;
    else if (x < -1) x = -1;
    const li = Math.round((x + 1) * 127.5) * 3;
    const o = i * 4;
    px[o] = DIVERGING_LUT[li];
    px[o + 1] = DIVERGING_LUT[li + 1];
    px[o + 2] = DIVERGING_LUT[li + 2];
    px[o + 3] = 255;
  }
}

// How a neuron's output is mapped for pictures: bounded activations keep their natural range.
export function rangeFor(activation, values) {
  if (activation === "tanh") return [0, 1];
  if (activation === "sigmoid" || activation === "softmax") return [0.5, 0.5];
  let m = 0;
  for (let i = 0; i < values.length; i++) {
    const v = Math.abs(values[i]);
    if (v > m && Number.isFinite(v)) m = v;
  }
  return [0, m || 1];
}

// Numbers for the screen: 4 significant digits, exponent form when tiny or huge.
export function fmt(v, digits = 4) {
  if (v === null || v === undefined) return "—";
  if (typeof v !== "number") return String(v);
  if (Number.isNaN(v)) return "NaN";
  if (!Number.isFinite(v)) return v > 0 ? "+∞" : "−∞";
  if (v === 0) return "0";
  const a = Math.abs(v);
  let s;
  if (a >= 1e5 || a < 1e-3) s = v.toExponential(digits - 1).replace("e", "e");
  else s = Number(v.toPrecision(digits)).toString();
  return s.replace("-", "−");
}
