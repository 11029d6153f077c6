// The picture of a recurrent network, unrolled over time: one column per time step t = 1 … T
// (T can be 40: the columns shrink to the width, down to 6 px, then the band scrolls sideways).
//   x_t   the traced sequence's inputs (one row per input feature)
//   h_t   the hidden states (one row per unit; for an LSTM also the cell state c_t and the
//         forget gate f_t, which decides how much of the cell's gradient goes on back in time)
//   δ_t   ∂L/∂z_t, coloured on a log scale of |δ| (six decades below the largest), sign by
//         hue; in the backward pass it appears from the last column back to the first, fading
//   chart the per-time-step gradient norms, log scale (time_chart.js), under the same columns
//   W_hh, W_ih  the recurrent and input weights (∂L/∂W in the "∂L/∂w" link mode); a click on a
//         weight asks the engine for its gradient as the sum over time steps (the inspector)
// then the output layer's class bars. The frames carry every number; here they are only laid
// out (a (T, H) array is drawn with time across, so it is read transposed) and coloured.

import { waveAt } from "./animation.js";
import { classBarsHtml, valuesHtml } from "./class_bars.js";
import { fmt, rangeFor } from "./colors.js";
import { maxAbs } from "./frames.js";
import { heatmap } from "./heatmap.js";
import { layerTitle } from "./layer_summary.js";
import { SERIES, drawTimeChart } from "./time_chart.js";

const DECADES = 6; // the log colour scale of δ spans this many powers of ten
const LABEL_W = 44; // the row labels' column, px

// (T, n) row-major → (n, T) row-major: time across, units down
export function timeAcross(entry) {
  if (!entry) return null;
  const [T, n] = entry.shape;
  const out = new Float32Array(T * n);
  for (let t = 0; t < T; t++) for (let u = 0; u < n; u++) out[u * T + t] = entry.data[t * n + u];
  return out;
}

// one LSTM gate of a (T, 4H) gates array (i, f, g, o, as the engine orders them) → (H, T)
export const GATES = ["i", "f", "g", "o"];
export function gateAcross(entry, gate, H) {
  if (!entry) return null;
  const T = entry.shape[0];
  const g = GATES.indexOf(gate);
  const out = new Float32Array(T * H);
  for (let t = 0; t < T; t++) for (let u = 0; u < H; u++) out[u * T + t] = entry.data[t * 4 * H + g * H + u];
  return out;
}

// signed log scale: v ↦ sign(v)·(log10|v| − (log10 max − DECADES)) / DECADES, in [-1, 1]
export function logSigned(values, top) {
  const out = new Float32Array(values.length);
  if (!(top > 0)) return out;
  const floor = Math.log10(top) - DECADES;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    const a = Math.abs(v);
    out[i] = a > 0 && Number.isFinite(a) ? Math.sign(v) * Math.max(0, (Math.log10(a) - floor) / DECADES) : 0;
  }
  return out;
}

export function startRnnView(store, root) {
  let parts = null;
  let built = null;
  let key = "";
  let cw = 10;
  let chartH = 110;

  const frame = () => store.get("stepFrame");
  const arr = (name) => {
    const f = frame();
    return f ? f.arrays[name] : undefined;
  };

  function rowEl(holder, label, hm, testid) {
    const el = document.createElement("div");
    el.className = "t-row";
    if (testid) el.dataset.testid = testid;
    const head = document.createElement("span");
    head.className = "row-label";
    head.innerHTML = label;
    el.append(head, hm.el);
    holder.append(el);
    return el;
  }

  function build(snap) {
    root.innerHTML = "";
    parts = { layers: [] };
    const layers = snap.network.layers;
    layers.forEach((layer, k) => {
      const sec = document.createElement("section");
      sec.className = `band band-${layer.kind}`;
      sec.dataset.layer = String(k);
      const h = document.createElement("h2");
      h.textContent = layerTitle(layer, k);
      sec.append(h);
      sec.setAttribute("aria-label", h.textContent);
      root.append(sec);
      const p = { sec, kind: layer.kind };
      if (layer.kind === "rnn" || layer.kind === "lstm") {
        const [T, nIn] = layer.input_shape;
        const H = layer.units;
        h.textContent += ` · unrolled over T = ${T} time steps`;
        const scroller = document.createElement("div");
        scroller.className = "t-scroll";
        scroller.dataset.testid = `rnn-time-${k}`;
        scroller.dataset.steps = String(T);
        sec.append(scroller);
        const axis = document.createElement("div");
        axis.className = "t-row t-axis";
        axis.innerHTML = `<span class="row-label">t</span><span class="t-ticks" data-testid="rnn-ticks-${k}"></span>`;
        scroller.append(axis);
        const pickState = (field) => ([u, t]) => {
          if (!store.get("readOnly")) store.set({ selection: { type: "cell", layer: k, field, index: [t, u] } });
        };
        const describe = (name, sym) => ([u, t]) => {
          const e = arr(name);
          return e ? `${sym} at t = ${t + 1}, unit ${u + 1}: ${fmt(e.data[t * e.shape[1] + u])}` : "";
        };
        p.x = heatmap({ rows: nIn, cols: T, label: `layer ${k + 1}: the input sequence x_t`, testid: `rnn-x-${k}`, className: "t-map",
          describe: describe(`sample.input.${k}`, "x") });
        p.h = heatmap({ rows: H, cols: T, label: `layer ${k + 1}: hidden states h_t, one column per time step`, testid: `rnn-h-${k}`, className: "t-map",
          pick: pickState("activation"), describe: describe(`sample.activation.${k}`, "h") });
        p.d = heatmap({ rows: H, cols: T, label: `layer ${k + 1}: δ_t = ∂L/∂z_t, log scale`, testid: `rnn-delta-${k}`, className: "t-map",
          pick: pickState("delta"), describe: describe(`sample.delta.${k}`, "δ") });
        p.rows = { x: rowEl(scroller, "x<sub>t</sub>", p.x), h: rowEl(scroller, "h<sub>t</sub>", p.h) };
        if (layer.kind === "lstm") {
          p.c = heatmap({ rows: H, cols: T, label: `layer ${k + 1}: cell states c_t`, testid: `rnn-c-${k}`, className: "t-map",
            pick: pickState("cell"), describe: describe(`sample.cell.${k}`, "c") });
          p.rows.c = rowEl(scroller, "c<sub>t</sub>", p.c);
          // the forget gate: how much of c_{t−1} each unit keeps, and so how much of the
          // cell's gradient goes on back in time (0 … 1)
          p.f = heatmap({ rows: H, cols: T, label: `layer ${k + 1}: forget gate f_t, 0 … 1`, testid: `rnn-f-${k}`, className: "t-map",
            describe: ([u, t]) => {
              const e = arr(`sample.gates.${k}`);
              return e ? `forget gate f at t = ${t + 1}, unit ${u + 1}: ${fmt(e.data[t * 4 * H + H + u])}` : "";
            } });
          p.rows.f = rowEl(scroller, "f<sub>t</sub>", p.f);
        }
        p.rows.d = rowEl(scroller, "δ<sub>t</sub>", p.d);
        const chartRow = document.createElement("div");
        chartRow.className = "t-row t-chart";
        chartRow.innerHTML = `<span class="row-label">‖·‖<br><small>log</small></span>`;
        p.svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
        p.svg.setAttribute("role", "img");
        p.svg.setAttribute("aria-label", `layer ${k + 1}: gradient norm per time step, log scale`);
        p.svg.dataset.testid = `time-chart-${k}`;
        chartRow.append(p.svg);
        scroller.append(chartRow);
        p.rows.chart = chartRow;
        const legend = document.createElement("p");
        legend.className = "t-legend";
        legend.innerHTML = SERIES.map((s) => `<span><i class="tc-key tc-key-${s.name}" aria-hidden="true"></i>${s.label}</span>`).join("")
          + `<span class="hint">δ colour: log |δ|, ${DECADES} decades</span>`;
        sec.append(legend);
        const weights = document.createElement("div");
        weights.className = "t-weights";
        sec.append(weights);
        const pickW = (parameter) => ([i, j]) => {
          if (!store.get("readOnly")) store.set({ selection: { type: "param", layer: k, parameter, index: [i, j] } });
        };
        const wide = layer.kind === "lstm" ? 4 * H : H;
        p.whh = heatmap({ rows: H, cols: wide, label: `layer ${k + 1}: recurrent weights W_hh: pick a weight`, testid: `whh-${k}`, className: "w-map",
          pick: pickW("weight_hh"), describe: ([i, j]) => describeW(`weight_hh`, k, i, j) });
        p.wih = heatmap({ rows: nIn, cols: wide, label: `layer ${k + 1}: input weights W_ih: pick a weight`, testid: `wih-${k}`, className: "w-map",
          pick: pickW("weight_ih"), describe: ([i, j]) => describeW(`weight_ih`, k, i, j) });
        for (const [m, lab] of [[p.whh, "W<sub>hh</sub>"], [p.wih, "W<sub>ih</sub>"]]) {
          const fig = document.createElement("figure");
          fig.className = "w-fig";
          const cap = document.createElement("figcaption");
          cap.innerHTML = lab;
          fig.append(cap, m.el);
          weights.append(fig);
          m.caption = cap;
        }
        p.T = T;
      } else {
        p.bars = document.createElement("div");
        p.bars.className = "out-bars";
        sec.append(p.bars);
      }
      parts.layers.push(p);
    });
    built = snap;
    key = "";
    fit();
  }

  function describeW(name, k, i, j) {
    const W = arr(`${name}.${k}`);
    const G = arr(`${name}_grad.${k}`);
    if (!W) return "";
    const idx = i * W.shape[1] + j;
    return `${name} = ${fmt(W.data[idx])}   ∂L/∂w = ${G ? fmt(G.data[idx]) : "—"}`;
  }

  // the columns' width: the band's width shared by the T steps (6 … 22 px); the rows' height
  // (4 … 9 px a unit) and the chart's so that x_t, h_t, δ_t and the chart fit the panel's height
  // when they can (a desktop; the compact layouts scroll the page)
  function fit() {
    if (!parts) return;
    const width = root.clientWidth || 600;
    const view = root.parentElement;
    const compact = window.matchMedia("(max-width: 1099px)").matches;
    const avail = compact ? window.innerHeight * 0.7 : (view && view.clientHeight) || 400;
    chartH = Math.round(Math.max(64, Math.min(110, avail * 0.3)));
    for (const p of parts.layers) {
      if (!p.T) continue;
      cw = Math.max(6, Math.min(22, Math.floor((width - LABEL_W - 28) / p.T)));
      const units = [p.x, p.h, p.c, p.f, p.d].filter(Boolean).reduce((n, m) => n + Number(m.el.style.getPropertyValue("--rows")), 0);
      const rowH = Math.max(4, Math.min(9, cw, Math.floor((avail - chartH - 100) / units)));
      for (const m of [p.x, p.h, p.c, p.f, p.d].filter(Boolean)) {
        const rows = Number(m.el.style.getPropertyValue("--rows"));
        m.canvas.style.width = `${cw * p.T}px`;
        m.canvas.style.height = `${rowH * rows}px`;
      }
      const ticks = p.sec.querySelector(".t-ticks");
      ticks.style.width = `${cw * p.T}px`;
      const every = cw >= 14 ? 5 : 10;
      ticks.innerHTML = Array.from({ length: p.T }, (_, t) => t + 1)
        .filter((t) => t === 1 || t % every === 0)
        .map((t) => `<span style="left:${((t - 0.5) * cw).toFixed(1)}px">${t}</span>`).join("");
    }
    key = "";
    paint();
  }
  new ResizeObserver(() => fit()).observe(root.parentElement || root);

  function paint(wave = null) {
    if (!parts || !built) return;
    const f = frame();
    const layers = built.network.layers;
    const gradients = store.get("linkMode") === "gradients";
    layers.forEach((layer, k) => {
      const p = parts.layers[k];
      if (p.T) {
        const x = arr(`sample.input.${k}`);
        p.x.paint(timeAcross(x), 0, maxAbs(x && x.data) || 1);
        const hs = arr(`sample.activation.${k}`);
        const [centre, half] = hs ? rangeFor(layer.activation, hs.data) : [0, 1];
        p.h.paint(timeAcross(hs), centre, half);
        if (p.c) {
          const c = arr(`sample.cell.${k}`);
          p.c.paint(timeAcross(c), 0, maxAbs(c && c.data) || 1);
          p.f.paint(gateAcross(arr(`sample.gates.${k}`), "f", layer.units), 0.5, 0.5);
        }
        const d = arr(`sample.delta.${k}`);
        const reveal = wave ? wave.dAlpha(k) : 1;
        let shown = d ? logSigned(timeAcross(d), maxAbs(d.data)) : null;
        if (shown && reveal < 1) {
          // the backward pass travels back in time: columns t ≥ T·(1 − reveal) are reached,
          // the others wait, faint
          const first = Math.floor(p.T * (1 - reveal));
          for (let u = 0; u < layer.units; u++) for (let t = 0; t < first; t++) shown[u * p.T + t] *= 0.15;
        }
        p.d.paint(shown, 0, 1);
        drawTimeChart(p.svg, {
          sample: arr(`sample.delta_norms.${k}`) && arr(`sample.delta_norms.${k}`).data,
          batch: arr(`delta_norms.${k}`) && arr(`delta_norms.${k}`).data,
          whh: arr(`weight_hh_grad_step_norms.${k}`) && arr(`weight_hh_grad_step_norms.${k}`).data,
        }, { T: p.T, cw, h: chartH, reveal });
        for (const [m, name, lab] of [[p.whh, "weight_hh", "hh"], [p.wih, "weight_ih", "ih"]]) {
          const W = arr(gradients ? `${name}_grad.${k}` : `${name}.${k}`);
          m.paint(W ? W.data : null, 0, maxAbs(W && W.data) || 1);
          m.caption.innerHTML = gradients ? `∂L/∂W<sub>${lab}</sub>` : `W<sub>${lab}</sub>`;
        }
      } else if (p.bars && f) {
        p.bars.innerHTML = k === layers.length - 1 ? outputHtml(f, k) : "";
      }
    });
    select(store.get("selection"));
  }

  // the output layer: class bars (classification) or ŷ beside y (regression); a network that
  // answers at every time step shows its last step's answer
  function outputHtml(f, k) {
    const s = f.header.sample || {};
    const perStep = Array.isArray(s.output && s.output[0]);
    const lastOf = (v) => (Array.isArray(v) && Array.isArray(v[0]) ? v[v.length - 1] : v);
    const when = perStep ? ` at t = ${s.output.length}` : "";
    const who = `<p class="bars-who">sample #${s.index} (${s.split})${when}</p>`;
    if (built.data.dataset.task === "regression") {
      return who + valuesHtml({ output: lastOf(s.output), target: lastOf(s.target), testid: "rnn-out", when });
    }
    const d = arr(`sample.delta.${k}`);
    return who + classBarsHtml({ output: lastOf(s.output), names: built.data.class_names,
      predicted: Array.isArray(s.predicted) ? s.predicted[s.predicted.length - 1] : s.predicted,
      target: lastOf(s.target), testid: "rnn-probs", deltas: d && d.shape.length === 1 ? Array.from(d.data) : null });
  }

  function select(sel) {
    if (!parts) return;
    for (const p of parts.layers) for (const m of [p.x, p.h, p.c, p.d, p.whh, p.wih]) if (m) m.select(null);
    if (!sel || !parts.layers[sel.layer]) return;
    const p = parts.layers[sel.layer];
    if (sel.type === "param") {
      const m = sel.parameter === "weight_hh" ? p.whh : sel.parameter === "weight_ih" ? p.wih : null;
      if (m) m.select(sel.index);
    } else if (sel.type === "cell") {
      const [t, u] = sel.index;
      const m = { activation: p.h, delta: p.d, cell: p.c }[sel.field];
      if (m) m.select([u, t]);
    }
  }

  function animate(now) {
    requestAnimationFrame(animate);
    if (!parts || !built) return;
    const wave = waveAt(store.get("anim"), built.network.layers.length, now);
    const k2 = `${wave.index}:${wave.kind === "backward" ? Math.round(wave.t * 12) : 0}:${wave.kind}`;
    if (k2 === key) return;
    key = k2;
    parts.layers.forEach((p, k) => {
      p.sec.classList.toggle("now-forward", wave.kind === "forward" && wave.layer === k);
      p.sec.classList.toggle("now-backward", wave.kind === "backward" && wave.layer === k);
      if (p.rows) p.h.el.style.opacity = String(0.18 + 0.82 * wave.aAlpha(k));
      if (p.bars) p.bars.classList.toggle("waiting", wave.aAlpha(k) < 1);
    });
    paint(wave.kind ? wave : null);
  }
  requestAnimationFrame(animate);

  let queued = false;
  function schedule() {
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => {
      queued = false;
      key = ""; // the animation loop repaints with the wave it shows
    });
  }

  return {
    show(snap) {
      if (snap !== built) build(snap);
      schedule();
    },
    hide() {
      parts = null;
      built = null;
      root.innerHTML = "";
    },
    repaint: schedule,
    select,
  };
}
