// Charts (plotly.js, served locally): loss and accuracy over steps, per-layer gradient norm
// (log scale: vanishing and exploding gradients), and weight / gradient histograms of one layer
// for the current step. Redraws are throttled (extendTraces ≤ 2 Hz, histograms ≤ 1 Hz) so the
// network animation keeps its frame rate.

import { NEG, POS, hex } from "./colors.js";

const FLUSH_MS = 500;
const HIST_MS = 1000;
const MAX_POINTS = 2000;
const LAYER_COLORS = ["#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000",
  "#999999", "#7f3c8d", "#11a579", "#3969ac"];

export function startCharts(store, els) {
  const Plotly = window.Plotly;
  if (!Plotly) {
    for (const el of Object.values(els)) if (el) el.textContent = "plotly.js did not load";
    return { points: () => 0 };
  }
  const config = { displayModeBar: false, responsive: true, staticPlot: false };
  let buffer = newBuffer(0);
  let nLayers = 0;
  let logLoss = true;
  let lastFlush = 0;
  let flushTimer = null;
  let histTimer = null;
  let lastHist = 0;
  let histLayer = 0;
  let points = 0;
  let linesOnly = false;

  function newBuffer(layers) {
    return { bx: [], by: [], ex: [], train: [], test: [], tacc: [], vacc: [], gx: [],
      g: Array.from({ length: layers }, () => []) };
  }

  function font() {
    return { size: store.get("presenter") ? 20 : 15, family: "system-ui, sans-serif", color: "#111" };
  }

  function baseLayout(extra) {
    return {
      margin: { l: 62, r: 16, t: 8, b: 40 },
      font: font(),
      paper_bgcolor: "#fff",
      plot_bgcolor: "#fff",
      showlegend: false, // compact HTML legends sit in the chart headings instead
      xaxis: { title: { text: "step" }, gridcolor: "#e4e4e4", zeroline: false, automargin: true },
      ...extra,
    };
  }

  function initLoss() {
    const snap = store.get("snapshot");
    const classification = snap && snap.data.dataset && snap.data.dataset.task === "classification";
    const traces = [
      { x: [], y: [], name: "batch loss", mode: "lines", line: { color: "#9a9a9a", width: 1.5 } },
      { x: [], y: [], name: "train loss", mode: "lines+markers", marker: { size: 5 }, line: { color: hex(POS), width: 3 } },
      { x: [], y: [], name: "test loss", mode: "lines+markers", marker: { size: 5 }, line: { color: hex(NEG), width: 3, dash: "dash" } },
    ];
    if (classification) {
      traces.push({ x: [], y: [], name: "train acc", yaxis: "y2", mode: "lines",
        line: { color: hex(POS), width: 2, dash: "dot" } });
      traces.push({ x: [], y: [], name: "test acc", yaxis: "y2", mode: "lines",
        line: { color: hex(NEG), width: 2, dash: "dot" } });
    }
    const layout = baseLayout({
      yaxis: { title: { text: "loss" }, type: logLoss ? "log" : "linear", gridcolor: "#e4e4e4",
        automargin: true, exponentformat: "power", dtick: logLoss ? 1 : undefined, nticks: 5 },
      margin: { l: 62, r: classification ? 56 : 16, t: 8, b: 40 },
    });
    if (classification) {
      layout.yaxis2 = { title: { text: "acc." }, overlaying: "y", side: "right", range: [0, 1.02],
        tickformat: ".0%", tickvals: [0, 0.5, 1], showgrid: false, automargin: true };
    }
    Plotly.react(els.loss, traces, layout, config);
    if (els.lossLegend) {
      els.lossLegend.innerHTML = `<i style="border-color:#9a9a9a"></i>batch
        <i style="border-color:${hex(POS)}"></i>train <i class="dash" style="border-color:${hex(NEG)}"></i>test`
        + (classification ? ` <i class="dot" style="border-color:#333"></i>acc.` : "");
    }
  }

  function initGrad() {
    const traces = [];
    for (let k = 0; k < nLayers; k++) {
      traces.push({ x: [], y: [], name: `‖∇W${k + 1}‖`, mode: "lines+markers", marker: { size: 5 },
        line: { color: LAYER_COLORS[k % LAYER_COLORS.length], width: 2.5 } });
    }
    Plotly.react(els.grad, traces, baseLayout({
      yaxis: { title: { text: "‖∂L/∂W‖" }, type: "log", gridcolor: "#e4e4e4",
        exponentformat: "power", automargin: true, dtick: 1 },
    }), config);
    if (els.gradLegend) {
      els.gradLegend.innerHTML = traces.map((t, k) => `<i style="border-color:${t.line.color}"></i>L${k + 1}`).join(" ");
    }
  }

  function reset() {
    const snap = store.get("snapshot");
    nLayers = snap ? snap.network.layers.length : 0;
    buffer = newBuffer(nLayers);
    points = 0;
    linesOnly = false;
    histLayer = Math.min(histLayer, Math.max(0, nLayers - 1));
    initLoss();
    initGrad();
    renderLayerPicker();
    const m = snap && snap.state && snap.state.metrics;
    if (m) addEval(m);
    flush();
    drawHist();
  }

  function addEval(ev) {
    if (!ev || ev.step === undefined) return;
    buffer.ex.push(ev.step);
    buffer.train.push(ev.train_loss);
    buffer.test.push(ev.test_loss);
    buffer.tacc.push(ev.train_accuracy);
    buffer.vacc.push(ev.test_accuracy);
  }

  function onMetrics(m) {
    const b = m.buckets;
    if (b && b.step && b.step.length) {
      for (let i = 0; i < b.step.length; i++) {
        buffer.bx.push(b.step[i]);
        buffer.by.push(b.loss.mean[i]);
        buffer.gx.push(b.step[i]);
        for (let k = 0; k < nLayers; k++) {
          const gk = b.grad_norms && b.grad_norms[k];
          buffer.g[k].push(gk ? gk.mean[i] : null);
        }
      }
    }
    if (m.eval) addEval(m.eval);
    scheduleFlush();
  }

  function scheduleFlush() {
    const wait = FLUSH_MS - (performance.now() - lastFlush);
    if (wait <= 0) flush();
    else if (!flushTimer) {
      flushTimer = setTimeout(() => {
        flushTimer = null;
        flush();
      }, wait);
    }
  }

  function flush() {
    lastFlush = performance.now();
    const b = buffer;
    buffer = newBuffer(nLayers);
    const snap = store.get("snapshot");
    const classification = snap && snap.data.dataset && snap.data.dataset.task === "classification";
    if (b.bx.length || b.ex.length) {
      const xs = [b.bx, b.ex, b.ex];
      const ys = [b.by, b.train.map(pos), b.test.map(pos)];
      if (classification) {
        xs.push(b.ex, b.ex);
        ys.push(b.tacc, b.vacc);
      }
      Plotly.extendTraces(els.loss, { x: xs, y: ys }, xs.map((_, i) => i), MAX_POINTS);
      points += b.bx.length + b.ex.length;
      els.loss.dataset.points = String(points);
      const last = b.ex.length ? b.test[b.test.length - 1] : null;
      if (last !== null && last !== undefined) els.loss.dataset.lastTestLoss = String(last);
      if (b.ex.length) els.loss.dataset.lastStep = String(b.ex[b.ex.length - 1]);
    }
    if (b.gx.length && nLayers) {
      const xs = b.g.map(() => b.gx);
      Plotly.extendTraces(els.grad, { x: xs, y: b.g.map((g) => g.map(pos)) },
        b.g.map((_, k) => k), MAX_POINTS);
    }
    // markers help while stepping by hand; with many points they only cost drawing time
    if (!linesOnly && points > 120) {
      linesOnly = true;
      Plotly.restyle(els.loss, { mode: "lines" });
      Plotly.restyle(els.grad, { mode: "lines" });
    }
  }

  // log axes cannot show 0 or negatives; null leaves a gap
  function pos(v) {
    return v === null || v === undefined || !(v > 0) ? null : v;
  }

  // ------------------------------------------------------------------ histograms
  function renderLayerPicker() {
    const sel = els.histLayer;
    if (!sel) return;
    sel.innerHTML = "";
    for (let k = 0; k < nLayers; k++) {
      const o = document.createElement("option");
      o.value = String(k);
      o.textContent = k === nLayers - 1 ? `layer ${k + 1} (output)` : `layer ${k + 1}`;
      sel.appendChild(o);
    }
    sel.value = String(histLayer);
  }

  function drawHist() {
    lastHist = performance.now();
    if (!els.hist.offsetParent) return; // hidden (narrow screens, presenter): nothing to draw
    const f = store.get("stepFrame");
    const W = f && f.arrays[`W.${histLayer}`];
    const G = f && f.arrays[`gW.${histLayer}`];
    const traces = [
      { x: W ? Array.from(W.data) : [], type: "histogram", name: "w", marker: { color: hex(POS) },
        nbinsx: 30, xaxis: "x", yaxis: "y" },
      { x: G ? Array.from(G.data) : [], type: "histogram", name: "∂L/∂w", marker: { color: "#c2007a" },
        nbinsx: 30, xaxis: "x2", yaxis: "y2" },
    ];
    const layout = baseLayout({
      showlegend: false,
      grid: { rows: 1, columns: 2, pattern: "independent" },
      xaxis: { title: { text: `w · layer ${histLayer + 1}` }, domain: [0, 0.46], automargin: true,
        exponentformat: "power" },
      xaxis2: { title: { text: "∂L/∂w" }, domain: [0.54, 1], automargin: true, exponentformat: "power" },
      yaxis: { title: { text: "count" }, automargin: true },
      yaxis2: { anchor: "x2", automargin: true },
      margin: { l: 56, r: 12, t: 12, b: 44 },
      bargap: 0.04,
    });
    Plotly.react(els.hist, traces, layout, config);
  }

  function scheduleHist() {
    const wait = HIST_MS - (performance.now() - lastHist);
    if (wait <= 0) drawHist();
    else if (!histTimer) {
      histTimer = setTimeout(() => {
        histTimer = null;
        drawHist();
      }, wait);
    }
  }

  if (els.histLayer) {
    els.histLayer.addEventListener("change", () => {
      histLayer = Number(els.histLayer.value) || 0;
      drawHist();
    });
  }
  if (els.logToggle) {
    els.logToggle.addEventListener("change", () => {
      logLoss = els.logToggle.checked;
      Plotly.relayout(els.loss, { "yaxis.type": logLoss ? "log" : "linear",
        "yaxis.dtick": logLoss ? 1 : null });
    });
    els.logToggle.checked = logLoss;
  }

  store.subscribe(["snapshot"], (s) => {
    if (s.snapshot.reason === "resume" && points > 0) return; // same run: keep the history
    reset();
  });
  store.subscribe(["metrics"], (s) => onMetrics(s.metrics));
  store.subscribe(["stepFrame"], scheduleHist);
  store.subscribe(["presenter"], () => {
    const f = font();
    for (const el of [els.loss, els.grad, els.hist]) {
      if (el && el.data) Plotly.relayout(el, { font: f, "legend.font.size": f.size - 2 });
    }
  });
  const resizeObserver = new ResizeObserver(() => {
    for (const el of [els.loss, els.grad, els.hist]) {
      if (el && el.data && el.offsetWidth) Plotly.Plots.resize(el);
    }
    if (els.hist.offsetParent && !els.hist.data) drawHist();
  });
  for (const el of [els.loss, els.grad, els.hist]) if (el) resizeObserver.observe(el);

  return { points: () => points };
}
