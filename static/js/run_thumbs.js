// Thumbnails of a run that has no decision boundary to show (runs panel, compare_view.js):
// a CNN's first-layer kernels — what its filters have become, the picture a comparison of
// L2 against none or of two learning rates is about — and an RNN's per-time-step share of
// ∂L/∂W_hh on a log scale, the fading a comparison of activations or truncations is about.
// Both paint the numbers of the run's newest step frame, as the server sent them.

import { DIVERGING_LUT } from "./colors.js";

const BWD = "#c2007a";

// The array a thumbnail paints for this network, or null: [name, painter]
export function thumbSource(snap) {
  const layers = snap.network.layers;
  const conv = layers.findIndex((l) => l.kind === "conv2d");
  if (conv >= 0) return [`kernel.${conv}`, paintKernels];
  const rec = layers.findIndex((l) => l.kind === "rnn" || l.kind === "lstm");
  if (rec >= 0) return [`weight_hh_grad_step_norms.${rec}`, paintTimeNorms];
  return null;
}

// Each filter's kernel (its first input channel) as a small heat map, on one colour scale
// (orange −, blue +, the largest |w| of the layer at full strength), in a near-square grid.
export function paintKernels(ctx, kernel, px) {
  const [F, C, kh, kw] = kernel.shape;
  const cols = Math.ceil(Math.sqrt(F));
  const rows = Math.ceil(F / cols);
  const gap = Math.max(1, Math.round(px / 40));
  const cell = Math.floor((px - gap * (cols + 1)) / cols);
  const top = Math.round((px - rows * cell - (rows - 1) * gap) / 2);
  let max = 0;
  for (const v of kernel.data) max = Math.max(max, Math.abs(v));
  const img = new OffscreenCanvas(kw, kh);
  const g = img.getContext("2d");
  ctx.imageSmoothingEnabled = false;
  for (let f = 0; f < F; f++) {
    const id = g.createImageData(kw, kh);
    for (let i = 0; i < kh * kw; i++) {
      const v = kernel.data[(f * C) * kh * kw + i];
      const x = max > 0 ? Math.max(-1, Math.min(1, v / max)) : 0;
      const li = Math.round((x + 1) * 127.5) * 3;
      id.data.set([DIVERGING_LUT[li], DIVERGING_LUT[li + 1], DIVERGING_LUT[li + 2], 255], i * 4);
    }
    g.putImageData(id, 0, 0);
    const x0 = gap + (f % cols) * (cell + gap);
    const y0 = top + Math.floor(f / cols) * (cell + gap);
    ctx.drawImage(img, x0, y0, cell, cell);
  }
}

// One bar per time step, t = 1 on the left; heights on a log scale spanning six decades
// below the largest (a gradient that fades a millionfold still shows as a stub).
export function paintTimeNorms(ctx, norms, px) {
  const values = Array.from(norms.data);
  const T = values.length;
  const top = Math.max(...values.filter((v) => v > 0), 0);
  if (!T || !(top > 0)) return;
  const floor = Math.log10(top) - 6;
  const pad = Math.max(2, Math.round(px / 16));
  const w = (px - 2 * pad) / T;
  ctx.fillStyle = BWD;
  for (let t = 0; t < T; t++) {
    const v = values[t];
    const frac = v > 0 ? Math.max(0, (Math.log10(v) - floor) / 6) : 0;
    const hgt = Math.max(1, frac * (px - 2 * pad));
    ctx.fillRect(pad + t * w + w * 0.1, px - pad - hgt, Math.max(1, w * 0.8), hgt);
  }
  ctx.fillStyle = "#555";
  ctx.fillRect(pad, px - pad, px - 2 * pad, 1);
}
