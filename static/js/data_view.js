// The data panel: the network's output over the input plane (decision boundary or regression
// surface, from the grid frame's last layer) with the train and test points; the output curve for
// one-input sets (line frame); for other sets (points frame) predicted against actual
// (regression) or the data with the misclassified points marked. Clicking a point traces it.

import { CLASS_COLORS, DIVERGING_LUT, NEG, POS, fmt, rangeFor, signColor } from "./colors.js";
import { plane } from "./frames.js";
import { dataFamily } from "./layer_summary.js";

export function startDataView(store, canvas, caption) {
  const ctx = canvas.getContext("2d");
  const img = document.createElement("canvas");
  let cssW = 0;
  let cssH = 0;
  let dpr = 1;
  let pts = []; // screen positions for hit testing: {x, y, index, split}
  let pending = false;

  function resize() {
    const rect = canvas.parentElement.getBoundingClientRect();
    dpr = window.devicePixelRatio || 1;
    const side = Math.max(120, Math.floor(Math.min(rect.width, rect.height)));
    cssW = side;
    cssH = side;
    canvas.style.width = `${cssW}px`;
    canvas.style.height = `${cssH}px`;
    canvas.width = Math.round(cssW * dpr);
    canvas.height = Math.round(cssH * dpr);
    draw();
  }
  new ResizeObserver(resize).observe(canvas.parentElement);

  function requestDraw() {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      draw();
    });
  }
  store.subscribe(
    ["snapshot", "gridFrame", "lineFrame", "pointsFrame", "selected", "presenter"], requestDraw);
  store.subscribe(["stepFrame"], (s) => {
    const smp = s.stepFrame && s.stepFrame.header.sample;
    const prev = s.selected;
    if (smp && (!prev || prev.sample !== smp.index || prev.split !== smp.split)) {
      store.set({ selected: { sample: smp.index, split: smp.split } });
    } else if (!(s.snapshot && s.snapshot.data.dataset.plane)) requestDraw();
  });

  function info() {
    const snap = store.get("snapshot");
    return snap ? snap.data : null;
  }

  function margins() {
    const big = store.get("presenter");
    return { l: big ? 48 : 40, r: 8, t: 8, b: big ? 44 : 36, font: big ? 20 : 15 };
  }

  function draw() {
    if (!cssW) return;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, cssW, cssH);
    const data = info();
    pts = [];
    if (!data) return;
    const ds = data.dataset || {};
    // images and sequences: the drawing pad and the unrolled network show them (layers_view.js)
    const family = dataFamily(store.get("snapshot"));
    if (family === "image" || family === "sequence") return;
    if (ds.plane) drawPlane(data);
    else if (data.train.x.length && data.train.x[0].length === 1) drawLine(data);
    else drawScatter(data);
  }

  function frameOf(m, lo, hi) {
    const w = cssW - m.l - m.r;
    const h = cssH - m.t - m.b;
    return {
      w, h,
      sx: (v) => m.l + ((v - lo[0]) / (hi[0] - lo[0])) * w,
      sy: (v) => m.t + h - ((v - lo[1]) / (hi[1] - lo[1])) * h,
    };
  }

  function axes(m, f, lo, hi, xLabel, yLabel) {
    canvas.dataset.axes = `${xLabel}|${yLabel}`; // what the axes are called (tests read it)
    ctx.strokeStyle = "#333";
    ctx.lineWidth = 1;
    ctx.strokeRect(m.l, m.t, f.w, f.h);
    ctx.fillStyle = "#111";
    ctx.font = `${m.font - 1}px system-ui, sans-serif`;
    ctx.textAlign = "center";
    ctx.fillText(fmt(lo[0], 2), m.l + 10, m.t + f.h + m.font + 2);
    ctx.fillText(fmt(hi[0], 2), m.l + f.w - 12, m.t + f.h + m.font + 2);
    ctx.font = `600 ${m.font}px system-ui, sans-serif`;
    ctx.fillText(xLabel, m.l + f.w / 2, m.t + f.h + m.font + 4);
    ctx.save();
    ctx.translate(m.font, m.t + f.h / 2);
    ctx.rotate(-Math.PI / 2);
    ctx.fillText(yLabel, 0, 0);
    ctx.restore();
    ctx.font = `${m.font - 1}px system-ui, sans-serif`;
    ctx.textAlign = "right";
    ctx.fillText(fmt(hi[1], 2), m.l - 4, m.t + m.font);
    ctx.fillText(fmt(lo[1], 2), m.l - 4, m.t + f.h);
  }

  function pointColor(data, y) {
    if (data.dataset.task === "classification") return CLASS_COLORS[y % CLASS_COLORS.length];
    const v = Array.isArray(y) ? y[0] : y;
    return signColor(v, targetScale(data), 0.6);
  }

  function targetScale(data) {
    if (data._scale) return data._scale;
    let m = 0;
    for (const y of data.train.y) m = Math.max(m, Math.abs(Array.isArray(y) ? y[0] : y));
    data._scale = m || 1;
    return data._scale;
  }

  function drawPoints(data, f, xOf, yOf) {
    const sel = store.get("selected") || {};
    const big = store.get("presenter");
    const r = big ? 5 : 4;
    for (const split of ["train", "test"]) {
      const part = data[split];
      if (!part) continue;
      ctx.lineWidth = split === "train" ? 1.2 : 1.8;
      ctx.strokeStyle = split === "train" ? "#fff" : "#000";
      for (let i = 0; i < part.x.length; i++) {
        const x = f.sx(xOf(part.x[i], part.y[i], i, split));
        const y = f.sy(yOf(part.x[i], part.y[i], i, split));
        ctx.fillStyle = pointColor(data, part.y[i]);
        ctx.beginPath();
        ctx.arc(x, y, r, 0, Math.PI * 2);
        ctx.fill();
        ctx.stroke();
        pts.push({ x, y, index: i, split });
      }
    }
    const part = sel.split && data[sel.split];
    if (part && part.x[sel.sample]) {
      const x = f.sx(xOf(part.x[sel.sample], part.y[sel.sample], sel.sample, sel.split));
      const y = f.sy(yOf(part.x[sel.sample], part.y[sel.sample], sel.sample, sel.split));
      ctx.strokeStyle = "#000";
      ctx.lineWidth = 3;
      ctx.beginPath();
      ctx.arc(x, y, r + 6, 0, Math.PI * 2);
      ctx.stroke();
      ctx.strokeStyle = "#ffd000";
      ctx.lineWidth = 2;
      ctx.beginPath();
      ctx.arc(x, y, r + 9, 0, Math.PI * 2);
      ctx.stroke();
    }
  }

  function drawPlane(data) {
    const m = margins();
    const [lo, hi] = data.bounds || [-6, 6];
    const f = frameOf(m, [lo, lo], [hi, hi]);
    const grid = store.get("gridFrame");
    const snap = store.get("snapshot");
    if (grid) {
      const R = grid.header.resolution;
      const L = snap.network.layers.length - 1;
      const out = grid.arrays[`activation.${L}`];
      if (out) {
        img.width = R;
        img.height = R;
        const g = img.getContext("2d");
        const id = g.createImageData(R, R);
        const px = id.data;
        const nOut = out.shape[0];
        if (nOut === 1) {
          const values = plane(out, 0);
          let centre;
          let half;
          if (data.dataset.task === "regression") {
            centre = 0;
            half = targetScale(data);
          } else [centre, half] = rangeFor(snap.network.output_activation, values);
          for (let i = 0; i < values.length; i++) {
            let x = (values[i] - centre) / half;
            if (!(x === x)) x = 0;
            x = Math.max(-1, Math.min(1, x)) * 0.75; // lighter than the points
            const li = Math.round((x + 1) * 127.5) * 3;
            px[i * 4] = DIVERGING_LUT[li];
            px[i * 4 + 1] = DIVERGING_LUT[li + 1];
            px[i * 4 + 2] = DIVERGING_LUT[li + 2];
            px[i * 4 + 3] = 255;
          }
        } else {
          // multi-class: the arg-max class's colour, paler where the network is unsure
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
            const conf = snap.network.output_activation === "softmax" ? Math.max(0, Math.min(1, bv)) : 0.7;
            const t = 0.25 + 0.45 * conf;
            const c = rgb[best % rgb.length];
            px[i * 4] = 255 + (c[0] - 255) * t;
            px[i * 4 + 1] = 255 + (c[1] - 255) * t;
            px[i * 4 + 2] = 255 + (c[2] - 255) * t;
            px[i * 4 + 3] = 255;
          }
        }
        g.putImageData(id, 0, 0);
        ctx.imageSmoothingEnabled = true;
        ctx.drawImage(img, m.l, m.t, f.w, f.h);
      }
    }
    drawPoints(data, f, (x) => x[0], (x) => x[1]);
    // the plane is always the raw (x₁, x₂) of the data, whatever features feed the network (the
    // features lesson feeds X₁², X₂²): its axes are named by the catalog's x1 and x2
    const feats = (store.get("catalog") || {}).features || [];
    const labelOf = (name, fallback) => (feats.find((e) => e.name === name) || {}).label || fallback;
    axes(m, f, [lo, lo], [hi, hi], labelOf("x1", "x₁"), labelOf("x2", "x₂"));
    caption.textContent = data.dataset.task === "classification"
      ? "Output over the input plane · ● train (white rim) · ● test (black rim) · click a point to trace it"
      : "Predicted value over the plane · points coloured by target · click a point to trace it";
  }

  function drawLine(data) {
    const m = margins();
    const line = store.get("lineFrame");
    const all = [...data.train.x.map((x, i) => [x[0], data.train.y[i][0]]),
      ...data.test.x.map((x, i) => [x[0], data.test.y[i][0]])];
    let x0 = Math.min(...all.map((p) => p[0]));
    let x1 = Math.max(...all.map((p) => p[0]));
    let y0 = Math.min(...all.map((p) => p[1]));
    let y1 = Math.max(...all.map((p) => p[1]));
    const padY = (y1 - y0) * 0.15 || 1;
    y0 -= padY;
    y1 += padY;
    if (line) {
      x0 = Math.min(x0, line.header.range[0]);
      x1 = Math.max(x1, line.header.range[1]);
    }
    const f = frameOf(m, [x0, y0], [x1, y1]);
    ctx.save();
    ctx.beginPath();
    ctx.rect(m.l, m.t, f.w, f.h);
    ctx.clip();
    drawPoints(data, f, (x) => x[0], (x, y) => y[0]);
    if (line) {
      const snap = store.get("snapshot");
      const L = snap.network.layers.length - 1;
      const out = line.arrays.fit || line.arrays[`activation.${L}`]; // the output in the target's units
      const xs = line.arrays.x;
      if (out && xs) {
        ctx.strokeStyle = "#111";
        ctx.lineWidth = store.get("presenter") ? 5 : 3;
        ctx.beginPath();
        for (let p = 0; p < xs.data.length; p++) {
          const X = f.sx(xs.data[p]);
          const Y = f.sy(out.data[p]);
          if (p === 0) ctx.moveTo(X, Y);
          else ctx.lineTo(X, Y);
        }
        ctx.stroke();
      }
    }
    ctx.restore();
    const names = data.input_labels || data.input_names || ["x"];
    axes(m, f, [x0, y0], [x1, y1], names[0], data.target_name || "y");
    caption.textContent = "Network output (black curve) and the data · click a point to trace it";
  }

  // The network's outputs for each row of a split, from the latest points frame (or null).
  function predictions(split) {
    const frame = store.get("pointsFrame");
    const entry = frame && frame.arrays[`out.${split}`];
    return entry && entry.shape[0] === info()[split].x.length ? entry : null;
  }

  function predictedClass(entry, i, encoding) {
    const k = entry.shape[1];
    if (k === 1) return entry.data[i] > (encoding === "signed" ? 0 : 0.5) ? 1 : 0;
    let best = 0;
    for (let j = 1; j < k; j++) if (entry.data[i * k + j] > entry.data[i * k + best]) best = j;
    return best;
  }

  function drawScatter(data) {
    if (data.dataset.task === "classification") drawClasses(data);
    else drawPredictedVsActual(data);
  }

  // Regression without a plane (house prices, CSV): each row at (actual, predicted); the
  // diagonal is a perfect fit, so the distance from it is the error the loss counts.
  function drawPredictedVsActual(data) {
    const m = margins();
    const actual = (y) => (Array.isArray(y) ? y[0] : y);
    const preds = { train: predictions("train"), test: predictions("test") };
    const predicted = (split, i, y) => {
      const entry = preds[split];
      return entry ? entry.data[i * entry.shape[1]] : actual(y);
    };
    const values = [];
    for (const split of ["train", "test"]) {
      data[split].y.forEach((y, i) => values.push(actual(y), predicted(split, i, y)));
    }
    const finite = values.filter(Number.isFinite);
    let lo = Math.min(...finite);
    let hi = Math.max(...finite);
    const pad = (hi - lo) * 0.06 || 1;
    lo -= pad;
    hi += pad;
    const f = frameOf(m, [lo, lo], [hi, hi]);
    ctx.strokeStyle = "#777";
    ctx.setLineDash([6, 4]);
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    ctx.moveTo(f.sx(lo), f.sy(lo));
    ctx.lineTo(f.sx(hi), f.sy(hi));
    ctx.stroke();
    ctx.setLineDash([]);
    drawPoints(data, f, (x, y) => actual(y), (x, y, i, split) => predicted(split, i, y));
    const target = data.target_name || "y";
    axes(m, f, [lo, lo], [hi, hi], `actual ${target}`, `predicted ${target}`);
    caption.textContent = preds.train
      ? "Predicted against actual for every row · on the dashed diagonal = exact · click a point to trace it"
      : "Actual values (predictions arrive with the next evaluation)";
  }

  // Classification without a plane (iris, CSV): two inputs, fill = true class, a cross over the
  // rows the network currently gets wrong.
  function drawClasses(data) {
    const m = margins();
    const width = data.train.x[0].length;
    const d0 = width >= 4 ? 2 : 0;
    const d1 = width >= 4 ? 3 : Math.min(1, width - 1);
    const xOf = (x) => x[d0];
    const yOf = (x) => x[d1];
    const all = [...data.train.x, ...data.test.x];
    const pad = (a, b) => (b - a) * 0.06 || 1;
    let x0 = Math.min(...all.map(xOf));
    let x1 = Math.max(...all.map(xOf));
    let y0 = Math.min(...all.map(yOf));
    let y1 = Math.max(...all.map(yOf));
    const px = pad(x0, x1);
    const py = pad(y0, y1);
    x0 -= px;
    x1 += px;
    y0 -= py;
    y1 += py;
    const f = frameOf(m, [x0, y0], [x1, y1]);
    drawPoints(data, f, xOf, yOf);
    let wrong = 0;
    let total = 0;
    ctx.strokeStyle = "#c00000";
    ctx.lineWidth = 2.5;
    for (const split of ["train", "test"]) {
      const entry = predictions(split);
      if (!entry) continue;
      data[split].x.forEach((x, i) => {
        total += 1;
        if (predictedClass(entry, i, data.encoding) === data[split].y[i]) return;
        wrong += 1;
        const cx = f.sx(xOf(x));
        const cy = f.sy(yOf(x));
        ctx.beginPath();
        ctx.moveTo(cx - 7, cy - 7);
        ctx.lineTo(cx + 7, cy + 7);
        ctx.moveTo(cx + 7, cy - 7);
        ctx.lineTo(cx - 7, cy + 7);
        ctx.stroke();
      });
    }
    const names = data.input_labels || data.input_names || [];
    axes(m, f, [x0, y0], [x1, y1], names[d0] || "x", names[d1] || "");
    caption.textContent = total
      ? `Data over ${names[d0]} and ${names[d1]}, coloured by class · ✕ = misclassified now (${wrong} of ${total})`
      : `Data over ${names[d0]} and ${names[d1]}, coloured by class`;
  }

  canvas.addEventListener("click", (event) => {
    const r = canvas.getBoundingClientRect();
    const x = event.clientX - r.left;
    const y = event.clientY - r.top;
    let best = null;
    let bestD = 12;
    for (const p of pts) {
      const d = Math.hypot(p.x - x, p.y - y);
      if (d < bestD) {
        bestD = d;
        best = p;
      }
    }
    if (!best) return;
    store.command("select", { sample: best.index, split: best.split })
      .then(() => store.set({ selected: { sample: best.index, split: best.split } }))
      .catch((err) => store.set({ lastError: err.reply || { message: String(err) } }));
  });

  resize();
  return {
    // screen position of a data point (tests)
    pointAt(split, index) {
      const p = pts.find((q) => q.split === split && q.index === index);
      if (!p) return null;
      const r = canvas.getBoundingClientRect();
      return { x: r.left + p.x, y: r.top + p.y };
    },
    NEG,
    POS,
  };
}
