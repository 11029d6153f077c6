// The drawing pad (image data sets): sketch a digit or a shape with the mouse or a finger on a
// grid of the data set's input size (8×8), and watch it go forward. Each stroke sends `probe`
// {input: the picture, row-major, numbers in [0, 1]}; the server answers with a probe frame
// (kind 6: every layer's values and the class probabilities, forward only), which the CNN view
// and the bars under the pad draw while `padInput` holds the picture. "Traced sample" goes back
// to the step frames' sample; "Copy sample" starts a drawing from it.
//
// While training plays, the picture is sent again at most twice a second, so its probabilities
// follow the weights as they learn.

import { classBarsHtml } from "./class_bars.js";
import { heatmap } from "./heatmap.js";

const RESEND_MS = 500;

export function startDrawPad(store, root) {
  let pad = null; // {hm, values, shape}
  let drawing = false;
  let erase = false;
  let lastSent = 0;
  let inFlight = false;
  let again = false;

  function build(shape) {
    const [, H, W] = shape;
    const values = new Float32Array(H * W);
    const hm = heatmap({ rows: H, cols: W, label: `drawing pad, ${H}×${W}: draw with the mouse or a finger`, testid: "pad-canvas", className: "pad" });
    root.innerHTML = `<div class="pad-head"><h2 class="pad-title">Draw an input</h2>
      <span class="pad-tools">
        <button type="button" data-pad="clear" data-testid="pad-clear">Clear</button>
        <button type="button" data-pad="copy" data-testid="pad-copy" title="start from the traced sample's image">Copy sample</button>
        <button type="button" data-pad="off" data-testid="pad-off" title="show the traced sample again">Traced sample</button>
      </span></div>
      <p class="caption pad-caption" data-testid="pad-caption">Mouse or finger draws; right button or Shift erases.</p>`;
    const padBody = document.createElement("div");
    padBody.className = "pad-body";
    const bars = document.createElement("div");
    bars.className = "pad-bars";
    bars.dataset.testid = "pad-probs-wrap";
    padBody.append(hm.el, bars);
    root.querySelector(".pad-head").after(padBody);
    hm.canvas.style.touchAction = "none";
    hm.canvas.addEventListener("pointerdown", (event) => {
      if (locked()) return;
      event.preventDefault();
      hm.canvas.setPointerCapture(event.pointerId);
      drawing = true;
      erase = event.button === 2 || event.shiftKey;
      stroke(event);
    });
    hm.canvas.addEventListener("pointermove", (event) => {
      if (drawing) stroke(event);
    });
    const end = () => {
      if (!drawing) return;
      drawing = false;
      send(true);
    };
    hm.canvas.addEventListener("pointerup", end);
    hm.canvas.addEventListener("pointercancel", end);
    hm.canvas.addEventListener("contextmenu", (event) => event.preventDefault());
    root.querySelector("[data-pad=clear]").addEventListener("click", () => {
      values.fill(0);
      repaint();
      send(true);
    });
    root.querySelector("[data-pad=copy]").addEventListener("click", copySample);
    root.querySelector("[data-pad=off]").addEventListener("click", () => store.set({ padInput: null }));
    pad = { hm, values, shape, bars };
    repaint();
  }

  const locked = () => !!store.get("readOnly") || !!store.get("replaying");

  // a brush of one cell at full ink and a soft rim on its four neighbours
  function stroke(event) {
    const cell = pad.hm.cellAt(event);
    if (!cell) return;
    const [, H, W] = pad.shape;
    const [i, j] = cell;
    const ink = (r, c, v) => {
      if (r < 0 || r >= H || c < 0 || c >= W) return;
      const at = r * W + c;
      pad.values[at] = erase ? Math.min(pad.values[at], 1 - v) : Math.max(pad.values[at], v);
    };
    ink(i, j, 1);
    for (const [di, dj] of [[-1, 0], [1, 0], [0, -1], [0, 1]]) ink(i + di, j + dj, erase ? 1 : 0.35);
    repaint();
    send(false);
  }

  // the traced sample's image as a drawing (its values scaled into [0, 1])
  function copySample() {
    const f = store.get("stepFrame");
    const x = f && f.arrays["sample.input.0"];
    if (!x || !pad) return;
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of x.data) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    const span = hi > lo ? hi - lo : 1;
    for (let i = 0; i < pad.values.length; i++) pad.values[i] = (x.data[i] - lo) / span;
    repaint();
    send(true);
  }

  function repaint() {
    if (pad) pad.hm.paint(pad.values, 0, 1);
  }

  // probe the picture now (at the end of a stroke) or at most every RESEND_MS (while drawing)
  function send(now) {
    if (!pad || locked()) return;
    if (!now && performance.now() - lastSent < 120) return;
    if (inFlight) {
      again = true;
      return;
    }
    inFlight = true;
    lastSent = performance.now();
    const input = Array.from(pad.values, (v) => Math.round(v * 1000) / 1000);
    store.set({ padInput: input });
    store.command("probe", { input })
      .catch((err) => store.set({ lastError: err.reply || { message: String(err) } }))
      .finally(() => {
        inFlight = false;
        if (again) {
          again = false;
          send(true);
        }
      });
  }

  function renderBars() {
    if (!pad) return;
    const f = store.get("probeFrame");
    const on = !!store.get("padInput") && !!f;
    root.classList.toggle("probing", on);
    pad.bars.innerHTML = on
      ? `<p class="bars-who">The network's answer to your drawing (step ${f.step}):</p>${classBarsHtml({ output: f.header.output,
        names: f.header.class_names, predicted: f.header.predicted, testid: "pad-probs" })}`
      : `<p class="hint">Draw to see the network's answer; the network picture then shows your drawing going forward.</p>`;
  }

  store.subscribe(["probeFrame", "padInput"], renderBars);
  // training changes the weights: the drawing's answer follows, twice a second at most
  store.subscribe(["stepFrame"], (s) => {
    if (pad && s.padInput && !drawing && performance.now() - lastSent > RESEND_MS) send(true);
  });

  return {
    show(snap) {
      const shape = snap.data.dataset.sample_shape;
      if (!pad || JSON.stringify(pad.shape) !== JSON.stringify(shape)) build(shape);
      renderBars();
    },
    hide() {
      pad = null;
      root.innerHTML = "";
    },
  };
}
