// The per-time-step gradient chart of a recurrent layer (SVG, log scale): one point per time
// step t = 1 … T, lined up under the unrolled network's columns. Its series are the frame's own
// arrays — the traced sample's ‖δ_t‖ (`sample.delta_norms.k`), the last step's batch-mean
// ‖δ_t‖ (`delta_norms.k`) and ‖step t's share of ∂L/∂W_hh‖ (`weight_hh_grad_step_norms.k`) —
// told apart by marker shape and dash as well as colour. Nothing is computed here but the
// positions of the points.

import { BACKWARD, fmt } from "./colors.js";

const SVG = "http://www.w3.org/2000/svg";
export const SERIES = [
  { name: "sample", label: "‖δₜ‖ sample", color: BACKWARD, marker: "circle", dash: "" },
  { name: "batch", label: "‖δₜ‖ batch mean", color: "#444444", marker: "square", dash: "5 3" },
  { name: "whh", label: "‖∂L/∂W_hh at t‖", color: "#0064b2", marker: "diamond", dash: "2 3" },
];

function node(tag, attrs = {}) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

// the decades [lo, hi] (powers of ten) that hold every positive finite value, or null
export function logRange(seriesValues) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const values of seriesValues) {
    if (!values) continue;
    for (const v of values) {
      if (v > 0 && Number.isFinite(v)) {
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
      }
    }
  }
  if (!(hi > 0)) return null;
  const a = Math.floor(Math.log10(lo));
  let b = Math.ceil(Math.log10(hi)) + 0; // + 0: no −0 decade
  if (b === a) b = a + 1;
  return [a, b];
}

// draw into `svg`: values {sample, batch, whh} (Float32Arrays of T or undefined), columns of
// width `cw` px starting at x = `x0`, plot height `h`; reveal: the fraction of the columns
// reached from the right (the backward pass travelling back in time; the others are faint)
export function drawTimeChart(svg, values, { T, cw, x0 = 0, h = 110, reveal = 1 }) {
  const width = x0 + cw * T;
  const pad = 6;
  svg.setAttribute("width", String(width));
  svg.setAttribute("height", String(h));
  svg.setAttribute("viewBox", `0 0 ${width} ${h}`);
  svg.replaceChildren();
  const range = logRange(SERIES.map((s) => values[s.name]));
  if (!range) return;
  const [a, b] = range;
  const y = (v) => pad + (h - 2 * pad) * (1 - (Math.log10(v) - a) / (b - a));
  for (let d = a; d <= b; d++) {
    const yy = y(10 ** d);
    svg.append(node("line", { x1: x0, x2: width, y1: yy, y2: yy, class: "tc-grid" }));
    // the tick labels stand left of the plot, in the rows' label column
    const t = node("text", { x: x0 - 5, y: Math.min(h - 2, Math.max(10, yy + 4)), class: "tc-tick" });
    t.textContent = `1e${d}`;
    svg.append(t);
  }
  const first = Math.floor(T * (1 - reveal));
  for (const s of SERIES) {
    const v = values[s.name];
    if (!v) continue;
    const g = node("g", { class: `tc-series tc-${s.name}`, "data-testid": `time-chart-${s.name}`, "data-points": v.length });
    let path = "";
    for (let t = 0; t < v.length; t++) {
      if (t < first || !(v[t] > 0) || !Number.isFinite(v[t])) continue;
      const px = x0 + (t + 0.5) * cw;
      path += `${path ? "L" : "M"}${px.toFixed(1)},${y(v[t]).toFixed(1)}`;
    }
    g.append(node("path", { d: path, fill: "none", stroke: s.color, "stroke-width": 1.5, "stroke-dasharray": s.dash }));
    for (let t = 0; t < v.length; t++) {
      const ok = v[t] > 0 && Number.isFinite(v[t]);
      const px = x0 + (t + 0.5) * cw;
      const py = ok ? y(v[t]) : h - pad;
      const r = Math.max(1.6, Math.min(3.2, cw * 0.3));
      const m = s.marker === "circle" ? node("circle", { cx: px, cy: py, r })
        : s.marker === "square" ? node("rect", { x: px - r, y: py - r, width: 2 * r, height: 2 * r })
          : node("path", { d: `M${px},${py - r * 1.3}L${px + r * 1.3},${py}L${px},${py + r * 1.3}L${px - r * 1.3},${py}Z` });
      m.setAttribute("fill", ok ? s.color : "none");
      m.setAttribute("class", "tc-point");
      m.setAttribute("data-t", String(t));
      m.setAttribute("data-value", String(v[t]));
      if (t < first) m.setAttribute("opacity", "0.2");
      const title = node("title");
      title.textContent = `t = ${t + 1}: ${s.label} = ${fmt(v[t])}`;
      m.append(title);
      g.append(m);
    }
    svg.append(g);
  }
}
