// The data panel: the network's output over the input plane (decision boundary or regression
// surface, from the grid frame's last layer) with the train and test points; the output curve for
// one-input sets (line frame); a data scatter for other sets. Clicking a point traces it.

import { CLASS_COLORS, DIVERGING_LUT, NEG, POS, fmt, rangeFor, signColor } from "./colors.js";
import { plane } from "./frames.js";

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
  store.subscribe(["snapshot", "gridFrame", "lineFrame", "selected", "presenter"], requestDraw);
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
        const x = f.sx(xOf(part.x[i], part.y[i]));
        const y = f.sy(yOf(part.x[i], part.y[i]));
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
      const x = f.sx(xOf(part.x[sel.sample], part.y[sel.sample]));
      const y = f.sy(yOf(part.x[sel.sample], part.y[sel.sample]));
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
      const out = grid.arrays[`L.${L}`];
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
    const labels = data.input_labels || ["X₁", "X₂"];
    axes(m, f, [lo, lo], [hi, hi], labels[0], labels[1]);
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
      const out = line.arrays[`L.${L}`];
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

  function drawScatter(data) {
    // No per-point predictions come from the server for these sets (only the traced sample's):
    // show the data over its first two inputs (classification) or first input vs target.
    const m = margins();
    const cls = data.dataset.task === "classification";
    const d0 = cls && data.train.x[0].length >= 4 ? 2 : 0;
    const d1 = cls && data.train.x[0].length >= 4 ? 3 : 1;
    const xOf = (x) => x[d0];
    const yOf = cls ? (x) => x[d1] : (x, y) => y[0];
    const all = [...data.train.x.map((x, i) => [xOf(x, data.train.y[i]), yOf(x, data.train.y[i])]),
      ...data.test.x.map((x, i) => [xOf(x, data.test.y[i]), yOf(x, data.test.y[i])])];
    const pad = (a, b) => (b - a) * 0.06 || 1;
    let x0 = Math.min(...all.map((p) => p[0]));
    let x1 = Math.max(...all.map((p) => p[0]));
    let y0 = Math.min(...all.map((p) => p[1]));
    let y1 = Math.max(...all.map((p) => p[1]));
    const px = pad(x0, x1);
    const py = pad(y0, y1);
    x0 -= px;
    x1 += px;
    y0 -= py;
    y1 += py;
    const f = frameOf(m, [x0, y0], [x1, y1]);
    drawPoints(data, f, xOf, yOf);
    const names = data.input_labels || data.input_names || [];
    // the traced sample's prediction, the one number the server sends per sample
    const frame = store.get("stepFrame");
    const s = frame && frame.header.sample;
    const sel = store.get("selected");
    if (!cls && s && sel && data[sel.split] && data[sel.split].x[sel.sample]) {
      const xx = f.sx(xOf(data[sel.split].x[sel.sample]));
      const yy = f.sy(s.output[0]);
      ctx.fillStyle = "#111";
      ctx.beginPath();
      ctx.moveTo(xx, yy - 9);
      ctx.lineTo(xx + 9, yy);
      ctx.lineTo(xx, yy + 9);
      ctx.lineTo(xx - 9, yy);
      ctx.closePath();
      ctx.fill();
    }
    axes(m, f, [x0, y0], [x1, y1], names[d0] || "x", cls ? names[d1] || "" : data.target_name || "y");
    let text = cls ? `Data over ${names[d0]} and ${names[d1]}, coloured by class`
      : `Data: ${names[d0]} vs ${data.target_name}; ◆ = prediction for the traced sample`;
    if (s) {
      const out = s.output.map((v) => fmt(v, 3)).join(", ");
      const tgt = s.target.map((v) => fmt(v, 3)).join(", ");
      text += ` · traced: output ${out}, target ${tgt}`;
    }
    caption.textContent = text;
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
