// The picture of a convolutional network: one band per layer, forward from the top down.
//   input      the traced image (C maps)
//   conv2d     its feature maps a = f(z) (F maps), their δ = ∂L/∂z (F maps, shown as the
//              backward pass reaches the layer) and its kernels K (F×C small maps; ∂L/∂K in
//              the "∂L/∂w" link mode)
//   max/avgpool  its output, and ∂L/∂input: the gradient handed back, which for a max-pool
//              lands only on the pixel that won each window (ringed: the engine's routing)
//   flatten    the vector the dense layer reads
//   dense      the class probabilities with the class names (the last layer)
// Every number comes from the step frame (or the drawing pad's probe frame, forward only);
// the view only maps them to colours. Clicking a pixel or a kernel weight selects it; the
// inspector (layer_inspector.js) then shows it and the engine's chain rule for it.

import { waveAt } from "./animation.js";
import { classBarsHtml } from "./class_bars.js";
import { fmt, rangeFor } from "./colors.js";
import { KIND, maxAbs } from "./frames.js";
import { heatmap } from "./heatmap.js";
import { layerTitle } from "./layer_summary.js";

const FLAT_COLS = 16; // a flattened vector is drawn 16 cells wide

// numbers of plane c of a (C, H, W) array (a view, no copy)
function planeOf(entry, c) {
  if (!entry) return null;
  const [, h, w] = entry.shape;
  return entry.data.subarray(c * h * w, (c + 1) * h * w);
}

export function startConvView(store, root) {
  let bands = null; // per layer (index k + 1; 0 = input): {el, rows: {name: [heatmap…]}, …}
  let built = null; // the snapshot the bands were built for
  let key = "";

  const source = () => {
    // the drawing pad's probe while a drawing is shown, else the traced sample of the step frame
    const probe = store.get("probeFrame");
    return store.get("padInput") && probe ? probe : store.get("stepFrame");
  };
  const arr = (name) => {
    const f = source();
    return f ? f.arrays[name] : undefined;
  };
  const stepArr = (name) => {
    const f = store.get("stepFrame");
    return f ? f.arrays[name] : undefined;
  };

  function pickCell(layer, field, f) {
    return ([i, j]) => {
      if (!store.get("readOnly")) store.set({ selection: { type: "cell", layer, field, index: [f, i, j] } });
    };
  }

  function row(band, name, label, maps) {
    const el = document.createElement("div");
    el.className = `maps-row row-${name}`;
    const head = document.createElement("span");
    head.className = "row-label";
    head.innerHTML = label;
    const grid = document.createElement("div");
    grid.className = "maps";
    for (const m of maps) grid.append(m.el);
    el.append(head, grid);
    band.el.append(el);
    band.rows[name] = maps;
    band.rowEls[name] = el;
  }

  function band(title, kind, k) {
    const el = document.createElement("section");
    el.className = `band band-${kind}`;
    el.dataset.layer = String(k);
    el.setAttribute("aria-label", title);
    const h = document.createElement("h2");
    h.textContent = title;
    el.append(h);
    root.append(el);
    return { el, kind, rows: {}, rowEls: {}, k };
  }

  function build(snap) {
    root.innerHTML = "";
    bands = [];
    const layers = snap.network.layers;
    const shape = snap.data.dataset.sample_shape;
    const [C, H, W] = shape;
    const inBand = band(`Input · ${H}×${W}`, "input", -1);
    row(inBand, "input", "x", Array.from({ length: C }, (_, c) => heatmap({ rows: H, cols: W,
      label: `input image${C > 1 ? `, channel ${c + 1}` : ""}`, testid: `map-input-${c}`,
      describe: ([i, j]) => describeAt("sample.input.0", c, i, j, "x") })));
    bands.push(inBand);
    layers.forEach((layer, k) => {
      const b = band(layerTitle(layer, k), layer.kind, k);
      const out = layer.output_shape;
      if (layer.kind === "conv2d") {
        const [F, Ho, Wo] = out;
        const Cin = layer.input_shape[0];
        const maps = (field) => Array.from({ length: F }, (_, f) => heatmap({ rows: Ho, cols: Wo,
          label: `layer ${k + 1} feature map ${f + 1}: ${field === "delta" ? "δ" : "a"}`, testid: `map-${k}-${field}-${f}`,
          pick: pickCell(k, field, f),
          describe: ([i, j]) => describeAt(`sample.${field}.${k}`, f, i, j, field === "delta" ? "δ" : "a") }));
        row(b, "activation", "a", maps("activation"));
        row(b, "delta", "δ", maps("delta"));
        const kernels = [];
        for (let f = 0; f < F; f++) {
          for (let c = 0; c < Cin; c++) {
            kernels.push(heatmap({ rows: layer.kernel, cols: layer.kernel, className: "kernel",
              label: `layer ${k + 1} kernel of map ${f + 1}${Cin > 1 ? `, input channel ${c + 1}` : ""}: pick a weight`,
              testid: `kernel-${k}-${f}-${c}`,
              pick: ([i, j]) => {
                if (!store.get("readOnly")) store.set({ selection: { type: "param", layer: k, parameter: "kernel", index: [f, c, i, j] } });
              },
              describe: ([i, j]) => describeKernel(k, f, c, i, j) }));
          }
        }
        row(b, "kernel", "K", kernels);
      } else if (layer.kind === "maxpool" || layer.kind === "avgpool") {
        const [Cp, Ho, Wo] = out;
        const [, Hi, Wi] = layer.input_shape;
        row(b, "output", "out", Array.from({ length: Cp }, (_, c) => heatmap({ rows: Ho, cols: Wo,
          label: `layer ${k + 1} pooled map ${c + 1}`, testid: `map-${k}-output-${c}`, pick: pickCell(k, "output", c),
          describe: ([i, j]) => describeAt(`sample.output.${k}`, c, i, j, "out") })));
        row(b, "grad_input", "∂L/<br>∂in",
          Array.from({ length: Cp }, (_, c) => heatmap({ rows: Hi, cols: Wi,
            label: `layer ${k + 1} gradient handed back to map ${c + 1}`, testid: `map-${k}-grad_input-${c}`,
            pick: pickCell(k, "grad_input", c),
            describe: ([i, j]) => describeAt(`sample.grad_input.${k}`, c, i, j, "∂L/∂in") })));
      } else if (layer.kind === "flatten") {
        const n = out[0];
        const rows = Math.ceil(n / FLAT_COLS);
        const flat = (field, lab) => heatmap({ rows, cols: FLAT_COLS, className: "flat",
          label: `layer ${k + 1} flattened vector (${n}): ${lab}`, testid: `map-${k}-${field}`,
          describe: ([i, j]) => describeFlat(`sample.${field}.${k}`, i * FLAT_COLS + j, lab) });
        row(b, "output", "a", [flat("output", "a")]);
        row(b, "grad_output", "δ", [flat("grad_output", "∂L/∂a")]);
      } else if (k < layers.length - 1) {
        // a hidden dense layer: one strip of its units, a and δ
        const strip = (field, lab) => heatmap({ rows: 1, cols: layer.units, className: "flat strip",
          label: `layer ${k + 1}: ${layer.units} units, ${lab}`, testid: `map-${k}-${field}`,
          describe: ([, j]) => describeFlat(`sample.${field}.${k}`, j, lab) });
        row(b, "activation", "a", [strip("activation", "a")]);
        row(b, "delta", "δ", [strip("delta", "δ")]);
      } else {
        // dense: the output layer as class bars
        const holder = document.createElement("div");
        holder.className = "out-bars";
        b.el.append(holder);
        b.bars = holder;
      }
      bands.push(b);
    });
    built = snap;
    key = "";
    select(store.get("selection"));
  }

  function describeAt(name, c, i, j, sym) {
    const e = arr(name);
    if (!e) return "";
    const w = e.shape[2];
    return `${sym}[${c + 1}](${i + 1}, ${j + 1}) = ${fmt(planeOf(e, c)[i * w + j])}`;
  }
  function describeFlat(name, m, sym) {
    const e = arr(name);
    return e && m < e.data.length ? `${sym}[${m + 1}] = ${fmt(e.data[m])}` : "";
  }
  function describeKernel(k, f, c, i, j) {
    const K = stepArr(`kernel.${k}`);
    const G = stepArr(`kernel_grad.${k}`);
    if (!K) return "";
    const [, Cin, kh, kw] = K.shape;
    const idx = ((f * Cin + c) * kh + i) * kw + j;
    return `K = ${fmt(K.data[idx])}   ∂L/∂K = ${G ? fmt(G.data[idx]) : "—"}`;
  }

  // ---------------------------------------------------------------- painting
  function paintAll() {
    if (!bands) return;
    const snap = store.get("snapshot");
    const frame = source();
    const layers = snap.network.layers;
    const global = store.get("scaleMode") === "global";
    const gradients = store.get("linkMode") === "gradients";
    // the colour scale of the gradients: each layer's largest |value| (or every layer's, "global")
    const deltaScales = layers.map((l, k) => {
      const e = arr(l.kind === "conv2d" ? `sample.delta.${k}` : `sample.grad_input.${k}`);
      return maxAbs(e && e.data);
    });
    const deltaGlobal = Math.max(0, ...deltaScales);
    const x = arr("sample.input.0");
    const xHalf = maxAbs(x && x.data) || 1;
    bands[0].rows.input.forEach((m, c) => m.paint(planeOf(x, c), 0, xHalf));
    layers.forEach((layer, k) => {
      const b = bands[k + 1];
      if (layer.kind === "conv2d") {
        const a = arr(`sample.activation.${k}`);
        const [centre, half] = a ? rangeFor(layer.activation, a.data) : [0, 1];
        b.rows.activation.forEach((m, f) => m.paint(planeOf(a, f), centre, half));
        const d = frame && frame.kind !== KIND.PROBE ? arr(`sample.delta.${k}`) : null;
        const dh = (global ? deltaGlobal : deltaScales[k]) || 1;
        b.rows.delta.forEach((m, f) => m.paint(planeOf(d, f), 0, dh));
        const K = stepArr(gradients ? `kernel_grad.${k}` : `kernel.${k}`);
        const kh = maxAbs(K && K.data) || 1;
        const ks = layer.kernel;
        b.rows.kernel.forEach((m, idx) => {
          m.paint(K ? K.data.subarray(idx * ks * ks, (idx + 1) * ks * ks) : null, 0, kh);
        });
        b.rowEls.kernel.querySelector(".row-label").innerHTML = gradients ? "∂L/∂K" : "K";
      } else if (layer.kind === "maxpool" || layer.kind === "avgpool") {
        const o = arr(`sample.output.${k}`);
        const [centre, half] = o ? rangeFor("relu", o.data) : [0, 1];
        b.rows.output.forEach((m, c) => m.paint(planeOf(o, c), centre, half));
        const gi = frame && frame.kind !== KIND.PROBE ? arr(`sample.grad_input.${k}`) : null;
        const routing = arr(`sample.routing.${k}`);
        const gh = (global ? deltaGlobal : deltaScales[k]) || 1;
        const [, , Wi] = layer.input_shape;
        b.rows.grad_input.forEach((m, c) => {
          const won = routing ? Array.from(planeOf(routing, c), (v) => [Math.floor(v / Wi), v % Wi]) : null;
          m.paint(planeOf(gi, c), 0, gh, won);
        });
      } else if (layer.kind === "flatten") {
        const o = arr(`sample.output.${k}`);
        const g = frame && frame.kind !== KIND.PROBE ? arr(`sample.grad_output.${k}`) : null;
        b.rows.output[0].paint(padded(o), 0, maxAbs(o && o.data) || 1);
        b.rows.grad_output[0].paint(padded(g), 0, maxAbs(g && g.data) || 1);
      } else if (b.rows.activation && layer.kind === "dense") {
        const a = arr(`sample.activation.${k}`);
        const [centre, half] = a ? rangeFor(layer.activation, a.data) : [0, 1];
        b.rows.activation[0].paint(a && a.data, centre, half);
        const d = frame && frame.kind !== KIND.PROBE ? arr(`sample.delta.${k}`) : null;
        b.rows.delta[0].paint(d && d.data, 0, maxAbs(d && d.data) || 1);
      } else if (b.bars) {
        b.bars.innerHTML = barsHtml(k, layers, snap, frame);
      }
    });
  }

  function padded(entry) {
    if (!entry) return null;
    const n = entry.data.length;
    const out = new Float32Array(Math.ceil(n / FLAT_COLS) * FLAT_COLS);
    out.set(entry.data);
    return out;
  }

  function barsHtml(k, layers, snap, frame) {
    const last = k === layers.length - 1;
    const probe = frame && frame.kind === KIND.PROBE;
    const a = arr(`sample.activation.${k}`);
    if (!last || !frame) return a ? `<p class="hint">${layers[k].units} units</p>` : "";
    const h = frame.header;
    const output = probe ? h.output : h.sample && h.sample.output;
    const d = probe ? null : arr(`sample.delta.${k}`);
    return `<p class="bars-who">${probe ? "your drawing" : `sample #${h.sample.index} (${h.sample.split})`}</p>
      ${classBarsHtml({ output, names: (probe && h.class_names) || snap.data.class_names,
        predicted: probe ? h.predicted : h.sample.predicted, target: probe ? null : h.sample.target,
        testid: "conv-probs", deltas: d ? Array.from(d.data) : null })}`;
  }

  // ---------------------------------------------------------------- selection and animation
  function select(sel) {
    if (!bands) return;
    for (const b of bands) for (const maps of Object.values(b.rows)) for (const m of maps) m.select(null);
    if (!sel) return;
    const b = bands[sel.layer + 1];
    if (!b) return;
    if (sel.type === "param" && sel.parameter === "kernel" && b.rows.kernel) {
      const [f, c, i, j] = sel.index;
      const Cin = built.network.layers[sel.layer].input_shape[0];
      const m = b.rows.kernel[f * Cin + c];
      if (m) m.select([i, j]);
    } else if (sel.type === "cell" && b.rows[sel.field]) {
      const [f, i, j] = sel.index;
      const m = b.rows[sel.field][f];
      if (m) m.select([i, j]);
      // a max-pool output: ring the pixel of the layer before that won its window
      const layer = built.network.layers[sel.layer];
      const routing = stepArr(`sample.routing.${sel.layer}`);
      if (layer.kind === "maxpool" && sel.field === "output" && routing) {
        const Wi = layer.input_shape[2];
        const v = planeOf(routing, f)[i * layer.output_shape[2] + j];
        const before = bands[sel.layer];
        const target = before.rows.activation || before.rows.input;
        if (target && target[f]) target[f].select([Math.floor(v / Wi), v % Wi]);
        const gi = b.rows.grad_input && b.rows.grad_input[f];
        if (gi) gi.select([Math.floor(v / Wi), v % Wi]);
      }
    }
  }

  function animate(now) {
    requestAnimationFrame(animate);
    if (!bands || !built) return;
    const L = built.network.layers.length;
    const wave = waveAt(store.get("anim"), L, now);
    const k2 = `${wave.index}:${Math.round(wave.t * 4)}:${wave.kind}`;
    if (k2 === key) return;
    key = k2;
    bands.forEach((b, idx) => {
      const k = idx - 1;
      const fwd = k < 0 ? 1 : wave.aAlpha(k);
      const bwd = k < 0 ? 1 : wave.dAlpha(k);
      // the maps fade in as the wave reaches them (their labels stay readable)
      for (const [name, el] of Object.entries(b.rowEls)) {
        const backward = ["delta", "grad_input", "grad_output"].includes(name);
        el.querySelector(".maps").style.opacity = String(0.18 + 0.82 * (backward ? bwd : name === "kernel" ? 1 : fwd));
      }
      if (b.bars) b.bars.classList.toggle("waiting", fwd < 1);
      b.el.classList.toggle("now-forward", wave.kind === "forward" && wave.layer === k);
      b.el.classList.toggle("now-backward", wave.kind === "backward" && wave.layer === k);
    });
  }
  requestAnimationFrame(animate);

  // ---------------------------------------------------------------- wiring
  let paintQueued = false;
  function schedulePaint() {
    if (paintQueued) return;
    paintQueued = true;
    requestAnimationFrame(() => {
      paintQueued = false;
      if (!bands) return;
      paintAll();
      select(store.get("selection"));
    });
  }
  return {
    show(snap) {
      if (snap !== built) build(snap);
      schedulePaint();
    },
    hide() {
      bands = null;
      built = null;
      root.innerHTML = "";
    },
    repaint: schedulePaint,
    select,
  };
}
