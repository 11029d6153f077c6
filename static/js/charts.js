// Charts (plotly.js, served locally at /vendor/plotly.min.js): loss and accuracy over steps with
// the batch-loss min–max band, per-layer gradient norm ‖∂L/∂W‖ (log scale: vanishing and
// exploding gradients), and weight / gradient histograms of one layer for the current step.
//
// Keeping the network animation smooth: incoming `metrics` are only appended to fixed-size
// buffers (≤ MAX_POINTS per trace, thinned evenly over the whole run: buckets.js; min and max are
// kept, so spikes survive). plotly redraws a whole chart on every update (SVG axes, ticks, paths), so
// while playing each chart is redrawn at most once per PLAY_MS (histograms HIST_MS), one chart
// per timer tick so their costs never stack in one frame; on a busy machine, where a redraw takes
// longer, a chart waits longer (each chart ≤ BUDGET of the main thread). When paused, or after step / phase,
// charts redraw at once. Every redraw is one Plotly.react with a fixed width / height measured
// from the container (no autosize, no automargin: one layout pass), `uirevision` keeping the
// user's zoom, no transitions. Sizes are re-measured only when a container's size changes
// (ResizeObserver, debounced), never per frame. The modebar (on hover) keeps plotly's
// "download plot as PNG" (scale 2).

import { Buckets } from "./buckets.js";
import { NEG, POS, hex } from "./colors.js";

const PLAY_MS = 1000; // loss and gradient-norm charts while playing
const HIST_MS = 2000; // histograms while playing
const TICK_MS = 250; // at most one chart redraw per tick while playing
const BUDGET = 0.06; // while playing, a chart's redraws take at most ~6 % of the main thread
const MAX_POINTS = 600; // per trace
const RESIZE_MS = 150;
const HIST_BINS = 30;
const LAYER_COLORS = ["#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000",
  "#999999", "#7f3c8d", "#11a579", "#3969ac"];
const GRID = "#e4e4e4";
const FONT_FAMILY = "system-ui, -apple-system, 'Segoe UI', Roboto, Arial, sans-serif";

const SUPER = { "-": "⁻", 0: "⁰", 1: "¹", 2: "²", 3: "³", 4: "⁴", 5: "⁵", 6: "⁶", 7: "⁷", 8: "⁸", 9: "⁹" };
function pow10Text(k) {
  if (k === 0) return "1";
  if (k === 1) return "10";
  return `10${String(k).split("").map((ch) => SUPER[ch]).join("")}`;
}
function plainText(v) {
  return String(Number(v.toPrecision(2))).replace("-", "−");
}

// Tick values and labels of a log axis over [lo, hi], all labels at full font size (plotly's
// own log ticks draw the 2 and 5 between decades in a smaller font): the densest of 1…9, 1-2-5,
// decades, every 2nd/3rd/… decade that fits in maxTicks. Null when the range is too narrow for
// two ticks (plotly's automatic ticks then).
// With `fit` = {px, gap}: the plotted span of [lo, hi] is px pixels high and neighbouring labels
// must be at least `gap` pixels apart (1 and 0.9 sit close on a log axis: a set is then too
// dense however few labels it has).
export function logTicks(lo, hi, maxTicks, fit = null) {
  if (!(lo > 0) || !(hi >= lo)) return null;
  const span = Math.log10(hi) - Math.log10(lo);
  const crowded = (vals) => {
    if (!fit || !(span > 0)) return false;
    for (let i = 1; i < vals.length; i++) {
      const px = ((Math.log10(vals[i]) - Math.log10(vals[i - 1])) / span) * fit.px;
      if (px < fit.gap) return true;
    }
    return false;
  };
  const a = Math.floor(Math.log10(lo));
  const b = Math.ceil(Math.log10(hi));
  const within = (m, step) => {
    const out = [];
    for (let k = a; k <= b; k++) {
      if (((k % step) + step) % step) continue;
      for (const f of m) {
        const v = f * 10 ** k;
        if (v >= lo * 0.999 && v <= hi * 1.001) out.push({ v: Number(v.toPrecision(3)), k, f });
      }
    }
    return out;
  };
  const sets = [[[1, 2, 3, 4, 5, 6, 7, 8, 9], 1], [[1, 2, 5], 1], [[1, 3], 1], [[1], 1], [[1], 2], [[1], 3],
    [[1], 5], [[1], 10]];
  // a crowded set thinned to every 2nd, 3rd … label, counted from a power of ten (or the top)
  const thinned = (t) => {
    if (!crowded(t.map((x) => x.v))) return t;
    let anchor = t.findIndex((x) => x.f === 1);
    if (anchor < 0) anchor = t.length - 1;
    for (let stride = 2; stride < t.length; stride++) {
      const u = t.filter((_, i) => Math.abs(i - anchor) % stride === 0);
      if (u.length >= 2 && !crowded(u.map((x) => x.v))) return u;
    }
    return null;
  };
  for (const [m, step] of sets) {
    const t = within(m, step);
    if (t.length > maxTicks || crowded(t.map((x) => x.v))) continue;
    if (t.length < 2) break;
    return label(t, m);
  }
  // less than a decade, where even two of 1…9 sit too close: every 2nd, 3rd … of them
  const fine = fit ? thinned(within(sets[0][0], 1)) : null;
  return fine && fine.length >= 2 && fine.length <= maxTicks ? label(fine, sets[0][0]) : null;

  function label(t, m) {
    const powers = m.length === 1;
    const small = a >= -3 && b <= 4;
    return {
      tickvals: t.map((x) => x.v),
      ticktext: t.map((x) => (small ? plainText(x.v) : powers ? pow10Text(x.k)
        : `${x.f}·${pow10Text(x.k)}`)),
    };
  }
}

// Ticks of the step axis: whole steps only. Over a short run (fewer steps than about twice the
// ticks that fit) plotly's own ticks fall between steps ("200m" for step 0.2): explicit integer
// ticks then; null when plotly's ticks are whole steps anyway.
export function stepTicks(maxStep, maxTicks) {
  const top = Math.max(1, Math.ceil(maxStep));
  if (top >= 2 * maxTicks) return null;
  const every = Math.max(1, Math.ceil(top / Math.max(1, maxTicks)));
  const vals = [];
  for (let v = 0; v <= top; v += every) vals.push(v);
  return { tickvals: vals, ticktext: vals.map(String), range: [0, top] };
}

export function startCharts(store, els) {
  const Plotly = window.Plotly;
  if (!Plotly) {
    for (const el of [els.loss, els.grad, els.hist]) if (el) el.textContent = "plotly.js did not load";
    return { points: () => 0, renders: () => ({}) };
  }

  let nLayers = 0;
  let logLoss = true;
  let classification = false;
  let histLayer = 0;
  let points = 0;
  let lastTest = null;
  let lastStep = null;
  let run = 0; // uirevision: zoom is kept within a run, reset for a new one
  let dataset = "data";
  let batch = new Buckets(MAX_POINTS);
  const newEvals = () => ({
    train: new Buckets(MAX_POINTS, true), test: new Buckets(MAX_POINTS, true),
    tacc: new Buckets(MAX_POINTS, true), vacc: new Buckets(MAX_POINTS, true),
  });
  let evals = newEvals();
  let grads = [];

  // one record per chart: its element, measured size, whether it needs a redraw, when it last
  // drew, its redraw function and the stable layout object (rebuilt only when the size, the font
  // or the axes change)
  const charts = {
    loss: { el: els.loss, period: PLAY_MS, draw: drawLoss, build: lossLayout },
    grad: { el: els.grad, period: PLAY_MS, draw: drawGrad, build: gradLayout },
    hist: { el: els.hist, period: HIST_MS, draw: drawHist, build: histLayout },
  };
  for (const c of Object.values(charts)) {
    Object.assign(c, { w: 0, h: 0, dirty: true, last: -Infinity, layout: null, config: null, count: 0,
      cost: 0 });
  }

  const presenter = () => !!store.get("presenter");
  const fontSize = () => (presenter() ? 20 : 14);

  function config(name) {
    return {
      displayModeBar: "hover",
      displaylogo: false,
      responsive: false, // sizes come from measure() below, not plotly's window listener
      scrollZoom: false,
      doubleClick: "reset",
      showTips: false,
      // no "Share chart" (an upload to plotly's cloud: the classroom is offline)
      showSendToCloud: false,
      showEditInChartStudio: false,
      modeBarButtonsToRemove: ["select2d", "lasso2d", "zoomIn2d", "zoomOut2d", "autoScale2d",
        "toggleSpikelines", "hoverClosestCartesian", "hoverCompareCartesian", "sendChartToCloud"],
      toImageButtonOptions: { format: "png", filename: `propscope-${name}-${dataset}`, scale: 2 },
    };
  }

  function axisBase(font) {
    return {
      gridcolor: GRID,
      zeroline: false,
      showline: true,
      linecolor: "#333",
      mirror: true,
      ticks: "outside",
      ticklen: 4,
      tickcolor: "#333",
      tickfont: { size: font },
      automargin: false,
    };
  }

  function baseLayout(c, extra) {
    const font = fontSize();
    return {
      width: c.w,
      height: c.h,
      autosize: false,
      font: { family: FONT_FAMILY, size: font, color: "#111" },
      paper_bgcolor: "#fff",
      plot_bgcolor: "#fff",
      showlegend: false, // compact HTML legends sit in the chart headings instead
      hovermode: "closest",
      hoverdistance: 12,
      hoverlabel: { font: { size: font } },
      dragmode: "zoom",
      uirevision: run,
      ...extra,
    };
  }

  // x axis: steps; the title only when there is room for it
  function stepAxis(c, font) {
    const roomy = c.h >= 200;
    const whole = c.steps
      ? { tickmode: "array", tickvals: c.steps.tickvals, ticktext: c.steps.ticktext, range: c.steps.range,
        autorange: false }
      : { tickmode: "auto", nticks: stepTickCount(c), autorange: true };
    return {
      ...axisBase(font),
      title: roomy ? { text: "step", font: { size: font }, standoff: 2 } : undefined,
      ...whole,
      rangemode: "tozero",
      tickformat: "~s",
      hoverformat: ",d",
    };
  }
  const stepTickCount = (c) => Math.max(3, Math.floor(c.w / (fontSize() * 4.5)));

  // y axis: explicit ticks on log axes (see logTicks), plotly's on linear ones
  function yTicks(c, log) {
    if (log && c.ticks) return { tickmode: "array", tickvals: c.ticks.tickvals, ticktext: c.ticks.ticktext };
    return { tickmode: "auto", nticks: Math.max(3, Math.floor(c.h / (fontSize() * 2.6))),
      exponentformat: "power" };
  }

  // room for the longest y tick label (no automargin: that costs a second layout pass)
  function leftMargin(c, font) {
    const chars = c.ticks ? Math.max(...c.ticks.ticktext.map((t) => t.length)) : 4;
    return Math.round(font * (0.62 * Math.max(3, chars) + 1.1));
  }

  function xMargin(c, font) {
    return c.h >= 200 ? Math.round(font * 3.2) : Math.round(font * 1.9);
  }

  function lossLayout(c) {
    const font = fontSize();
    const layout = baseLayout(c, {
      margin: { l: leftMargin(c, font), r: classification ? Math.round(font * 3.3) : 10, t: Math.round(font * 0.7),
        b: xMargin(c, font) },
      xaxis: stepAxis(c, font),
      yaxis: {
        ...axisBase(font),
        ...yTicks(c, logLoss),
        type: logLoss ? "log" : "linear",
        uirevision: `${run}-${logLoss}`,
        hoverformat: ".4g",
      },
    });
    if (classification) {
      layout.yaxis2 = {
        ...axisBase(font),
        overlaying: "y",
        side: "right",
        range: [0, 1.02],
        // no "0" label: in the bottom-right corner it would run into the last step tick
        tickmode: "array",
        tickvals: [0.5, 1],
        ticktext: ["50%", "100%"],
        showgrid: false,
        mirror: false,
        hoverformat: ".1%",
        fixedrange: true,
      };
    }
    return layout;
  }

  function gradLayout(c) {
    const font = fontSize();
    return baseLayout(c, {
      margin: { l: leftMargin(c, font), r: 10, t: Math.round(font * 0.7), b: xMargin(c, font) },
      xaxis: stepAxis(c, font),
      yaxis: {
        ...axisBase(font),
        ...yTicks(c, true),
        type: "log",
        hoverformat: ".3g",
      },
    });
  }

  function histLayout(c) {
    const font = fontSize();
    const half = (axis, domain, title) => ({
      // ticks never turned sideways (they would run into the axis title): fewer of them instead
      [`xaxis${axis}`]: { ...axisBase(font), domain, anchor: `y${axis}`, tickangle: 0, tickformat: "~g",
        nticks: Math.max(2, Math.min(4, Math.floor((c.w * 0.47) / (font * 4)))),
        exponentformat: "power", title: { text: title, font: { size: font }, standoff: 2 } },
      [`yaxis${axis}`]: { ...axisBase(font), anchor: `x${axis}`, showticklabels: false, ticks: "",
        rangemode: "tozero", fixedrange: true },
    });
    return baseLayout(c, {
      margin: { l: 8, r: 8, t: 6, b: Math.round(font * 3.3) },
      bargap: 0.06,
      // narrow (1280 px: three charts side by side): the layer is named by the picker above
      ...half("", [0, 0.47], c.w < 320 ? "w" : `w · layer ${histLayer + 1}`),
      ...half("2", [0.53, 1], c.w < 320 ? "∂L/∂w" : `∂L/∂w · layer ${histLayer + 1}`),
    });
  }

  // ------------------------------------------------------------------ data in
  function reset() {
    const snap = store.get("snapshot");
    nLayers = snap ? snap.network.layers.length : 0;
    classification = !!(snap && snap.data.dataset && snap.data.dataset.task === "classification");
    dataset = String((snap && snap.spec && snap.spec.data && snap.spec.data.dataset) || "data")
      .replace(/[^A-Za-z0-9_-]/g, "");
    points = 0;
    lastTest = null;
    lastStep = null;
    run++;
    batch = new Buckets(MAX_POINTS);
    evals = newEvals();
    grads = Array.from({ length: nLayers }, () => new Buckets(MAX_POINTS));
    histLayer = Math.min(histLayer, Math.max(0, nLayers - 1));
    // a layer without weights (a flatten) has no histogram: the next one that has
    const kinds = snap ? snap.network.layers.map((l) => l.kind) : [];
    while (histLayer < nLayers - 1 && ["flatten", "maxpool", "avgpool"].includes(kinds[histLayer])) histLayer++;
    renderLayerPicker();
    renderLegends();
    for (const c of Object.values(charts)) {
      c.layout = null; // new axes (accuracy axis, uirevision)
      c.config = null; // new export file name
      c.dirty = true;
    }
    const m = snap && snap.state && snap.state.metrics;
    if (m) addEval(m);
    now();
  }

  // history rows [step, n, loss mean/min/max, data_loss …, penalty …, grad_norm_k mean/min/max …]
  // (docs/protocol.md §9.2) into the batch-loss and gradient-norm buckets, replacing them
  // A history the page kept itself (runs.js: a run that became the main one) also holds that
  // run's evaluations (`evals`: {step, train_loss, test_loss, …}), which replace the lines.
  function loadHistory(h) {
    if (!h || h.n_layers !== nLayers) return;
    if (Array.isArray(h.evals)) {
      evals = newEvals();
      lastTest = null;
      lastStep = null;
      for (const ev of h.evals) addEval(ev);
      charts.loss.dirty = true;
    }
    const col = Object.fromEntries((h.columns || []).map((c, i) => [c, i]));
    if (!Array.isArray(h.rows) || !h.rows.length || col.loss_mean === undefined) {
      now();
      return;
    }
    batch = new Buckets(MAX_POINTS);
    grads = Array.from({ length: nLayers }, () => new Buckets(MAX_POINTS));
    for (const r of h.rows) {
      batch.push(r[0], r[col.loss_mean], r[col.loss_min], r[col.loss_max], r[1]);
      for (let k = 0; k < nLayers; k++) {
        const m = col[`grad_norm_${k}_mean`];
        grads[k].push(r[0], r[m], r[m + 1], r[m + 2], r[1]);
      }
    }
    points = Math.max(points, h.rows.length);
    charts.loss.dirty = true;
    charts.grad.dirty = true;
    now();
  }

  function addEval(ev) {
    if (!ev || ev.step === undefined || ev.step === null) return;
    evals.train.push(ev.step, ev.train_loss);
    evals.test.push(ev.step, ev.test_loss);
    if (classification) {
      evals.tacc.push(ev.step, ev.train_accuracy);
      evals.vacc.push(ev.step, ev.test_accuracy);
    }
    points++;
    if (ev.test_loss !== null && ev.test_loss !== undefined) lastTest = ev.test_loss;
    lastStep = ev.step;
  }

  function onMetrics(m) {
    const b = m.buckets;
    if (b && b.step && b.step.length) {
      const L = b.loss || {};
      for (let i = 0; i < b.step.length; i++) {
        const x = b.step[i];
        const n = b.n ? b.n[i] : 1;
        batch.push(x, L.mean && L.mean[i], L.min && L.min[i], L.max && L.max[i], n);
        for (let k = 0; k < nLayers; k++) {
          const g = b.grad_norms && b.grad_norms[k];
          if (g) grads[k].push(x, g.mean[i], g.min[i], g.max[i], n);
          else grads[k].push(x, NaN);
        }
      }
      points += b.step.length;
    }
    if (m.eval) addEval(m.eval);
    charts.loss.dirty = true;
    charts.grad.dirty = true;
    if (!store.get("playing")) now();
  }

  // ------------------------------------------------------------------ drawing
  // y ticks of a log chart from the plotted range; a new layout object only when they change
  function setLogTicks(c, lo, hi) {
    const font = fontSize();
    // the plot area between the margins, with plotly's autorange padding (~5 % a side)
    const px = Math.max(20, (c.h - Math.round(font * 0.7) - xMargin(c, font)) * 0.9);
    const ticks = logTicks(lo, hi, Math.max(3, Math.floor(c.h / (font * 2.6))), { px, gap: font * 1.35 });
    const key = ticks ? ticks.tickvals.join(",") : "";
    if (key !== c.tickKey) {
      c.tickKey = key;
      c.ticks = ticks;
      c.layout = null;
    }
  }

  function react(c, traces, log) {
    if (c !== charts.hist) {
      let top = 0;
      for (const tr of traces) for (const x of tr.x) if (x > top) top = x;
      const steps = stepTicks(top, stepTickCount(c));
      const key = steps ? steps.tickvals.join(",") : "";
      if (key !== c.stepKey) {
        c.stepKey = key;
        c.steps = steps;
        c.layout = null;
      }
    }
    if (log) {
      let lo = Infinity;
      let hi = -Infinity;
      for (const t of traces) {
        if (t.yaxis === "y2") continue;
        for (const y of t.y) {
          if (y === null || !(y > 0)) continue;
          if (y < lo) lo = y;
          if (y > hi) hi = y;
        }
      }
      setLogTicks(c, lo, hi);
    } else if (c.ticks) {
      c.ticks = null;
      c.tickKey = "";
      c.layout = null;
    }
    if (!c.layout) c.layout = c.build(c);
    if (!c.config) c.config = config(c === charts.loss ? "loss" : c === charts.grad ? "gradient-norm" : "histograms");
    const t0 = performance.now();
    Plotly.react(c.el, traces, c.layout, c.config);
    // cost of a redraw (its synchronous part, ×1.5 for the style / layout / paint after it),
    // smoothed: on a busy machine the charts slow down before the animation does
    const ms = (performance.now() - t0) * 1.5;
    c.cost = c.cost ? 0.7 * c.cost + 0.3 * ms : ms;
    c.count++;
  }

  // buckets per trace: about one per 2 px of plot width; at most MAX_POINTS / 2, so a band
  // polygon (upper and lower edge) has ≤ MAX_POINTS points too
  const target = (c) => Math.min(MAX_POINTS / 2, Math.max(50, Math.round(c.w / 2)));

  function drawLoss(c) {
    const log = logLoss;
    const n = target(c);
    const traces = [
      { ...batch.band(log, n), name: "batch loss min–max", type: "scatter", mode: "lines",
        fill: "toself", fillcolor: "rgba(120, 120, 120, 0.22)", line: { width: 0 },
        hoverinfo: "skip" },
      { ...batch.line(log, n), name: "batch loss", type: "scatter", mode: "lines",
        line: { color: "#8a8a8a", width: 1.2 } },
    ];
    const evalLine = (s, name, color, width, dash, y2) => {
      const d = s.line(!y2 && log, n);
      const markers = s.n <= 40;
      return { ...d, name, type: "scatter", mode: markers ? "lines+markers" : "lines",
        marker: { size: 5, color }, line: { color, width, dash }, yaxis: y2 ? "y2" : "y" };
    };
    traces.push(evalLine(evals.train, "train loss", hex(POS), 2.5, "solid", false));
    traces.push(evalLine(evals.test, "test loss", hex(NEG), 2.5, "dash", false));
    if (classification) {
      traces.push(evalLine(evals.tacc, "train acc.", hex(POS), 1.8, "dot", true));
      traces.push(evalLine(evals.vacc, "test acc.", hex(NEG), 1.8, "dot", true));
    }
    react(c, traces, log);
    const ds = c.el.dataset;
    ds.points = String(points);
    if (lastTest !== null) ds.lastTestLoss = String(lastTest);
    if (lastStep !== null) ds.lastStep = String(lastStep);
  }

  // one line per layer (bucket means); no min–max bands here: with many layers they would hide
  // each other, and each band is a filled polygon plotly redraws every time
  function drawGrad(c) {
    const n = target(c);
    const traces = grads.map((s, k) => ({ ...s.line(true, n), name: `layer ${k + 1}`, type: "scatter",
      mode: "lines", line: { color: LAYER_COLORS[k % LAYER_COLORS.length], width: 1.8 } }));
    react(c, traces, true);
    c.el.dataset.points = String(grads.length ? grads[0].n : 0);
  }

  function drawHist(c) {
    const f = store.get("stepFrame");
    // the layer's weights: a dense layer's W, a convolution's kernels, a recurrent layer's W_hh
    const name = f && ["weight", "kernel", "weight_hh"].find((p) => f.arrays[`${p}.${histLayer}`]);
    const W = name && f.arrays[`${name}.${histLayer}`];
    const G = name && f.arrays[`${name}_grad.${histLayer}`];
    const bar = (arr, color, axis) => ({ ...bins(arr ? arr.data : null), type: "bar", marker: { color },
      xaxis: `x${axis}`, yaxis: `y${axis}`, hovertemplate: "%{x:.3g}: %{y}<extra></extra>" });
    react(c, [bar(W, hex(POS), ""), bar(G, "#c2007a", "2")], false);
    if (f) c.el.dataset.step = String(f.step);
  }

  // fixed bins computed here (plotly's own histogram re-bins on every calc)
  function bins(data) {
    if (!data || !data.length) return { x: [], y: [] };
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < data.length; i++) {
      const v = data[i];
      if (!Number.isFinite(v)) continue;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    if (!(hi >= lo)) return { x: [], y: [] };
    if (hi === lo) {
      const d = Math.abs(lo) * 0.01 || 1e-6;
      lo -= d;
      hi += d;
    }
    const nb = Math.max(6, Math.min(HIST_BINS, Math.round(2 * Math.sqrt(data.length))));
    const counts = new Array(nb).fill(0);
    const scale = nb / (hi - lo);
    for (let i = 0; i < data.length; i++) {
      const v = data[i];
      if (Number.isFinite(v)) counts[Math.min(nb - 1, Math.floor((v - lo) * scale))]++;
    }
    const width = (hi - lo) / nb;
    return { x: counts.map((_, i) => lo + (i + 0.5) * width), y: counts, width };
  }

  function visible(c) {
    return c.w > 20 && c.h > 20 && !!c.el.offsetParent;
  }

  function render(c) {
    c.last = performance.now();
    if (!visible(c)) return; // stays dirty: drawn when it appears (see measure)
    c.dirty = false;
    c.draw(c);
  }

  // redraw every dirty chart now (paused, step, phase, settings)
  function now() {
    for (const c of Object.values(charts)) if (c.dirty) render(c);
  }

  // while playing: at most one chart per tick, the one waiting longest among those due
  let ticker = null;
  function tick() {
    const t = performance.now();
    let pick = null;
    for (const c of Object.values(charts)) {
      if (!c.dirty || t - c.last < Math.max(c.period, c.cost / BUDGET) || !visible(c)) continue;
      if (!pick || c.last < pick.last) pick = c;
    }
    if (pick) render(pick);
  }
  function setPlaying(on) {
    if (on && !ticker) {
      ticker = setInterval(tick, TICK_MS);
      // stagger: the charts drawn just now wait a full period; spread their next draws
      const t = performance.now();
      charts.loss.last = Math.min(charts.loss.last, t - PLAY_MS + TICK_MS);
      charts.grad.last = Math.min(charts.grad.last, t - PLAY_MS + 3 * TICK_MS);
      charts.hist.last = Math.min(charts.hist.last, t - HIST_MS + 2 * TICK_MS);
    } else if (!on && ticker) {
      clearInterval(ticker);
      ticker = null;
      now();
    }
  }

  // ------------------------------------------------------------------ sizes
  function measure() {
    for (const c of Object.values(charts)) {
      if (!c.el) continue;
      const w = Math.floor(c.el.clientWidth);
      const h = Math.floor(c.el.clientHeight);
      if (w === c.w && h === c.h) continue;
      c.w = w;
      c.h = h;
      c.layout = null;
      c.dirty = true;
    }
    now();
  }
  let resizeTimer = null;
  function measureSoon() {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(measure, RESIZE_MS);
  }
  // fires only when a container's size changes (window resize, presenter mode, key c), not per
  // frame: the plot inside has a fixed size and the containers are sized by the page grid
  const ro = new ResizeObserver(measureSoon);
  for (const c of Object.values(charts)) if (c.el) ro.observe(c.el);

  function restyle() {
    for (const c of Object.values(charts)) {
      c.layout = null;
      c.dirty = true;
    }
    measureSoon(); // the containers change size with presenter mode; measure() then draws
  }

  // ------------------------------------------------------------------ controls
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

  function renderLegends() {
    if (els.lossLegend) {
      els.lossLegend.innerHTML = `<i style="border-top:8px solid rgba(120,120,120,0.35)"></i>batch
        <i style="border-color:${hex(POS)}"></i>train <i class="dash" style="border-color:${hex(NEG)}"></i>test`
        + (classification ? ` <i class="dot" style="border-color:#333"></i>acc.` : "");
    }
    if (els.gradLegend) {
      els.gradLegend.innerHTML = grads.map((_, k) =>
        `<i style="border-color:${LAYER_COLORS[k % LAYER_COLORS.length]}"></i>L${k + 1}`).join(" ");
    }
  }

  if (els.histLayer) {
    els.histLayer.addEventListener("change", () => {
      histLayer = Number(els.histLayer.value) || 0;
      charts.hist.layout = null; // axis titles name the layer
      charts.hist.dirty = true;
      now();
    });
  }
  if (els.logToggle) {
    els.logToggle.checked = logLoss;
    els.logToggle.addEventListener("change", () => {
      logLoss = els.logToggle.checked;
      charts.loss.layout = null;
      charts.loss.dirty = true;
      now();
    });
  }

  // a resumed session keeps its history: in the page while it lives (a reconnect), from the
  // server after a reload (the `history` command; viewers joining a room get it pushed)
  store.subscribe(["snapshot"], (s) => {
    if (s.snapshot.reason === "resume" && points > 0) return;
    reset();
    if (s.snapshot.reason === "resume" && s.role !== "viewer") {
      store.command("history")
        .then((ack) => store.set({ history: ack.history }))
        .catch((err) => console.warn("no chart history from the server", err)); // eslint-disable-line no-console
    }
  });
  store.subscribe(["history"], (s) => loadHistory(s.history));
  store.subscribe(["metrics"], (s) => onMetrics(s.metrics));
  store.subscribe(["stepFrame"], () => {
    charts.hist.dirty = true;
    if (!store.get("playing")) render(charts.hist);
  });
  store.subscribe(["playing"], (s) => setPlaying(!!s.playing));
  store.subscribe(["presenter", "showGrad", "showHist"], restyle);
  measure();
  setPlaying(!!store.get("playing"));

  return {
    points: () => points,
    // redraw counts per chart (tests and the bench check the throttle)
    renders: () => ({ loss: charts.loss.count, grad: charts.grad.count, hist: charts.hist.count }),
  };
}
