// Runs side by side (protocol §10): the strip of run cards above the network and the chart of
// every run's loss on one pair of axes. Shown while the session holds more than one run.
//
// Each card is one row (the rows line up like a table, so the losses compare down a column; a
// narrow screen wraps a row in two lines): the run's line style (colour, dash and an end
// marker — never colour alone), what sets it apart (its value of every setting that differs between the runs: runs.js runLabel),
// "Main" or "Make main" (promote_run), Close (close_run), its step, its latest train and test
// loss, and a thumbnail of its decision boundary from its own grid frames. The chart draws the
// runs' evaluations (train or test loss, log scale), in the cards' styles, each line ending in
// its marker. Everything shown is what the server sent for that run (the run book, runs.js);
// nothing is recomputed. Following viewers and replays see the same strip without buttons.

import { logTicks } from "./charts.js";
import { CLASS_COLORS, DIVERGING_LUT, fmt, rangeFor } from "./colors.js";
import { plane } from "./frames.js";
import { thumbSource } from "./run_thumbs.js";
import { runLabels } from "./runs.js";
import { clear, h } from "./ui.js";

// by position in the server's list, the same on every screen of a room: the main run first
export const RUN_STYLES = [
  { color: "#0064b2", dash: "solid", symbol: "circle", glyph: "●", name: "solid" },
  { color: "#d66000", dash: "dash", symbol: "square", glyph: "■", name: "dashed" },
  { color: "#009e73", dash: "dot", symbol: "diamond", glyph: "◆", name: "dotted" },
  { color: "#9b3f8c", dash: "dashdot", symbol: "triangle-up", glyph: "▲", name: "dash-dot" },
];
const PLAY_MS = 1000; // the chart while playing
const CARD_MS = 250; // the cards' numbers and thumbnails
const THUMB = 64; // CSS pixels (larger in presenter mode: CSS)
const FONT_FAMILY = "system-ui, -apple-system, 'Segoe UI', Roboto, Arial, sans-serif";

export function startCompareView(store, els) {
  const body = document.body;
  let cards = new Map(); // id → {li, thumb, step, train, test, state, label, drawn}
  let cardKey = "";
  let lossKind = "train";
  let chartW = 0;
  let chartH = 0;
  let chartDirty = true;
  let chartLast = -Infinity;
  let timer = null;
  let cardTimer = null;
  let renders = 0;

  const locked = () => !!store.get("readOnly") || !!store.get("replaying") || store.get("role") === "viewer" && store.get("roomMode") !== "copy";
  const order = () => store.get("runs") || [];
  const book = () => store.get("runData");

  function report(err) {
    const reply = err && err.reply;
    if (reply && reply.local) return;
    store.set({ lastError: reply || { message: String(err && err.message) } });
  }

  // ------------------------------------------------------------------ the cards
  function specs(list) {
    const b = book();
    return list.map((r) => {
      const rec = b && b.get(r.id);
      return rec ? rec.spec : null;
    });
  }

  function labels(list) {
    const names = runLabels(specs(list), store.get("catalog"));
    return list.map((r, i) => names[i] || r.label || r.id);
  }

  function build() {
    const list = order();
    const many = list.length > 1;
    body.classList.toggle("comparing", many);
    els.panel.hidden = !many;
    if (els.chartWrap) els.chartWrap.hidden = !many;
    const names = many ? labels(list) : [];
    const key = JSON.stringify([list.map((r) => r.id), names, locked()]);
    if (key === cardKey) return false;
    cardKey = key;
    const had = els.list.contains(document.activeElement) ? document.activeElement.dataset.testid : null;
    clear(els.list);
    cards = new Map();
    if (!many) return true;
    // the column headings (for the eye; each cell names itself for screen readers)
    els.list.append(h("li", { class: "run-card runs-head", "aria-hidden": "true" },
      h("div", { class: "run-body" }, h("span", { class: "run-thumb" }), h("span", { class: "run-name" }, "Run: what differs"),
        h("span", { class: "run-step" }, "step"), h("span", { class: "run-train" }, "train loss"),
        h("span", { class: "run-test" }, "test loss"), h("span", { class: "run-actions" }))));
    list.forEach((r, i) => {
      const style = RUN_STYLES[i % RUN_STYLES.length];
      const main = i === 0;
      const name = names[i];
      const thumb = h("canvas", { class: "run-thumb", "aria-hidden": "true" });
      const step = h("b", { dataset: { testid: `run-step-${r.id}` } }, "—");
      const train = h("b", { dataset: { testid: `run-train-${r.id}` } }, "—");
      const test = h("b", { dataset: { testid: `run-test-${r.id}` } }, "—");
      const state = h("span", { class: "run-state", dataset: { testid: `run-state-${r.id}` } });
      const buttons = [];
      if (!locked()) {
        if (!main) {
          buttons.push(h("button", {
            type: "button", class: "run-promote", dataset: { testid: `run-promote-${r.id}` },
            "aria-label": `Make main: the run ${name}`, title: "Show this run in the main view (and save, export, hand out this one)",
            onclick: () => store.command("promote_run", { run: r.id }).catch(report),
          }, "Make main"));
        }
        buttons.push(h("button", {
          type: "button", class: "run-close", dataset: { testid: `run-close-${r.id}` },
          "aria-label": `Close the run ${name}`, title: "Close this run",
          onclick: () => store.command("close_run", { run: r.id }).catch(report),
        }, h("span", { "aria-hidden": "true" }, "✕"), h("span", { class: "run-close-word" }, " Close")));
      }
      const num = (cls, word, value) => h("p", { class: `run-num ${cls}` }, h("span", { class: "run-num-word" }, `${word} `), value);
      const li = h("li", { class: `run-card${main ? " main" : ""}`, dataset: { run: r.id, testid: `run-${r.id}` },
        style: `--run-color: ${style.color}` },
      h("div", { class: "run-body" },
        thumb,
        h("p", { class: "run-name" },
          h("span", { class: "run-key", "aria-hidden": "true" },
            h("span", { class: `run-swatch ${style.dash}` }), h("span", { class: "run-mark" }, style.glyph)),
          h("strong", { class: "run-label", title: name, dataset: { testid: `run-label-${r.id}` } }, name),
          h("span", { class: "visually-hidden" }, `${main ? ", the main run" : ""}, ${style.name} line in the loss per run chart`),
          state),
        num("run-step", "step", step), num("run-train", "train loss", train), num("run-test", "test loss", test),
        h("div", { class: "run-actions" }, main ? h("span", { class: "run-main-badge", "aria-hidden": "true" }, "Main") : null, ...buttons)));
      els.list.append(li);
      cards.set(r.id, { li, thumb, step, train, test, state, drawn: null });
    });
    if (had) {
      const again = els.list.querySelector(`[data-testid="${had}"]`);
      if (again) again.focus({ preventScroll: true });
    }
    return true;
  }

  function updateCards() {
    cardTimer = null;
    const b = book();
    if (!b) return;
    for (const [id, card] of cards) {
      const rec = b.get(id);
      if (!rec) continue;
      card.step.textContent = (rec.step || 0).toLocaleString("en-US");
      card.step.dataset.value = String(rec.step || 0);
      const ev = rec.lastEval;
      card.train.textContent = ev ? fmt(ev.train_loss, 3) : "—";
      card.test.textContent = ev ? fmt(ev.test_loss, 3) : "—";
      if (ev) {
        card.train.dataset.value = String(ev.train_loss);
        card.test.dataset.value = String(ev.test_loss);
      }
      const d = rec.diverged;
      card.state.textContent = d ? `diverged at step ${d.step}` : "";
      card.li.classList.toggle("diverged", !!d);
      const fromStep = rec.snapshot && thumbSource(rec.snapshot) ? rec.stepFrame : null;
      if (rec.gridFrame !== card.drawn || rec.lineFrame !== card.drawnLine || fromStep !== card.drawnStep) {
        card.drawn = rec.gridFrame;
        card.drawnLine = rec.lineFrame;
        card.drawnStep = fromStep;
        drawThumb(card.thumb, rec);
      }
    }
  }

  function scheduleCards() {
    if (cardTimer) return;
    cardTimer = setTimeout(updateCards, store.get("playing") ? CARD_MS : 0);
  }

  // ------------------------------------------------------------------ thumbnails
  // The run's output over the input plane (its newest grid frame) with the training points, or
  // its fit along the line (line frame); a CNN's kernels or an RNN's fading in time
  // (run_thumbs.js); nothing for other data (house prices, CSV).
  function drawThumb(canvas, rec) {
    const snap = rec.snapshot;
    const size = Math.max(32, Math.round(canvas.clientWidth || THUMB));
    const dpr = window.devicePixelRatio || 1;
    const px = Math.round(size * dpr);
    if (canvas.width !== px) {
      canvas.width = px;
      canvas.height = px;
    }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, px, px);
    if (!snap) return;
    const data = snap.data;
    const grid = rec.gridFrame;
    const L = snap.network.layers.length - 1;
    if (grid && grid.arrays[`activation.${L}`] && data.bounds) {
      paintBoundary(ctx, grid, grid.arrays[`activation.${L}`], snap, px);
      const [lo, hi] = data.bounds;
      const toPx = (v) => ((v - lo) / (hi - lo)) * px;
      const r = Math.max(1.2, px / 60);
      const rows = data.train.x;
      const step = Math.max(1, Math.floor(rows.length / 300));
      for (let i = 0; i < rows.length; i += step) {
        const [x1, x2] = rows[i];
        const y = data.train.y[i];
        const cls = Array.isArray(y) ? (y[0] > 0 ? 1 : 0) : y;
        ctx.beginPath();
        ctx.arc(toPx(x1), px - toPx(x2), r, 0, 2 * Math.PI);
        ctx.fillStyle = data.dataset.n_classes > 2 ? CLASS_COLORS[cls % CLASS_COLORS.length] : cls ? "#0064b2" : "#d66000";
        ctx.fill();
        ctx.lineWidth = Math.max(0.6, r / 3);
        ctx.strokeStyle = "#fff";
        ctx.stroke();
      }
    } else if (rec.lineFrame && rec.lineFrame.arrays.fit) {
      drawFit(ctx, rec.lineFrame, data, px);
    } else {
      const source = thumbSource(snap);
      const array = source && rec.stepFrame && rec.stepFrame.arrays[source[0]];
      if (array) source[1](ctx, array, px);
    }
    ctx.strokeStyle = "#555";
    ctx.lineWidth = Math.max(1, dpr);
    ctx.strokeRect(0.5, 0.5, px - 1, px - 1);
  }

  function paintBoundary(ctx, grid, out, snap, px) {
    const R = grid.header.resolution;
    const img = new OffscreenCanvas(R, R);
    const g = img.getContext("2d");
    const id = g.createImageData(R, R);
    const p = id.data;
    const nOut = out.shape[0];
    if (nOut === 1) {
      const values = plane(out, 0);
      let centre = 0;
      let half = 1;
      if (snap.data.dataset.task === "regression") {
        let m = 0;
        for (const y of snap.data.train.y) m = Math.max(m, Math.abs(Array.isArray(y) ? y[0] : y));
        half = m || 1;
      } else [centre, half] = rangeFor(snap.network.output_activation, values);
      for (let i = 0; i < values.length; i++) {
        let x = (values[i] - centre) / half;
        if (!(x === x)) x = 0;
        x = Math.max(-1, Math.min(1, x)) * 0.75;
        const li = Math.round((x + 1) * 127.5) * 3;
        p[i * 4] = DIVERGING_LUT[li];
        p[i * 4 + 1] = DIVERGING_LUT[li + 1];
        p[i * 4 + 2] = DIVERGING_LUT[li + 2];
        p[i * 4 + 3] = 255;
      }
    } else {
      const size = R * R;
      const rgb = CLASS_COLORS.map((c) => [1, 3, 5].map((o) => parseInt(c.slice(o, o + 2), 16)));
      for (let i = 0; i < size; i++) {
        let best = 0;
        let bv = -Infinity;
        for (let c = 0; c < nOut; c++) {
          const v = out.data[c * size + i];
          if (v > bv) {
            bv = v;
            best = c;
          }
        }
        const c = rgb[best % rgb.length];
        const t = 0.45;
        p[i * 4] = 255 + (c[0] - 255) * t;
        p[i * 4 + 1] = 255 + (c[1] - 255) * t;
        p[i * 4 + 2] = 255 + (c[2] - 255) * t;
        p[i * 4 + 3] = 255;
      }
    }
    g.putImageData(id, 0, 0);
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(img, 0, 0, px, px);
  }

  function drawFit(ctx, line, data, px) {
    const xs = line.arrays.x.data;
    const fit = line.arrays.fit.data;
    const ys = [...data.train.y.map((y) => (Array.isArray(y) ? y[0] : y))];
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of [...ys, ...fit]) {
      if (Number.isFinite(v)) {
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
      }
    }
    if (!(hi > lo)) return;
    const [x0, x1] = line.header.range;
    const X = (x) => ((x - x0) / (x1 - x0 || 1)) * px;
    const Y = (y) => px - ((y - lo) / (hi - lo)) * px * 0.9 - px * 0.05;
    ctx.fillStyle = "#999";
    data.train.x.forEach((x, i) => ctx.fillRect(X(x[0]) - 1, Y(ys[i]) - 1, 2, 2));
    ctx.beginPath();
    for (let i = 0; i < xs.length; i++) {
      const y = Y(fit[i]);
      if (i) ctx.lineTo(X(xs[i]), y);
      else ctx.moveTo(X(xs[i]), y);
    }
    ctx.strokeStyle = "#0064b2";
    ctx.lineWidth = Math.max(1.5, px / 40);
    ctx.stroke();
  }

  // ------------------------------------------------------------------ the chart
  const Plotly = window.Plotly;

  function measure() {
    if (!els.chart) return;
    const w = Math.floor(els.chart.clientWidth);
    const hgt = Math.floor(els.chart.clientHeight);
    if (w !== chartW || hgt !== chartH) {
      chartW = w;
      chartH = hgt;
      chartDirty = true;
    }
  }

  function drawChart() {
    timer = null;
    chartLast = performance.now();
    if (!Plotly || !els.chart || order().length < 2) return;
    measure();
    if (chartW < 40 || chartH < 40 || !els.chart.offsetParent) return;
    chartDirty = false;
    const b = book();
    const list = order();
    const names = labels(list);
    const key = lossKind === "test" ? "test_loss" : "train_loss";
    const traces = [];
    let top = 0;
    let lo = Infinity;
    let hi = -Infinity;
    list.forEach((r, i) => {
      const style = RUN_STYLES[i % RUN_STYLES.length];
      const rec = b && b.get(r.id);
      const pts = rec ? rec.evals : [];
      const x = [];
      const y = [];
      for (const e of pts) {
        const v = e[key];
        x.push(e.step);
        const ok = Number.isFinite(v) && v > 0;
        y.push(ok ? v : null);
        if (ok) {
          lo = Math.min(lo, v);
          hi = Math.max(hi, v);
        }
        if (e.step > top) top = e.step;
      }
      traces.push({ x, y, type: "scatter", mode: "lines", name: names[i], line: { color: style.color, width: 2.6, dash: style.dash },
        hovertemplate: `${names[i].replace(/[<>&]/g, "")}<br>step %{x:,d}: %{y:.4g}<extra></extra>` });
      let last = y.length - 1;
      while (last >= 0 && y[last] === null) last--;
      if (last >= 0) {
        traces.push({ x: [x[last]], y: [y[last]], type: "scatter", mode: "markers", showlegend: false, hoverinfo: "skip",
          marker: { symbol: style.symbol, size: presenter() ? 14 : 11, color: style.color, line: { color: "#fff", width: 1.5 } } });
      }
    });
    const font = presenter() ? 20 : 14;
    // the main charts' log ticks: every label at full size, never crowded
    const bottom = chartH >= 200 ? Math.round(font * 3.2) : Math.round(font * 1.9);
    const plotPx = Math.max(20, (chartH - Math.round(font * 0.7) - bottom) * 0.9);
    const ticks = logTicks(lo, hi, Math.max(3, Math.floor(chartH / (font * 2.6))), { px: plotPx, gap: font * 1.35 });
    const yTicks = ticks ? { tickmode: "array", tickvals: ticks.tickvals, ticktext: ticks.ticktext }
      : { nticks: Math.max(3, Math.floor(chartH / (font * 2.6))) };
    const longest = ticks ? Math.max(...ticks.ticktext.map((t) => t.length)) : 4;
    const layout = {
      width: chartW, height: chartH, autosize: false,
      font: { family: FONT_FAMILY, size: font, color: "#111" },
      paper_bgcolor: "#fff", plot_bgcolor: "#fff", showlegend: false, hovermode: "closest",
      margin: { l: Math.round(font * (0.62 * Math.max(3, longest) + 1.1)), r: 12, t: Math.round(font * 0.7), b: bottom },
      xaxis: { gridcolor: "#e4e4e4", zeroline: false, showline: true, linecolor: "#333", mirror: true, ticks: "outside", ticklen: 4,
        tickfont: { size: font }, rangemode: "tozero", tickformat: "~s", nticks: Math.max(2, Math.floor(chartW / (font * 8))),
        title: chartH >= 200 ? { text: "step", font: { size: font }, standoff: 2 } : undefined,
        range: top < 4 ? [0, 4] : undefined, autorange: top >= 4 },
      yaxis: { gridcolor: "#e4e4e4", zeroline: false, showline: true, linecolor: "#333", mirror: true, ticks: "outside", ticklen: 4,
        tickfont: { size: font }, type: "log", exponentformat: "power", ...yTicks },
      uirevision: list.map((r) => r.id).join(","),
    };
    Plotly.react(els.chart, traces, layout, {
      displayModeBar: false, responsive: false, scrollZoom: false, doubleClick: "reset", showTips: false,
    });
    renders++;
    els.chart.dataset.runs = String(list.length);
    els.chart.dataset.points = list.map((r) => (b && b.get(r.id) ? b.get(r.id).evals.length : 0)).join(",");
    els.chart.dataset.kind = lossKind;
  }

  const presenter = () => !!store.get("presenter");

  function scheduleChart() {
    chartDirty = true;
    if (timer) return;
    const wait = store.get("playing") ? Math.max(0, PLAY_MS - (performance.now() - chartLast)) : 0;
    timer = setTimeout(drawChart, wait);
  }

  if (els.kind) {
    for (const btn of els.kind.querySelectorAll("[data-runs-loss]")) {
      btn.addEventListener("click", () => {
        lossKind = btn.dataset.runsLoss;
        for (const b of els.kind.querySelectorAll("[data-runs-loss]")) b.setAttribute("aria-pressed", String(b === btn));
        scheduleChart();
      });
    }
  }

  function all() {
    const rebuilt = build();
    if (rebuilt) for (const c of cards.values()) c.drawn = undefined;
    scheduleCards();
    scheduleChart();
  }

  store.subscribe(["runs", "catalog", "readOnly", "replaying", "roomMode", "role"], all);
  store.subscribe(["runData"], () => {
    // labels follow `settings` events (a run's learning rate changed by hand)
    build();
    scheduleCards();
    scheduleChart();
  });
  store.subscribe(["presenter", "showGrad", "showHist"], () => {
    for (const c of cards.values()) c.drawn = undefined;
    setTimeout(() => {
      measure();
      all();
    }, 200);
  });
  if (els.chart) new ResizeObserver(() => scheduleChart()).observe(els.chart);
  all();

  return { renders: () => renders, kind: () => lossKind };
}
