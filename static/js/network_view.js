// The network picture (Canvas 2D): layers as columns, neurons as nodes with a thumbnail of their
// output over the input plane, links with width ∝ |value| and colour = sign, and the phase wave
// on top. Values are the engine's (step, grid, line and phase frames); only the mapping to
// pixels happens here. A cached background (links + nodes) is redrawn only when data, size or
// encoding change; each animation frame blits it and draws the wave over it.

import { waveAt } from "./animation.js";
import { BACKWARD, FORWARD_GLOW, fmt, paintPlane, rangeFor, signColor } from "./colors.js";
import { maxAbs, plane } from "./frames.js";
import { denseView } from "./layer_summary.js";
import { LINK_CAP, paintLinks, paintPlain } from "./link_painter.js";
import { paintStrip, portOf, stripLayout, unitAt, unitCentre } from "./layer_strip.js";
import { moveSelection } from "./network_keys.js";
import { syncStripButtons } from "./strip_buttons.js";

// a layer of more units than this (or than fit at 14 px each) is drawn as a strip
const STRIP_MIN_UNITS = 16;
const STRIP_UNIT_PX = 14;
// a wave over a gap of thousands of links shows its strongest links only
const WAVE_CAP = 64;

const TAU = Math.PI * 2;
// while playing, new data is drawn at most this often (ms): the background is the costly part.
// 45 ms: every 3rd animation frame at 60 Hz, 20 pictures a second (90 ms, 10 a second, kept the
// largest networks' pages at ~4 step frames painted a second under load, bench/browser.py).
const BG_PLAYING_MS = 45;

export function startNetworkView(store, canvas, bg) {
  // two stacked canvases: `bg` (links, nodes, labels — redrawn when data change, ≤ 11 Hz while
  // playing) under `canvas` (the moving wave and the phase title — cleared every frame)
  const ctx = canvas.getContext("2d");
  const bgx = bg.getContext("2d");
  let cssW = 0;
  let cssH = 0;
  let dpr = 1;
  let layout = null;
  let thumbs = []; // thumbs[column][unit] → canvas
  let thumbsFrom = [null, null]; // the grid / line frame the thumbnails were built from
  let bgDirty = true;
  let dirty = true;
  let phaseGrads = {}; // layer → weight_grad entry of the step being run phase by phase
  let lastPaintedStep = null;
  let hover = null;
  let lastKey = "";
  const stats = { paints: 0, ticks: 0, latencies: [], serverLatencies: [], started: performance.now() };

  const resize = () => {
    const rect = canvas.parentElement.getBoundingClientRect();
    dpr = window.devicePixelRatio || 1;
    cssW = Math.max(200, Math.floor(rect.width));
    cssH = Math.max(160, Math.floor(rect.height));
    canvas.style.width = `${cssW}px`;
    canvas.style.height = `${cssH}px`;
    canvas.width = Math.round(cssW * dpr);
    canvas.height = Math.round(cssH * dpr);
    bg.style.width = `${cssW}px`;
    bg.style.height = `${cssH}px`;
    bg.width = canvas.width;
    bg.height = canvas.height;
    layout = null;
    bgDirty = true;
  };
  new ResizeObserver(resize).observe(canvas.parentElement);
  resize();

  store.subscribe(["snapshot"], () => {
    layout = null;
    buttonsFor = undefined;
    thumbs = [];
    thumbsFrom = [null, null];
    phaseGrads = {};
    bgDirty = true;
  });
  store.subscribe(["presenter"], () => {
    layout = null;
    bgDirty = true;
  });
  store.subscribe(["stepFrame", "linkMode", "scaleMode", "selection", "probeFrame", "padInput"], () => {
    bgDirty = true;
  });
  store.subscribe(["gridFrame", "lineFrame"], (s, keys) => {
    thumbsFrom = [keys.includes("gridFrame") ? s.gridFrame : null,
      keys.includes("lineFrame") ? s.lineFrame : null];
    buildThumbs(...thumbsFrom);
    bgDirty = true;
  });
  store.subscribe(["phaseFrame"], (s) => {
    const f = s.phaseFrame;
    if (!f) return;
    const p = f.header.phase;
    if (p.index === 1) phaseGrads = {};
    if (p.kind === "backward" && f.arrays.weight_grad) phaseGrads[p.layer] = f.arrays.weight_grad;
    bgDirty = true;
  });
  store.subscribe(["anim"], () => {
    bgDirty = true;
  });

  // ---------------------------------------------------------------- model helpers
  // the dense network of the snapshot as columns (layer_summary.js denseView: sizes, dense
  // layers, offset of the first dense layer after a flatten); null for a CNN or an RNN
  // (conv_view.js, rnn_view.js). Column c ≥ 1 is the engine's layer c − 1 + offset, link gap k
  // the engine's layer k + offset: every array name and selection uses the engine's index.
  let viewOf = null;
  let view = null;
  function net() {
    const snap = store.get("snapshot");
    const network = snap ? snap.network : null;
    if (network !== viewOf) {
      viewOf = network;
      view = denseView(network);
    }
    return view;
  }
  const off = () => (view ? view.offset : 0);
  // engine layers (a leading flatten included): the phase plan's length
  const engineLayers = (n) => (n ? n.offset + n.layers.length : 0);

  function activationOf(col) {
    const n = net();
    if (!n || col === 0) return "input";
    const layer = n.layers[col - 1];
    return layer ? layer.activation : n.output_activation;
  }

  // expanded wide layers (by column), kept while the network keeps its shape
  const expanded = new Set();
  let expandedFor = "";

  const WHAT = {
    forward: "a = f(x·W + b), signal w·a flows right",
    loss: "compare the output with the target",
    backward: "δ = ∂L/∂z flows left, ∂L/∂w = a·δ",
    update: "W ← W + ΔW (ΔW from the optimiser)",
  };

  function headingText(c, n, cols, short = false) {
    if (c === 0) return [short ? "In" : "Input", ""];
    const act = c === cols - 1 ? n.output_activation : n.layers[c - 1].activation;
    // numbered as the engine numbers its layers (the phase titles say "layer 2" after a flatten)
    const number = c + n.offset;
    if (short) return [c === cols - 1 ? "Out" : `L${number}`, act];
    return [c === cols - 1 ? "Output" : `Layer ${number}`, act];
  }

  // the largest font size ≤ size (and ≥ min) at which every text is at most maxW wide
  function fitSize(texts, weight, size, min, maxW) {
    for (let s = size; s > min; s--) {
      ctx.font = `${weight} ${s}px system-ui, sans-serif`;
      if (Math.max(0, ...texts.map((t) => ctx.measureText(t).width)) <= maxW) return s;
    }
    return min;
  }

  function computeLayout() {
    const n = net();
    if (!n) return null;
    const sizes = n.sizes;
    const presenter = !!store.get("presenter");
    // a phone: the loss box goes under the picture, so that the columns get the whole width
    const narrow = cssW < 600;
    const font = presenter && !narrow ? 22 : 16;
    const titleSize = presenter && !narrow ? 32 : narrow ? 22 : 24;
    const right = narrow ? 26 : presenter ? 168 : 140;
    const cols0 = sizes.length;
    // wide layers (more units than fit at STRIP_UNIT_PX each) are strips (layer_strip.js)
    const key = sizes.join(",");
    if (key !== expandedFor) {
      expandedFor = key;
      expanded.clear();
    }
    const wide = sizes.map((u) => u > STRIP_MIN_UNITS && u * STRIP_UNIT_PX > cssH - 150);
    // room on the left for the input labels ("location_score" is long): the label ends about
    // 0.29 column widths right of `left`, less the bar and gap, so widen `left` when it would not fit
    ctx.font = `600 ${font}px system-ui, sans-serif`;
    const labelW = wide[0] ? 0
      : Math.max(0, ...featureLabels(store.get("snapshot")).map((t) => ctx.measureText(t).width));
    const base = presenter ? 58 : 56;
    const left = Math.max(base, labelW + 20 - 0.29 * ((cssW - base - right) / cols0));
    const colW0 = (cssW - left - right) / cols0;
    // presenter: the link/scale switches float over the top-right corner; when the phase
    // explanation does not fit beside the title it gets its own line (never cut short)
    const toolbar = presenter ? canvas.parentElement.parentElement.querySelector(".net-toolbar") : null;
    const reserve = toolbar && toolbar.offsetParent ? toolbar.offsetWidth + 8 : 0;
    ctx.font = `700 ${titleSize}px system-ui, sans-serif`;
    const titleW = ctx.measureText(`Backward · layer ${cols0 - 1}`).width;
    ctx.font = `${font}px system-ui, sans-serif`;
    const subW = ctx.measureText(`phase ${2 * cols0}/${2 * cols0} · ${WHAT.forward}`).width;
    const subBelow = presenter && 24 + titleW + subW > cssW - 8 - reserve;
    const titleBand = titleSize + 14 + (subBelow ? font + 8 : 0);
    // column headings on one line ("Layer 2 · tanh") when the columns are wide enough
    let headW = 0;
    ctx.font = `600 ${font}px system-ui, sans-serif`;
    for (let c = 0; c < cols0; c++) {
      const [t, act] = headingText(c, n, cols0);
      headW = Math.max(headW, ctx.measureText(act ? `${t} · ${act}` : t).width);
    }
    const headOneLine = headW + 10 <= colW0;
    // narrow columns (many layers): two lines, "L3" for "Layer 3", the activation smaller if
    // need be, so that neighbouring headings never run into each other
    const headings = Array.from({ length: cols0 }, (_, c) => headingText(c, n, cols0));
    ctx.font = `600 ${font}px system-ui, sans-serif`;
    const headShort = !headOneLine && Math.max(...headings.map(([t]) => ctx.measureText(t).width)) + 6 > colW0;
    const actSize = fitSize(headings.map(([, a]) => a), 400, font - 2, presenter ? 15 : 11, colW0 - 6);
    const top = titleBand + (headOneLine ? font + 12 : 2 * font + 8);
    ctx.font = `600 ${font - 1}px system-ui, sans-serif`;
    const footOneLine = ctx.measureText("max|∂L/∂w| 0.000").width + 12 <= colW0;
    // too narrow for "max|w|" under every layer: the label once, the values under the layers
    ctx.font = `${font - 2}px system-ui, sans-serif`;
    const footShared = !footOneLine && ctx.measureText("max|∂L/∂w|").width + 8 > colW0;
    const lossH = font * 4.4;
    const bottom = (footOneLine ? font + 16 : 2 * font + 12) + (narrow ? lossH + 8 : 0);
    const cols = sizes.length;
    const colW = (cssW - left - right) / cols;
    const availH = cssH - top - bottom;
    const maxUnits = Math.max(1, ...sizes.filter((_, c) => !wide[c]));
    const rowH = availH / maxUnits;
    const node = Math.max(12, Math.min(rowH * (presenter ? 0.8 : 0.74), colW * 0.42, presenter ? 96 : 84));
    const bar = Math.max(4, Math.round(node * 0.12));
    // a strip leaves room under it for its "128 units" label and its expand button
    const stripFoot = font + 48;
    const snap = store.get("snapshot");
    const imageShape = snap && snap.data.dataset.family === "image" ? snap.data.dataset.sample_shape : null;
    const columns = sizes.map((units, c) => {
      const x = left + (c + 0.5) * colW;
      if (wide[c]) {
        const strip = stripLayout(x, units, top, availH - stripFoot, Math.min(colW * (narrow ? 0.7 : 0.5), 150),
          !expanded.has(c), c === 0 ? imageShape : null);
        const nodes = Array.from({ length: units }, (_, i) => unitCentre(strip, i));
        return { x, units, spacing: strip.cell, nodes, strip, ports: strip.ports, xIn: strip.xIn,
          xOut: strip.xOut, y0: strip.y0, y1: strip.y0 + strip.h };
      }
      const spacing = Math.min(availH / units, node * 2.1 + 24);
      const y0 = top + availH / 2 - ((units - 1) * spacing) / 2;
      const nodes = [];
      for (let i = 0; i < units; i++) nodes.push({ x, y: y0 + i * spacing });
      const ports = nodes.map((p, i) => ({ y: p.y, units: [i] }));
      return { x, units, spacing, nodes, strip: null, ports, xIn: x - node / 2 - bar, xOut: x + node / 2 + bar,
        y0: nodes[0].y, y1: nodes[units - 1].y };
    });
    const textRoom = Math.min(...columns.filter((c) => !c.strip).map((c) => c.spacing - node));
    // the strips' captions ("128 units"), one size for all, as large as the columns allow
    const captionSize = fitSize(columns.flatMap((col, c) => (col.strip ? [stripCaption(c, col.units)] : [])),
      600, font, 10, colW - 8);
    const showNumbers = textRoom >= font * 1.15 && colW >= font * 5;
    ctx.font = `600 ${font}px system-ui, sans-serif`;
    const boxW = Math.max(ctx.measureText("Loss · MSE").width, ctx.measureText("sample 0.0000").width) + 18;
    const last = columns[cols - 1];
    const lossX = (last.strip ? last.xOut : last.x + node / 2 + bar) + 28;
    const lossBox = narrow
      ? { x: cssW - boxW - 6, y: cssH - lossH - 4, w: boxW, h: lossH }
      : { x: lossX, y: top + availH / 2 - lossH / 2, w: Math.min(boxW, cssW - lossX - 4), h: lossH };
    return { sizes, cols, colW, top, bottom, left, right, node, bar, font, columns, showNumbers,
      lossBox, presenter, narrow, titleSize, subBelow, reserve, headOneLine, footOneLine, headShort, actSize,
      footShared, stripFoot, captionSize, gaps: [] };
  }

  // the traced sample's arrays come from the drawing pad's probe while a drawing is shown
  // (image data, draw_pad.js), like the CNN picture's; everything else from the step frame
  function arr(name) {
    const probe = store.get("padInput") && store.get("probeFrame");
    const f = probe && name.startsWith("sample.") ? probe : store.get("stepFrame");
    return f ? f.arrays[name] : undefined;
  }

  // Value on link (gap k, i → j) for the chosen encoding; `update` interpolates W − ΔW → W.
  function linkValues(gap, mode, updateT) {
    const k = gap + off(); // the engine's layer
    const W = arr(`weight.${k}`);
    if (!W) return null;
    if (mode === "gradients") {
      const g = (store.get("anim") || {}).mode === "phase" && phaseGrads[k] ? phaseGrads[k] : arr(`weight_grad.${k}`);
      return g ? g.data : null;
    }
    const U = arr(`weight_update.${k}`);
    if (U && updateT < 1) {
      const out = new Float32Array(W.data.length);
      for (let i = 0; i < out.length; i++) out[i] = W.data[i] - U.data[i] * (1 - updateT);
      return out;
    }
    return W.data;
  }

  function linkScales(mode, values) {
    const per = values.map((v) => maxAbs(v));
    if (store.get("scaleMode") === "global") {
      const g = Math.max(0, ...per);
      return per.map(() => g);
    }
    return per;
  }

  // ---------------------------------------------------------------- thumbnails
  function buildThumbs(grid, line) {
    const n = net();
    if (!n) return;
    if (grid) {
      const R = grid.header.resolution;
      const out = [];
      const inputs = grid.arrays.input;
      const cols = [inputs, ...n.layers.map((_, k) => grid.arrays[`activation.${k}`])];
      cols.forEach((entry, c) => {
        const list = [];
        // a strip's units are cells, not thumbnails: a 3×352 network's grid frame would
        // otherwise paint 1 059 thumbnails five times a second for nothing (built when expanded)
        const strip = layout && layout.columns[c] && layout.columns[c].strip;
        if (entry && !strip) {
          for (let i = 0; i < entry.shape[0]; i++) {
            const values = plane(entry, i);
            const cv = (thumbs[c] && thumbs[c][i] && thumbs[c][i].width === R)
              ? thumbs[c][i] : Object.assign(document.createElement("canvas"), { width: R, height: R });
            const g = cv.getContext("2d");
            const img = g.createImageData(R, R);
            const [centre, half] = rangeFor(activationOf(c), values);
            paintPlane(img, values, centre, half);
            g.putImageData(img, 0, 0);
            list.push(cv);
          }
        }
        out.push(list);
      });
      thumbs = out;
    } else if (line) {
      const out = [];
      const cols = [line.arrays.input, ...n.layers.map((_, k) => line.arrays[`activation.${k}`])];
      cols.forEach((entry, c) => {
        const list = [];
        if (entry) {
          const P = entry.shape[1];
          for (let i = 0; i < entry.shape[0]; i++) {
            const values = entry.data.subarray(i * P, (i + 1) * P);
            const cv = document.createElement("canvas");
            cv.width = 64;
            cv.height = 64;
            const g = cv.getContext("2d");
            g.fillStyle = "#fafafa";
            g.fillRect(0, 0, 64, 64);
            const [centre, half0] = rangeFor(activationOf(c), values);
            const half = half0 || 1;
            g.strokeStyle = "#999";
            g.beginPath();
            g.moveTo(0, 32);
            g.lineTo(64, 32);
            g.stroke();
            g.strokeStyle = "#111";
            g.lineWidth = 3;
            g.beginPath();
            for (let p = 0; p < P; p++) {
              const x = (p / (P - 1)) * 64;
              const y = 32 - ((values[p] - centre) / half) * 28;
              if (p === 0) g.moveTo(x, y);
              else g.lineTo(x, y);
            }
            g.stroke();
            list.push(cv);
          }
        }
        out.push(list);
      });
      thumbs = out;
    }
  }

  // ---------------------------------------------------------------- drawing
  // every label of the picture goes through put(): it draws the text and records its box, so
  // that the layout tests can check that no two labels collide (`textBoxes()` below)
  let boxes = [];
  let lastBoxes = [];
  function put(g, text, x, y) {
    if (!text) return;
    g.fillText(text, x, y);
    const w = g.measureText(text).width;
    const size = parseFloat(/(\d+(?:\.\d+)?)px/.exec(g.font)[1]);
    const x0 = g.textAlign === "center" ? x - w / 2 : g.textAlign === "right" ? x - w : x;
    boxes.push({ text: String(text), x0, x1: x0 + w, y0: y - 0.78 * size, y1: y + 0.22 * size });
  }

  function drawBackground(wave) {
    boxes = [];
    const L = layout;
    const g = bgx;
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.fillStyle = "#ffffff";
    g.fillRect(0, 0, cssW, cssH);
    const n = net();
    const frame = store.get("stepFrame");
    if (!n || !frame) {
      g.fillStyle = "#333";
      g.font = `${L ? L.font : 16}px system-ui, sans-serif`;
      g.fillText("Waiting for the server…", 20, 40);
      return;
    }
    const mode = store.get("linkMode") || "weights";
    const nLayers = n.layers.length + 0;
    const kCount = L.cols - 1;
    const values = [];
    for (let k = 0; k < kCount; k++) values.push(linkValues(k, mode, wave.updateT));
    const scales = linkScales(mode, values);
    const maxWidth = L.presenter ? 12 : 8;
    const phaseMode = (store.get("anim") || {}).mode === "phase";
    const sel = store.get("selection");

    // links, thickest last so strong links sit on top; the gaps next to a strip are painted on
    // their own layer (below), copied in here
    const fadedOf = (k) => mode === "gradients" && phaseMode && wave.gAlpha(k + off()) < 1 && !phaseGrads[k + off()];
    paintLargeGaps(g, values, scales, maxWidth, fadedOf, mode);
    g.lineCap = "round";
    for (let k = 0; k < kCount; k++) {
      const v = values[k];
      const from = L.columns[k];
      const to = L.columns[k + 1];
      const units = to.units;
      const faded = fadedOf(k);
      // (a gap next to a strip is on the link layer already)
      if (!from.strip && !to.strip) for (let i = 0; i < from.units; i++) {
        const a = from.nodes[i];
        for (let j = 0; j < units; j++) {
          const b = to.nodes[j];
          const val = v ? v[i * units + j] : 0;
          const t = scales[k] > 0 ? Math.min(1, Math.abs(val) / scales[k]) : 0;
          g.globalAlpha = faded ? 0.18 : 1;
          g.strokeStyle = v ? signColor(val, scales[k], 0.22) : "#ccc";
          g.lineWidth = v ? 0.6 + (maxWidth - 0.6) * t : 1;
          g.beginPath();
          g.moveTo(a.x + L.node / 2 + L.bar, a.y);
          g.lineTo(b.x - L.node / 2 - L.bar, b.y);
          g.stroke();
        }
      }
      g.globalAlpha = 1;
      // per-layer scale caption: makes a vanishing gradient readable as a number too
      const mx = (from.x + to.x) / 2;
      g.fillStyle = "#222";
      g.font = `${L.font - 2}px system-ui, sans-serif`;
      g.textAlign = "center";
      const label = mode === "gradients" ? "max|∂L/∂w|" : "max|w|";
      const value = v ? fmt(maxAbs(v), 2) : "—";
      if (L.footOneLine) {
        g.font = `600 ${L.font - 1}px system-ui, sans-serif`;
        put(g, `${label} ${value}`, mx, cssH - L.bottom + L.font + 4);
      } else if (L.footShared) {
        if (k === 0) {
          const first = L.columns[0].x + L.colW / 2;
          const last = L.columns[L.cols - 1].x - L.colW / 2;
          put(g, `${label} of each layer`, (first + last) / 2, cssH - L.bottom + L.font + 2);
        }
        g.font = `600 ${L.font - 1}px system-ui, sans-serif`;
        put(g, value, mx, cssH - L.bottom + 2 * L.font + 4);
      } else {
        put(g, label, mx, cssH - L.bottom + L.font + 2);
        g.font = `600 ${L.font - 1}px system-ui, sans-serif`;
        put(g, value, mx, cssH - L.bottom + 2 * L.font + 4);
      }
    }

    // selected link outline
    const selGap = sel && sel.type === "link" ? sel.layer - off() : -1;
    if (selGap >= 0 && selGap < kCount) {
      const a = L.columns[selGap].nodes[sel.source];
      const b = L.columns[selGap + 1].nodes[sel.target];
      if (a && b) {
        const [x0, y0, x1, y1] = linkEnds(selGap, sel.source, sel.target);
        g.strokeStyle = "#000";
        g.lineWidth = 3;
        g.setLineDash([2, 3]);
        g.beginPath();
        g.moveTo(x0, y0);
        g.lineTo(x1, y1);
        g.stroke();
        g.setLineDash([]);
      }
    }

    // output → loss
    const out = L.columns[L.cols - 1];
    g.strokeStyle = "#888";
    g.lineWidth = 1.5;
    g.setLineDash([4, 4]);
    for (const p of out.strip ? out.ports : out.nodes) {
      g.beginPath();
      g.moveTo(out.strip ? out.xOut : p.x + L.node / 2 + L.bar * 2 + 2, p.y);
      if (L.narrow) g.lineTo(L.lossBox.x + L.lossBox.w / 2, L.lossBox.y);
      else g.lineTo(L.lossBox.x, L.lossBox.y + L.lossBox.h / 2);
      g.stroke();
    }
    g.setLineDash([]);

    drawNodes(g, wave, nLayers);
    drawHeadings(g);
    drawLossBox(g, wave);
  }

  function neuronValues(col, kind) {
    // kind "a": activation (inputs: network inputs), "d": δ
    const k = col - 1 + off();
    if (kind === "a") return arr(col === 0 ? `sample.input.${off()}` : `sample.activation.${k}`);
    if (col === 0) return null;
    return arr(`sample.delta.${k}`);
  }

  // Links of a gap with a strip at one end or both (thousands of links): one segment per pair
  // of ports (a unit, or a collapsed strip's row of units), batched by link_painter.js. A
  // bundle between rows is drawn by the mean of its links (their net pull, signed) against the
  // gap's strongest bundle; its hover and click give its strongest link, the engine's value.
  // Many links share the room of a few: the more segments, the thinner the strongest.
  function gapSegments(gap) {
    const L = layout;
    if (L.gaps[gap]) return L.gaps[gap];
    const from = L.columns[gap];
    const to = L.columns[gap + 1];
    const n = from.ports.length * to.ports.length;
    const seg = { x0: new Float32Array(n), y0: new Float32Array(n), x1: new Float32Array(n),
      y1: new Float32Array(n), a: new Int32Array(n), b: new Int32Array(n), repI: null, repJ: null,
      bundled: from.ports.some((p) => p.units.length > 1) || to.ports.some((p) => p.units.length > 1) };
    let s = 0;
    from.ports.forEach((pa, a) => {
      to.ports.forEach((pb, b) => {
        seg.x0[s] = from.xOut;
        seg.y0[s] = pa.y;
        seg.x1[s] = to.xIn;
        seg.y1[s] = pb.y;
        seg.a[s] = a;
        seg.b[s] = b;
        s++;
      });
    });
    L.gaps[gap] = seg;
    return seg;
  }

  // The links of the gaps next to a strip (thousands) on a layer of their own, repainted when
  // the layout, the encoding or the fading change, and for new values at most every 250 ms while
  // playing (weights move little in a quarter second; the hover label and the inspector read
  // the newest frame). Every other redraw of the background copies the layer.
  const linkLayer = document.createElement("canvas");
  const lctx = linkLayer.getContext("2d");
  let linkState = { key: null, values: [], at: 0 };
  const LINK_REPAINT_MS = 250;
  function paintLargeGaps(g, values, scales, maxWidth, fadedOf, mode) {
    const L = layout;
    const large = [];
    for (let k = 0; k < L.cols - 1; k++) if (L.columns[k].strip || L.columns[k + 1].strip) large.push(k);
    if (!large.length) return;
    const key = [mode, store.get("scaleMode"), large.map(fadedOf).join(","), canvas.width, canvas.height].join("|");
    const fresh = linkState.layout === L && linkState.key === key;
    const same = fresh && large.every((k) => linkState.values[k] === values[k]);
    const now = performance.now();
    const throttled = fresh && store.get("playing") && now - linkState.at < LINK_REPAINT_MS;
    if (!same && !throttled) {
      if (linkLayer.width !== canvas.width || linkLayer.height !== canvas.height) {
        linkLayer.width = canvas.width;
        linkLayer.height = canvas.height;
      }
      lctx.setTransform(1, 0, 0, 1, 0, 0);
      lctx.clearRect(0, 0, linkLayer.width, linkLayer.height);
      lctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      for (const k of large) drawGapBundled(lctx, k, values[k], scales[k], maxWidth, fadedOf(k));
      linkState = { key, layout: L, values: values.slice(), at: now };
    }
    // only the box the links cross (a copy costs by its pixels)
    const x0 = Math.max(0, Math.floor((Math.min(...large.map((k) => L.columns[k].xOut)) - 8) * dpr));
    const x1 = Math.min(canvas.width, Math.ceil((Math.max(...large.map((k) => L.columns[k + 1].xIn)) + 8) * dpr));
    const y0 = Math.max(0, Math.floor((L.top - 8) * dpr));
    const y1 = Math.min(canvas.height, Math.ceil((cssH - L.bottom + 8) * dpr));
    if (x1 <= x0 || y1 <= y0) return;
    g.save();
    g.setTransform(1, 0, 0, 1, 0, 0);
    g.drawImage(linkLayer, x0, y0, x1 - x0, y1 - y0, x0, y0, x1 - x0, y1 - y0);
    g.restore();
  }

  function drawGapBundled(g, gap, v, linkScale, maxWidth, faded) {
    const seg = gapSegments(gap);
    const from = layout.columns[gap];
    const to = layout.columns[gap + 1];
    if (!v) {
      seg.repI = null;
      paintPlain(g, seg);
      return;
    }
    const shown = representatives(seg, gap, v);
    const scale = seg.bundled ? maxAbs(shown) : linkScale;
    const width = Math.max(1.5, Math.min(maxWidth, maxWidth * Math.sqrt(64 / shown.length)));
    // as many links as the gap has room for (one per ~150 px²), the strongest
    const area = (to.xIn - from.xOut) * Math.max(from.y1 - from.y0, to.y1 - to.y0);
    const cap = Math.max(150, Math.min(LINK_CAP, Math.round(area / 150)));
    paintLinks(g, seg, shown, scale, { maxWidth: width, alpha: faded ? 0.18 : 1, cap });
  }

  // Each segment's link (a bundle: its strongest) into seg.repI / repJ, and the value it is
  // drawn by; kept on `seg` for the hit test and the wave (which may come before a redraw)
  function representatives(seg, gap, v) {
    if (seg.repOf === v) return seg.shown;
    const from = layout.columns[gap];
    const to = layout.columns[gap + 1];
    const units = to.units;
    const n = seg.x0.length;
    const shown = new Float32Array(n);
    const repI = new Int32Array(n);
    const repJ = new Int32Array(n);
    for (let s = 0; s < n; s++) {
      const A = from.ports[seg.a[s]].units;
      const B = to.ports[seg.b[s]].units;
      let best = -1;
      let sum = 0;
      for (const i of A) {
        for (const j of B) {
          const val = v[i * units + j];
          const m = Math.abs(val);
          sum += val;
          if (m > best) {
            best = m;
            repI[s] = i;
            repJ[s] = j;
          }
        }
      }
      shown[s] = seg.bundled ? sum / (A.length * B.length) : v[repI[s] * units + repJ[s]];
    }
    Object.assign(seg, { repI, repJ, shown, repOf: v });
    return shown;
  }

  // a gap's segments with their links, for a hit test before the picture was redrawn: the
  // step frame's own values of the current encoding
  function segmentsWithLinks(gap) {
    const seg = gapSegments(gap);
    if (!seg.repI) {
      const v = linkValues(gap, store.get("linkMode") || "weights", 1);
      if (v) representatives(seg, gap, v);
    }
    return seg;
  }

  // what a strip's units are called under it: "128 units", "8×8 pixels"
  function stripCaption(c, units) {
    const snap = store.get("snapshot");
    const shape = snap && snap.data.dataset.family === "image" ? snap.data.dataset.sample_shape : null;
    if (c === 0 && shape && shape.length >= 2) return `${shape.slice(-2).join("×")} pixels`;
    return `${units} ${c === 0 ? "inputs" : "units"}`;
  }

  function drawStripColumn(g, c, col, wave) {
    const L = layout;
    const sel = store.get("selection");
    const aVals = neuronValues(c, "a");
    const aScale = barScale(c, "a");
    const aAlpha = c === 0 ? 1 : wave.aAlpha(c - 1 + off());
    const colorOf = (i) => (aVals && aAlpha > 0 ? signColor(aVals.data[i], aScale, 0.06) : "#eee");
    // δ beside a, once the backward pass has reached this layer (the input has none)
    const dVals = neuronValues(c, "d");
    const dAlpha = c === 0 ? 0 : wave.dAlpha(c - 1 + off());
    const dScale = barScale(c, "d");
    const deltaOf = dVals && dAlpha > 0.5 ? (i) => signColor(dVals.data[i], dScale, 0.06) : null;
    const selected = sel && sel.type === "neuron" && sel.col === c ? sel.index : null;
    paintStrip(g, col.strip, colorOf, selected, deltaOf, BACKWARD);
    const caption = stripCaption(c, col.units);
    g.font = `600 ${L.captionSize}px system-ui, sans-serif`;
    g.textAlign = "center";
    g.fillStyle = "#111";
    put(g, caption, col.x, col.strip.y0 + col.strip.h + L.font + 6);
  }

  function barScale(col, kind) {
    const act = activationOf(col);
    if (kind === "a" && (act === "tanh" || act === "sigmoid" || act === "softmax")) return 1;
    if (store.get("scaleMode") === "global") {
      let m = 0;
      for (let c = kind === "a" ? 0 : 1; c < layout.cols; c++) {
        const e = neuronValues(c, kind);
        if (e) m = Math.max(m, maxAbs(e.data));
      }
      return m || 1;
    }
    const e = neuronValues(col, kind);
    return (e && maxAbs(e.data)) || 1;
  }

  function drawBar(g, x, y, h, w, value, scale, alpha, outline) {
    g.fillStyle = "#f2f2f2";
    g.fillRect(x, y - h / 2, w, h);
    if (value !== undefined && alpha > 0) {
      const t = Math.min(1, Math.abs(value) / scale);
      g.globalAlpha = alpha;
      g.fillStyle = signColor(value, scale, 0.9);
      const len = (h / 2) * t;
      if (value >= 0) g.fillRect(x, y - len, w, len);
      else g.fillRect(x, y, w, len);
      g.globalAlpha = 1;
    }
    g.strokeStyle = outline;
    g.lineWidth = 1;
    g.strokeRect(x + 0.5, y - h / 2 + 0.5, w - 1, h - 1);
  }

  function drawNodes(g, wave) {
    const L = layout;
    const sel = store.get("selection");
    const half = L.node / 2;
    for (let c = 0; c < L.cols; c++) {
      const col = L.columns[c];
      if (col.strip) {
        drawStripColumn(g, c, col, wave);
        continue;
      }
      const aVals = neuronValues(c, "a");
      const dVals = neuronValues(c, "d");
      const aScale = barScale(c, "a");
      const dScale = dVals ? barScale(c, "d") : 1;
      const aAlpha = c === 0 ? 1 : wave.aAlpha(c - 1 + off());
      const dAlpha = c === 0 ? 0 : wave.dAlpha(c - 1 + off());
      for (let i = 0; i < col.units; i++) {
        const p = col.nodes[i];
        const th = thumbs[c] && thumbs[c][i];
        if (th) {
          g.imageSmoothingEnabled = true;
          g.drawImage(th, p.x - half, p.y - half, L.node, L.node);
        } else {
          const v = aVals ? aVals.data[i] : 0;
          g.fillStyle = aAlpha > 0 ? signColor(v, aScale, 0.1) : "#eee";
          g.fillRect(p.x - half, p.y - half, L.node, L.node);
        }
        const selected = sel && sel.type === "neuron" && sel.col === c && sel.index === i;
        g.strokeStyle = selected ? "#000" : "#555";
        g.lineWidth = selected ? 4 : 1.5;
        g.strokeRect(p.x - half, p.y - half, L.node, L.node);
        // activation bar (left) and δ bar (right, magenta frame)
        drawBar(g, p.x - half - L.bar - 2, p.y, L.node, L.bar, aVals ? aVals.data[i] : undefined,
          aScale, aAlpha, "#333");
        if (c > 0) {
          drawBar(g, p.x + half + 2, p.y, L.node, L.bar, dVals ? dVals.data[i] : undefined,
            dScale, dAlpha, BACKWARD);
        }
        if (L.showNumbers) {
          g.font = `${L.font - 1}px system-ui, sans-serif`;
          g.textAlign = "center";
          const y = p.y + half + L.font;
          const aText = aVals && aAlpha > 0.5 ? `a ${fmt(aVals.data[i], 3)}` : "";
          const dText = dVals && dAlpha > 0.5 ? `δ ${fmt(dVals.data[i], 2)}` : "";
          const twoLines = col.spacing - L.node >= L.font * 2.3;
          if (twoLines || !dText) {
            g.fillStyle = "#111";
            put(g, aText, p.x, y);
            if (dText) {
              g.fillStyle = BACKWARD;
              put(g, dText, p.x, y + L.font + 1);
            }
          } else {
            g.fillStyle = wave.kind === "forward" ? "#111" : BACKWARD;
            put(g, wave.kind === "forward" ? aText : dText, p.x, y);
          }
        }
      }
      // input labels
      if (c === 0) {
        const snap = store.get("snapshot");
        const names = featureLabels(snap);
        g.font = `600 ${L.font}px system-ui, sans-serif`;
        g.textAlign = "right";
        g.fillStyle = "#111";
        col.nodes.forEach((p, i) => put(g, names[i] || `x${i + 1}`, p.x - half - L.bar - 8,
          p.y + L.font / 3));
      }
    }
  }

  function featureLabels(snap) {
    if (!snap) return [];
    const feats = snap.data.features || [];
    const map = { x1: "X₁", x2: "X₂", x1_sq: "X₁²", x2_sq: "X₂²", x1_x2: "X₁X₂",
      sin_x1: "sin X₁", sin_x2: "sin X₂" };
    if (snap.data.dataset && snap.data.dataset.plane) return feats.map((f) => map[f] || f);
    return snap.data.input_labels || snap.data.input_names || feats;
  }

  function drawHeadings(g) {
    const L = layout;
    const n = net();
    g.textAlign = "center";
    g.fillStyle = "#222";
    for (let c = 0; c < L.cols; c++) {
      const x = L.columns[c].x;
      const [title, act] = headingText(c, n, L.cols, L.headShort);
      g.font = `600 ${L.font}px system-ui, sans-serif`;
      if (L.headOneLine) {
        put(g, act ? `${title} · ${act}` : title, x, L.top - 10);
        continue;
      }
      put(g, title, x, L.top - L.font - 6);
      g.font = `${L.actSize}px system-ui, sans-serif`;
      put(g, act, x, L.top - 6);
    }
  }

  function drawLossBox(g, wave) {
    const L = layout;
    const b = L.lossBox;
    const f = store.get("stepFrame");
    const s = f && f.header.sample;
    const hot = wave.kind === "loss";
    g.fillStyle = hot ? "#fff4cc" : "#f7f7f7";
    g.strokeStyle = hot ? "#000" : "#666";
    g.lineWidth = hot ? 3 : 1.5;
    g.fillRect(b.x, b.y, b.w, b.h);
    g.strokeRect(b.x, b.y, b.w, b.h);
    g.textAlign = "left";
    g.fillStyle = "#111";
    g.font = `600 ${L.font}px system-ui, sans-serif`;
    const snap = store.get("snapshot");
    put(g, `Loss · ${snap ? snap.network.loss.toUpperCase() : ""}`, b.x + 8, b.y + L.font + 4);
    g.font = `${L.font - 1}px system-ui, sans-serif`;
    const showLoss = wave.kind === null || wave.index > engineLayers(net());
    put(g, `sample ${s && showLoss ? fmt(s.loss, 3) : "…"}`, b.x + 8, b.y + 2 * L.font + 10);
    put(g, `batch ${f && showLoss ? fmt(f.header.loss, 3) : "…"}`, b.x + 8, b.y + 3 * L.font + 14);
  }

  // where link (gap k, i → j) is drawn: from the unit (or its strip row) to the target's
  function linkEnds(k, i, j) {
    const a = layout.columns[k];
    const b = layout.columns[k + 1];
    const ya = a.strip ? a.ports[portOf(a.strip, i)].y : a.nodes[i].y;
    const yb = b.strip ? b.ports[portOf(b.strip, j)].y : b.nodes[j].y;
    return [a.xOut, ya, b.xIn, yb];
  }

  // The links a wave crosses in gap k, with their magnitude 0 … 1 (of the largest): every link
  // of a small gap; of a gap with a strip, the WAVE_CAP strongest segments (cached while the
  // arrays `cacheKey` names stay the same objects).
  let waveCache = { key: null, links: [] };
  function waveLinks(gap, magOf, cacheKey) {
    const L = layout;
    const from = L.columns[gap];
    const to = L.columns[gap + 1];
    if (!from.strip && !to.strip) {
      const links = [];
      let m = 0;
      for (let i = 0; i < from.units; i++) {
        for (let j = 0; j < to.units; j++) {
          const v = magOf(i, j);
          if (v > m) m = v;
          links.push([...linkEnds(gap, i, j), v]);
        }
      }
      for (const l of links) l[4] = m > 0 ? l[4] / m : 0;
      return links;
    }
    const seg = segmentsWithLinks(gap);
    if (!seg.repI) return [];
    const same = waveCache.key && waveCache.layout === L && cacheKey.every((x, i) => x === waveCache.key[i]);
    if (same) return waveCache.links;
    const n = seg.x0.length;
    const mags = new Float32Array(n);
    let m = 0;
    for (let s = 0; s < n; s++) {
      mags[s] = magOf(seg.repI[s], seg.repJ[s]);
      if (mags[s] > m) m = mags[s];
    }
    const order = Array.from(mags.keys()).sort((p, q) => mags[q] - mags[p]).slice(0, WAVE_CAP);
    const links = order.reverse().map((s) => [seg.x0[s], seg.y0[s], seg.x1[s], seg.y1[s], m > 0 ? mags[s] / m : 0]);
    waveCache = { key: cacheKey, layout: L, links };
    return links;
  }

  function drawWave(g, wave, now) {
    if (!wave.kind || !layout) return;
    const L = layout;
    const k = wave.layer; // the engine's layer; its links are gap k − offset (none for a flatten)
    const gap = k === null || k === undefined ? -1 : k - off();
    if (wave.kind === "forward") {
      const W = arr(`weight.${k}`);
      const X = arr(`sample.input.${k}`);
      if (!W || !X || gap < 0) return;
      const units = L.columns[gap + 1].units;
      // presentation only: the signal w·a
      const links = waveLinks(gap, (i, j) => Math.abs(W.data[i * units + j] * X.data[i]),
        ["f", k, W, X]);
      const t = wave.t;
      for (const [x0, y0, x1, y1, mag] of links) {
        {
          g.strokeStyle = `rgba(255, 190, 0, ${(0.15 + 0.7 * mag) * (1 - 0.4 * t)})`;
          g.lineWidth = 1 + 5 * mag;
          g.beginPath();
          g.moveTo(x0, y0);
          g.lineTo(x0 + (x1 - x0) * t, y0 + (y1 - y0) * t);
          g.stroke();
          const r = 2 + 5 * mag;
          g.fillStyle = FORWARD_GLOW;
          g.strokeStyle = "#222";
          g.lineWidth = 1;
          g.beginPath();
          g.arc(x0 + (x1 - x0) * t, y0 + (y1 - y0) * t, r, 0, TAU);
          g.fill();
          g.stroke();
        }
      }
    } else if (wave.kind === "loss") {
      const b = L.lossBox;
      const pulse = 4 + 8 * Math.sin(wave.t * Math.PI);
      g.strokeStyle = BACKWARD;
      g.lineWidth = 3;
      g.strokeRect(b.x - pulse, b.y - pulse, b.w + 2 * pulse, b.h + 2 * pulse);
    } else if (wave.kind === "backward") {
      const G = (store.get("anim") || {}).mode === "phase" && phaseGrads[k] ? phaseGrads[k] : arr(`weight_grad.${k}`);
      if (gap < 0) return;
      const units = L.columns[gap + 1].units;
      const t = wave.t;
      const links = waveLinks(gap, G ? (i, j) => Math.abs(G.data[i * units + j]) : () => 1,
        ["b", k, G]);
      g.setLineDash([7, 6]);
      g.lineDashOffset = (now / 25) % 13; // dashes crawl right → left
      for (const [x0, y0, x1, y1, m0] of links) {
        {
          const mag = G ? m0 : 0.3;
          const px = x1 + (x0 - x1) * t;
          const py = y1 + (y0 - y1) * t;
          g.strokeStyle = `rgba(194, 0, 122, ${0.25 + 0.65 * mag})`;
          g.lineWidth = 1.5 + 4 * mag;
          g.beginPath();
          g.moveTo(x1, y1);
          g.lineTo(px, py);
          g.stroke();
          // chevron pointing left at the wave front
          const ang = Math.atan2(y0 - y1, x0 - x1);
          const s = 5 + 5 * mag;
          g.save();
          g.setLineDash([]);
          g.translate(px, py);
          g.rotate(ang);
          g.fillStyle = BACKWARD;
          g.beginPath();
          g.moveTo(s, 0);
          g.lineTo(-s * 0.7, s * 0.8);
          g.lineTo(-s * 0.7, -s * 0.8);
          g.closePath();
          g.fill();
          g.restore();
        }
      }
      g.setLineDash([]);
    }
  }

  function drawPhaseTitle(g, wave) {
    const L = layout;
    const playing = store.get("playing");
    let title = wave.title;
    if (!title) title = playing ? "Training" : "Paused";
    const size = L.titleSize;
    g.font = `700 ${size}px system-ui, sans-serif`;
    g.textAlign = "left";
    g.fillStyle = wave.kind === "backward" ? BACKWARD : "#111";
    put(g, title, 12, size + 4);
    if (wave.kind) {
      const w = g.measureText(title).width;
      g.font = `${L.font}px system-ui, sans-serif`;
      g.fillStyle = "#333";
      const what = WHAT[wave.kind];
      let sub = `phase ${wave.index}/${wave.count} · ${what}`;
      if (L.subBelow) {
        put(g, sub, 12, size + 4 + L.font + 8);
        return;
      }
      if (24 + w + g.measureText(sub).width > cssW - 8 - L.reserve) sub = `phase ${wave.index}/${wave.count}`;
      put(g, sub, 24 + w, size + 4);
    }
  }

  // ---------------------------------------------------------------- loop
  // Three layers: `bg` (links, nodes, labels, phase title; redrawn when data, the phase segment
  // or the encoding change), a small `waveCanvas` covering only the links of the layer the wave
  // is crossing (cleared and redrawn every animation frame), and `canvas` on top (hover label,
  // pointer events). Software compositing copies a changed canvas whole on every frame, so the
  // per-frame canvas is kept as small as the wave: ~1/8 of the picture on a 6-hidden-layer net.
  const waveCanvas = document.createElement("canvas");
  waveCanvas.setAttribute("aria-hidden", "true");
  Object.assign(waveCanvas.style, { pointerEvents: "none", display: "none" });
  canvas.parentElement.appendChild(waveCanvas);
  const wctx = waveCanvas.getContext("2d");
  let waveRect = null; // {x, y, w, h} in CSS px, or null when hidden
  let waveDrawn = "";

  function waveBox(wave) {
    const L = layout;
    if (!L || !wave.kind) return null;
    const pad = 16;
    if (wave.kind === "forward" || wave.kind === "backward") {
      if (wave.layer === null || wave.layer === undefined) return null;
      const k = wave.layer - off(); // the gap whose links the wave crosses (none for a flatten)
      if (k < 0 || !L.columns[k + 1]) return null;
      const x0 = L.columns[k].xOut - pad;
      const x1 = L.columns[k + 1].xIn + pad;
      let y0 = Infinity;
      let y1 = -Infinity;
      for (const c of [L.columns[k], L.columns[k + 1]]) {
        y0 = Math.min(y0, c.y0);
        y1 = Math.max(y1, c.y1);
      }
      return { x: Math.floor(x0), y: Math.floor(y0 - pad), w: Math.ceil(x1 - x0), h: Math.ceil(y1 - y0 + 2 * pad) };
    }
    if (wave.kind === "loss") {
      const b = L.lossBox;
      return { x: Math.floor(b.x - pad), y: Math.floor(b.y - pad), w: Math.ceil(b.w + 2 * pad), h: Math.ceil(b.h + 2 * pad) };
    }
    return null;
  }

  function placeWave(box) {
    const same = box && waveRect && box.x === waveRect.x && box.y === waveRect.y
      && box.w === waveRect.w && box.h === waveRect.h;
    if (same) return;
    waveRect = box;
    if (!box) {
      waveCanvas.style.display = "none";
      return;
    }
    Object.assign(waveCanvas.style, { display: "block", left: `${box.x}px`, top: `${box.y}px`,
      width: `${box.w}px`, height: `${box.h}px` });
    waveCanvas.width = Math.round(box.w * dpr);
    waveCanvas.height = Math.round(box.h * dpr);
  }

  // the strips' expand / collapse buttons follow the layout they were placed for
  let buttonsFor;
  function syncStrips() {
    const L = layout;
    const n = net();
    const entries = [];
    if (L && n) {
      L.columns.forEach((col, c) => {
        if (!col.strip) return;
        const what = c === 0 ? "the input" : c === L.cols - 1 ? "the output" : `layer ${c + n.offset}`;
        entries.push({ col: c, name: `${what} (${stripCaption(c, col.units)})`, expanded: !col.strip.collapsed,
          x: col.x, y: col.strip.y0 + col.strip.h + L.font + 14 });
      });
    }
    syncStripButtons(canvas.parentElement, entries, (c) => {
      if (expanded.has(c)) expanded.delete(c);
      else expanded.add(c);
      layout = null;
      bgDirty = true;
    });
  }

  let lastBg = 0;
  let lastData = 0; // when new data was last drawn (the wave's segments redraw in between)
  let paintListener = null; // (frame, ms until new data can be drawn again) after a step frame is drawn
  let lastTick = 0;
  let tickMs = 1000 / 60; // the animation frame interval, smoothed
  // When new data can next be drawn, in ms from `at`: the first animation frame more than
  // BG_PLAYING_MS after new data was last drawn (at 60 Hz: the 6th, 100 ms on)
  function nextDrawIn(at) {
    const ticks = Math.floor(BG_PLAYING_MS / tickMs) + 1;
    return Math.max(0, lastData + ticks * tickMs - at);
  }
  function frame(now) {
    if (lastTick) tickMs += (Math.min(50, Math.max(4, now - lastTick)) - tickMs) * 0.1;
    lastTick = now;
    stats.ticks++;
    requestAnimationFrame(frame);
    if (!layout) {
      layout = computeLayout();
      if (layout && thumbsFrom[0]) buildThumbs(thumbsFrom[0], null); // strips may have changed
      bgDirty = true;
      waveDrawn = "";
    }
    if (buttonsFor !== layout) {
      buttonsFor = layout;
      syncStrips();
    }
    const n = net();
    const anim = store.get("anim");
    const wave = waveAt(anim, engineLayers(n), now);
    const cycling = !!(anim && anim.mode === "cycle");
    const animating = wave.moving || cycling;
    // the background depends on the wave through the revealed values (segment changes) and the
    // update interpolation; new data while playing is drawn at most every 90 ms. While playing,
    // a segment lasts ~0.1 s: its halves and the update's interpolation are not worth a redraw.
    const q = cycling ? (wave.kind === "update" ? Math.round(wave.t * 3) : 0)
      : wave.kind === "update" ? Math.round(wave.t * 20)
        : wave.kind === "forward" || wave.kind === "backward" ? Math.floor(wave.t * 2) : 0;
    const key = `${wave.index}:${q}:${wave.kind}:${wave.title}`;
    const bgDue = key !== lastKey || (bgDirty && (!store.get("playing") || now - lastData > BG_PLAYING_MS));
    if (bgDue) {
      lastKey = key;
      lastBg = now;
      if (bgDirty) lastData = now;
      if (layout) {
        drawBackground(wave);
        if (n) drawPhaseTitle(bgx, wave);
        lastBoxes = boxes;
      } else {
        bgx.setTransform(dpr, 0, 0, dpr, 0, 0);
        bgx.fillStyle = "#fff";
        bgx.fillRect(0, 0, cssW, cssH);
      }
      bgDirty = false;
      stats.paints++;
    }
    // the wave: redrawn every frame while it moves, once more when it comes to rest
    const wkey = layout && n && wave.kind ? `${wave.kind}:${wave.layer}:${wave.t}` : "";
    if (wkey !== waveDrawn || (animating && wkey)) {
      waveDrawn = wkey;
      const box = wkey ? waveBox(wave) : null;
      placeWave(box);
      if (box) {
        wctx.setTransform(1, 0, 0, 1, 0, 0);
        wctx.clearRect(0, 0, waveCanvas.width, waveCanvas.height);
        wctx.setTransform(dpr, 0, 0, dpr, -box.x * dpr, -box.y * dpr);
        drawWave(wctx, wave, now);
        if (!bgDue) stats.paints++;
      }
    }
    if (dirty) {
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      ctx.clearRect(0, 0, canvas.width, canvas.height);
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      if (hover && layout) drawHover(ctx);
      dirty = false;
    }
    const f = store.get("stepFrame");
    if (f && f !== lastPaintedStep && !bgDirty) {
      lastPaintedStep = f;
      const done = performance.now();
      if (paintListener) paintListener(f, store.get("playing") ? nextDrawIn(done) : 0);
      stats.latencies.push(done - f.receivedAt);
      if (typeof f.header.sent_at === "number") {
        stats.serverLatencies.push(Date.now() - f.header.sent_at * 1000);
      }
      if (stats.latencies.length > 2000) stats.latencies.splice(0, 1000);
      if (stats.serverLatencies.length > 2000) stats.serverLatencies.splice(0, 1000);
    }
  }
  requestAnimationFrame(frame);

  function drawHover(g) {
    const L = layout;
    g.font = `${L.font}px system-ui, sans-serif`;
    const text = hover.text;
    const w = g.measureText(text).width + 14;
    const x = Math.min(cssW - w - 4, hover.x + 12);
    const y = Math.max(4, hover.y - 34);
    g.fillStyle = "rgba(255,255,255,0.95)";
    g.strokeStyle = "#333";
    g.lineWidth = 1;
    g.fillRect(x, y, w, L.font + 12);
    g.strokeRect(x, y, w, L.font + 12);
    g.fillStyle = "#111";
    g.textAlign = "left";
    g.fillText(text, x + 7, y + L.font + 3);
  }

  // ---------------------------------------------------------------- hit testing
  function hitTest(x, y, reach = 7) {
    const L = layout;
    if (!L) return null;
    const half = L.node / 2 + (reach > 7 ? 4 : 0);
    const neuron = (c, i) => ({ type: "neuron", col: c, layer: c === 0 ? -1 : c - 1 + off(), index: i });
    for (let c = 0; c < L.cols; c++) {
      const col = L.columns[c];
      if (col.strip) {
        const i = unitAt(col.strip, x, y, reach > 7 ? 4 : 0);
        if (i !== null) return neuron(c, i);
        continue;
      }
      if (Math.abs(x - col.x) > half + L.bar * 2 + 4) continue;
      for (let i = 0; i < col.units; i++) {
        const p = col.nodes[i];
        if (Math.abs(y - p.y) <= half + 2) return neuron(c, i);
      }
    }
    let best = null;
    let bestD = reach;
    for (let k = 0; k < L.cols - 1; k++) {
      const from = L.columns[k];
      const to = L.columns[k + 1];
      if (x < from.x || x > to.x) continue;
      if (from.strip || to.strip) {
        const seg = segmentsWithLinks(k);
        if (!seg.repI) continue;
        for (let s = 0; s < seg.x0.length; s++) {
          const d = segDist(x, y, seg.x0[s], seg.y0[s], seg.x1[s], seg.y1[s]);
          if (d < bestD) {
            bestD = d;
            best = { type: "link", layer: k + off(), source: seg.repI[s], target: seg.repJ[s] };
            if (seg.bundled) best.bundle = from.ports[seg.a[s]].units.length * to.ports[seg.b[s]].units.length;
          }
        }
        continue;
      }
      for (let i = 0; i < from.units; i++) {
        for (let j = 0; j < to.units; j++) {
          const [x0, y0, x1, y1] = linkEnds(k, i, j);
          const d = segDist(x, y, x0, y0, x1, y1);
          if (d < bestD) {
            bestD = d;
            best = { type: "link", layer: k + off(), source: i, target: j };
          }
        }
      }
    }
    return best;
  }

  function segDist(px, py, x0, y0, x1, y1) {
    const dx = x1 - x0;
    const dy = y1 - y0;
    const len = dx * dx + dy * dy;
    let t = len ? ((px - x0) * dx + (py - y0) * dy) / len : 0;
    t = Math.max(0, Math.min(1, t));
    return Math.hypot(px - (x0 + t * dx), py - (y0 + t * dy));
  }

  function pos(event) {
    const r = canvas.getBoundingClientRect();
    return [event.clientX - r.left, event.clientY - r.top];
  }

  // a finger is less precise than a mouse: taps hit links within 16 px (the mouse: 7 px), and
  // a tap shows no hover label (the inspector below shows the numbers)
  let touch = false;
  canvas.addEventListener("pointerdown", (event) => {
    touch = event.pointerType === "touch" || event.pointerType === "pen";
  });
  canvas.addEventListener("click", (event) => {
    const [x, y] = pos(event);
    const hit = hitTest(x, y, touch ? 16 : 7);
    // a viewer following the teacher sees the teacher's selection (classroom.js); a bundle
    // selects its strongest link
    if (hit && !store.get("readOnly")) {
      const { bundle, ...selection } = hit;
      store.set({ selection });
    }
  });
  canvas.addEventListener("pointermove", (event) => {
    if (event.pointerType !== "mouse") return;
    const [x, y] = pos(event);
    const hit = hitTest(x, y);
    canvas.style.cursor = hit ? "pointer" : "default";
    const next = hit ? { x, y, text: describe(hit) } : null;
    if ((next && next.text) !== (hover && hover.text)) {
      hover = next;
      dirty = true;
    } else if (next) hover = next;
  });
  // the keyboard (network_keys.js): the arrows walk neurons and links while the picture has the
  // focus; they are not the training shortcuts (→ = step) there
  canvas.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const n = net();
    // network_keys.js walks the picture's columns: selections there count gaps from 0
    const shift = (sel, by) => (sel && (sel.type === "link" || (sel.type === "neuron" && sel.col > 0))
      ? { ...sel, layer: sel.layer + by } : sel);
    const next = n ? shift(moveSelection(shift(store.get("selection"), -n.offset), event.key, event.shiftKey,
      n.sizes), n.offset) : null;
    if (!next) return;
    event.preventDefault();
    event.stopPropagation();
    if (!store.get("readOnly")) store.set({ selection: next });
  });
  canvas.addEventListener("mouseleave", () => {
    hover = null;
    dirty = true;
  });

  function describe(hit) {
    if (hit.type === "link") {
      const W = arr(`weight.${hit.layer}`);
      const G = arr(`weight_grad.${hit.layer}`);
      const units = layout.columns[hit.layer - off() + 1].units;
      const idx = hit.source * units + hit.target;
      // a large layer travels quantised while playing (drawn only): its numbers when paused
      if ((W && W.approx) || (G && G.approx)) return "weight: its value when paused or in the inspector";
      const w = W ? fmt(W.data[idx]) : "—";
      const g = G ? fmt(G.data[idx]) : "—";
      const of = hit.bundle ? `   (strongest of ${hit.bundle} links, ${hit.source + 1}→${hit.target + 1})` : "";
      return `w = ${w}   ∂L/∂w = ${g}${of}`;
    }
    const a = neuronValues(hit.col, "a");
    const d = neuronValues(hit.col, "d");
    const parts = [];
    if (a) parts.push(`a = ${fmt(a.data[hit.index])}`);
    if (d) parts.push(`δ = ${fmt(d.data[hit.index])}`);
    return parts.join("   ") || "input";
  }

  // Public: positions for tests (centre of a link, of a node) and rendering statistics.
  return {
    stats,
    // fn(frame, readyInMs) after a new step frame is first drawn (paint_credit.js paces by it)
    onPainted(fn) {
      paintListener = fn;
    },
    // the labels of the last painted picture, in CSS px of the canvas: [{text, x0, y0, x1, y1}]
    textBoxes: () => lastBoxes.map((b) => ({ ...b })),
    // `layer`: the engine's layer index (a flatten before it counts)
    linkPoint(layer, source, target) {
      if (!layout) layout = computeLayout();
      if (!layout) return null;
      const [x0, y0, x1, y1] = linkEnds(layer - off(), source, target);
      const r = canvas.getBoundingClientRect();
      // a point 40 % along the link, away from the crowded ends
      return { x: r.left + x0 + (x1 - x0) * 0.4, y: r.top + y0 + (y1 - y0) * 0.4 };
    },
    nodePoint(col, index) {
      if (!layout) layout = computeLayout();
      if (!layout) return null;
      const p = layout.columns[col].nodes[index];
      const r = canvas.getBoundingClientRect();
      return { x: r.left + p.x, y: r.top + p.y };
    },
    // a wide layer's strip: {collapsed, units, x, y, w, h} in page px, or null (a column of nodes)
    strip(col) {
      if (!layout) layout = computeLayout();
      const c = layout && layout.columns[col];
      if (!c || !c.strip) return null;
      const r = canvas.getBoundingClientRect();
      return { collapsed: c.strip.collapsed, units: c.units, x: r.left + c.strip.x0, y: r.top + c.strip.y0,
        w: c.strip.w, h: c.strip.h };
    },
  };
}
