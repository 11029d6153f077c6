// The inspector: the selected link or neuron written out with the traced sample's numbers,
// the chain rule of ∂L/∂w from the server's `explanation`, the gradient of the latest step
// (step frame) and a finite-difference check. A weight or bias can be edited (`set_weight`).
//
// Testing hook: every number shown is also in a `data-value` attribute holding the exact value
// (the JS number decoded from the frame or the JSON message), with a `data-testid` naming it.

import { BACKWARD, fmt } from "./colors.js";
import { at2 } from "./frames.js";
import { explainFields, explainKeyOf, explanationFor, renderLayerSelection } from "./layer_inspector.js";
import { denseView } from "./layer_summary.js";

const EXPLAIN_HZ = 4;

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

// The number typed into "Set w" / "Set b", or null when it is none: empty, "-", "abc" (which a
// number input reports as badInput with an empty value), or beyond float range ("1e400").
export function parseNumber(text, badInput = false) {
  const s = String(text ?? "").trim();
  if (badInput || s === "" || !/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(s)) return null;
  const v = Number(s);
  return Number.isFinite(v) ? v : null;
}

// The terms w_m·δ_m of Σ w·δ worth showing when there is no room for all: the `room` largest in
// magnitude, in their order in the layer (m ascending); `rest` is how many are left out.
export function largestTerms(weights, deltas, room) {
  const order = weights.map((_, m) => m)
    .sort((a, b) => Math.abs(weights[b] * deltas[b]) - Math.abs(weights[a] * deltas[a]) || a - b);
  const shown = order.slice(0, room).sort((a, b) => a - b);
  return { shown, rest: weights.length - shown.length };
}

export function startInspector(store, root) {
  let inFlight = false;
  let lastKey = null;
  let timer = null;

  function frameArr(name) {
    const f = store.get("stepFrame");
    return f ? f.arrays[name] : undefined;
  }

  function num(v, testid, digits = 4, cls = "") {
    const shown = fmt(v, digits);
    const value = v === null || v === undefined ? "" : String(v);
    return `<span class="num ${cls}" data-testid="${testid}" data-value="${value}">${shown}</span>`;
  }

  function label(snap, col, i) {
    if (col === 0) {
      const feats = snap.data.features || [];
      const cat = store.get("catalog");
      const f = cat && cat.features ? cat.features.find((e) => e.name === feats[i]) : null;
      // custom (CSV) data: the column names come from an uploaded file — escape them
      return f ? f.label : escapeHtml((snap.data.input_labels || [])[i] || `x${i + 1}`);
    }
    // col: the engine's layer + 1; after a leading flatten its dense layers start at 2, and
    // "layer 1" (the flatten) hands on the input pixels
    const view = denseView(snap.network);
    const offset = view ? view.offset : 0;
    if (col <= offset) return label(snap, 0, i);
    const last = col === snap.network.layers.length;
    return last ? `output ${i + 1}` : `neuron ${i + 1} of layer ${col}`;
  }

  function explainKey(sel) {
    if (!sel) return null;
    if (sel.type === "param" || sel.type === "cell") return explainKeyOf(sel, store.get("snapshot"));
    if (sel.type === "link") return `${sel.layer}:${sel.source}:${sel.target}`;
    if (sel.type === "neuron" && sel.col > 0) return `${sel.layer}:b:${sel.index}`;
    return null;
  }

  function requestExplain() {
    const sel = store.get("selection");
    const key = explainKey(sel);
    if (!key || inFlight || store.get("diverged")) return;
    const snap = store.get("snapshot");
    if (!snap) return;
    inFlight = true;
    const typed = explainFields(sel, snap); // a kernel or recurrent weight (layer_inspector.js)
    const source = sel.type === "link" ? sel.source : null;
    const target = sel.type === "link" ? sel.target : sel.index;
    store
      .command("explain", typed || { layer: sel.layer, source, target, sample: null })
      .catch(() => {})
      .finally(() => {
        inFlight = false;
        // the selection moved on while this one was asked (arrow keys): ask for the new one
        if (explainKey(store.get("selection")) !== key) requestExplain();
      });
  }

  function schedule() {
    const playing = store.get("playing");
    if (playing && explainKey(store.get("selection"))) {
      if (!timer) timer = setInterval(requestExplain, 1000 / EXPLAIN_HZ);
    } else if (timer) {
      clearInterval(timer);
      timer = null;
    }
  }

  store.subscribe(["selection"], (s) => {
    const key = explainKey(s.selection);
    if (key !== lastKey) store.set({ explanation: null });
    lastKey = key;
    requestExplain();
    schedule();
    render();
  });
  store.subscribe(["playing"], schedule);
  store.subscribe(["stepFrame"], (s) => {
    // paused: each new state (step, set_weight, select) gets a fresh explanation
    if (!s.playing) requestExplain();
    scheduleRender();
  });
  store.subscribe(["explanation"], scheduleRender);
  store.subscribe(["presenter"], () => render());
  store.subscribe(["snapshot"], () => {
    store.set({ selection: null, explanation: null });
  });

  function currentExplanation(sel) {
    const e = store.get("explanation");
    if (!e || !sel) return null;
    if (sel.type === "param" || sel.type === "cell") return explanationFor(e, sel, store.get("snapshot")) ? e : null;
    const source = sel.type === "link" ? sel.source : null;
    const target = sel.type === "link" ? sel.target : sel.index;
    if (e.layer !== sel.layer || e.source !== source || e.target !== target) return null;
    return e;
  }

  let renderTimer = null;
  let lastRender = 0;
  // at most ~8 renders per second while frames stream in; at once when idle
  function scheduleRender() {
    const wait = 120 - (performance.now() - lastRender);
    if (wait <= 0) render();
    else if (!renderTimer) {
      renderTimer = setTimeout(() => {
        renderTimer = null;
        render();
      }, wait);
    }
  }

  function render() {
    lastRender = performance.now();
    const sel = store.get("selection");
    const snap = store.get("snapshot");
    const frame = store.get("stepFrame");
    if (!sel || !snap || !frame) {
      const typed = snap && !denseView(snap.network);
      (root.querySelector(".insp-body") || root).innerHTML = typed
        ? `<h2>Inspector</h2><p class="hint">Click a kernel or recurrent weight, a pixel of a feature map or a hidden state
        to see its numbers and the chain rule of its gradient, the sum the engine makes over positions or time steps.</p>`
        : `<h2>Inspector</h2><p class="hint">Click a link or a neuron in the network
        to see its numbers and the chain rule of its gradient. Click a data point to trace it.</p>`;
      renderEditor(null);
      return;
    }
    const sample = frame.header.sample || {};
    const who = `sample #${sample.index} (${sample.split})`;
    let html = "";
    if (sel.type === "param" || sel.type === "cell") html = renderLayerSelection(sel, snap, frame, currentExplanation(sel), who);
    else if (sel.type === "link") html = renderLink(sel, snap, frame, who);
    else if (sel.col === 0) html = renderInput(sel, snap, who);
    else html = renderNeuron(sel, snap, frame, who);
    const body = root.querySelector(".insp-body") || root;
    body.innerHTML = html;
    // a long sum has no control in it: the panel itself takes the focus, so keys scroll it
    if (sel.type === "param" || sel.type === "cell") root.setAttribute("tabindex", "0");
    else root.removeAttribute("tabindex");
    renderEditor(sel);
  }

  let editorFor = null;
  function renderEditor(sel) {
    const holder = root.querySelector(".insp-editor");
    if (!holder) return;
    const key = sel ? `${sel.type}:${sel.layer}:${sel.source}:${sel.target}:${sel.index}` : null;
    const focused = holder.contains(document.activeElement);
    if (key === editorFor && focused) return; // never overwrite what the user is typing
    editorFor = key;
    if (!sel || sel.col === 0 || (sel.type === "neuron" && sel.col === undefined) || sel.type === "param" || sel.type === "cell") {
      holder.innerHTML = "";
      return;
    }
    let value;
    if (sel.type === "link") value = at2(frameArr(`weight.${sel.layer}`), sel.source, sel.target);
    else {
      const b = frameArr(`bias.${sel.layer}`);
      value = b ? b.data[sel.index] : 0;
    }
    holder.innerHTML = editForm(value, sel.type === "link" ? "w" : "b");
    const form = holder.querySelector("form.edit");
    if (form) {
      form.querySelector("input").addEventListener("input", (event) => event.target.setCustomValidity(""));
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        const input = form.querySelector("input");
        const value = parseNumber(input.value, input.validity.badInput);
        if (value === null) {
          input.setCustomValidity("Type a finite number, e.g. 0.5 or -1.2e-3: the weight is unchanged.");
          input.reportValidity();
          return;
        }
        const source = sel.type === "link" ? sel.source : null;
        const target = sel.type === "link" ? sel.target : sel.index;
        store.command("set_weight", { layer: sel.layer, source, target, value })
          .catch((err) => store.set({ lastError: err.reply || { message: String(err) } }));
      });
    }
  }

  function renderInput(sel, snap, who) {
    const x = frameArr("sample.input.0");
    return `<h2>Input ${label(snap, 0, sel.index)}</h2>
      <p>Value fed to the network for ${who} (after features and standardisation):</p>
      <p class="big">x = ${num(x ? x.data[sel.index] : null, "insp-x")}</p>`;
  }

  function editForm(value, what) {
    // a text field (not type=number, whose browser check hides what was typed): parseNumber
    // decides, and says why it refused
    return `<form class="edit" data-testid="insp-edit" novalidate>
      <label>Set ${what} <input type="text" inputmode="decimal" autocomplete="off" spellcheck="false"
        value="${value}" aria-label="new value of ${what}" data-testid="insp-edit-input"></label>
      <button type="submit">Set</button></form>`;
  }

  function renderLink(sel, snap, frame, who) {
    const { layer, source, target } = sel;
    const W = frameArr(`weight.${layer}`);
    const gW = frameArr(`weight_grad.${layer}`);
    const gWd = frameArr(`weight_grad_data.${layer}`);
    const uW = frameArr(`weight_update.${layer}`);
    const w = at2(W, source, target);
    const e = currentExplanation(sel);
    const from = label(snap, layer, source);
    const to = label(snap, layer + 1, target);
    let html = `<h2>Weight w<sub>${source + 1}→${target + 1}</sub> · layer ${layer + 1}</h2>
      <p class="sub">${from} → ${to}</p>
      <table class="kv">
        ${W && W.approx && e && e.weights === "step"
    ? `<tr><th>w <small>step ${e.step}, before its update</small></th><td>${num(e.weight, "insp-w")}</td></tr>`
    : `<tr><th>w</th><td>${num(w, "insp-w")}</td></tr>`}
        <tr><th>∂L/∂w <small>latest step, batch</small></th>
            <td>${num(at2(gW, source, target), "insp-frame-grad")}</td></tr>
        <tr class="presenter-hide"><th><small>data part</small></th><td>${num(at2(gWd, source, target), "insp-frame-grad-data")}</td></tr>
        <tr><th>Δw <small>applied</small></th><td>${num(at2(uW, source, target), "insp-frame-update")}</td></tr>
      </table>`;
    if ((W && W.approx) || (gW && gW.approx)) {
      // a layer this large is sent quantised while playing, to be drawn (protocol §4)
      html += `<p class="sub" data-testid="insp-drawn-only">While it plays, this layer's weights
        are drawn, not printed: the chain rule below has this weight and its ∂L/∂w exactly;
        pause for every value.</p>`;
    }
    html += explanationBlock(e, who, "w");
    return html;
  }

  function renderNeuron(sel, snap, frame, who) {
    const k = sel.layer;
    const j = sel.index;
    const X = frameArr(`sample.input.${k}`);
    const W = frameArr(`weight.${k}`);
    const b = frameArr(`bias.${k}`);
    const z = frameArr(`sample.pre_activation.${k}`);
    const a = frameArr(`sample.activation.${k}`);
    const ga = frameArr(`sample.grad_activation.${k}`);
    const d = frameArr(`sample.delta.${k}`);
    const gb = frameArr(`bias_grad.${k}`);
    const act = k < snap.network.layers.length ? snap.network.layers[k].activation : "";
    let terms = "";
    if (X && W) {
      const n = X.shape[0];
      const shown = Math.min(n, 8);
      const parts = [];
      for (let i = 0; i < shown; i++) {
        parts.push(`${num(X.data[i], `insp-x-${i}`, 3)}·${num(at2(W, i, j), `insp-w-${i}`, 3)}`);
      }
      terms = parts.join(" + ") + (n > shown ? ` + … (${n - shown} more)` : "");
    }
    const e = currentExplanation(sel);
    let html = `<h2>${label(snap, k + 1, j)}</h2>
      <p class="sub">${act} · traced ${who}</p>
      <p class="formula">z = Σ<sub>i</sub> x<sub>i</sub>·w<sub>ij</sub> + b = ${terms} + ${num(b ? b.data[j] : null, "insp-b", 3)}</p>
      <table class="kv">
        <tr><th>z</th><td>${num(z ? z.data[j] : null, "insp-z")}</td></tr>
        <tr><th>a = f(z)</th><td>${num(a ? a.data[j] : null, "insp-a")}</td></tr>
        <tr><th>∂L/∂a</th><td>${num(ga ? ga.data[j] : null, "insp-ga")}</td></tr>
        <tr class="bwd"><th>δ = ∂L/∂z <small data-testid="insp-delta-when">current weights, after the latest update</small></th><td>${num(d ? d.data[j] : null, "insp-delta")}</td></tr>
        <tr><th>∂L/∂b <small>latest step</small></th><td>${num(gb ? gb.data[j] : null, "insp-frame-gb")}</td></tr>
      </table>`;
    html += explanationBlock(e, who, "b");
    return html;
  }

  // One equation per row: the formula (with the traced numbers) on the left, its value on the
  // right in bold (large in presenter mode). The hidden-layer δ is split into the weighted sum
  // of the next layer's deltas and the product with f′(z), as a teacher would write it.
  function eq(cls, lhs, res) {
    return `<div class="eq ${cls}"><span class="lhs">${lhs}</span><span class="res">= ${res}</span></div>`;
  }

  function explanationBlock(e, who, sym) {
    if (!e) return `<p class="hint">Asking the engine for the chain rule…</p>`;
    const ds = e.delta_source || {};
    const presenter = !!store.get("presenter");
    const whoShort = presenter ? who.replace(" (train)", "") : who;
    const rows = [];
    rows.push(`<div class="eq fwd"><span class="num-wrap">a<sub>i</sub> = ${num(e.upstream_activation, "ex-upstream", 3)}</span>
      <span class="num-wrap">z<sub>j</sub> = ${num(e.pre_activation, "ex-z", 3)}</span>
      <span class="num-wrap">a<sub>j</sub> = ${num(e.activation, "ex-a", 3)}</span>
      <span class="num-wrap">loss ${num(e.sample_loss, "ex-loss", 3)}</span></div>`);
    if (ds.kind === "loss") {
      if (ds.activation_derivative === null || ds.activation_derivative === undefined) {
        rows.push(eq("bwd", "δ<sub>j</sub> = ∂L/∂z <small>(loss fused with the output activation)</small>",
          num(e.delta, "ex-delta")));
      } else {
        const tgt = ds.target !== null && ds.target !== undefined
          ? ` <small>(target y = ${fmt(ds.target, 3)})</small>` : "";
        rows.push(eq("bwd", `δ<sub>j</sub> = ∂L/∂a · f′(z) = ${num(ds.grad_activation, "ex-ga", 3)} × ${num(ds.activation_derivative, "ex-fprime", 3)}${tgt}`,
          num(e.delta, "ex-delta")));
      }
    } else {
      const w = ds.outgoing_weights || [];
      const dn = ds.next_deltas || [];
      const terms = largestTerms(w, dn, presenter ? 3 : 4);
      const parts = terms.shown.map((m) => `<span class="num-wrap" data-testid="ex-term" data-m="${m}">${fmt(w[m], 3)}·${fmt(dn[m], 3)}</span>`);
      const sum = parts.join(" + ") + (terms.rest ? ` + …<small>(${terms.rest} smaller)</small>` : "");
      const weighted = ds.weighted_sum ?? ds.grad_activation;
      rows.push(eq("bwd", `Σ<sub>m</sub> w<sub>m</sub>δ<sub>m</sub> = <span class="terms">${sum}</span>`, num(weighted, "ex-ga", 3)));
      const dropped = ds.dropout_scale !== null && ds.dropout_scale !== undefined;
      const drop = dropped ? ` × ${fmt(ds.dropout_scale, 3)} <small>(dropout mask)</small>` : "";
      rows.push(eq("bwd", `δ<sub>j</sub> = f′(z)·Σ${dropped ? "·m" : ""} = ${num(ds.activation_derivative, "ex-fprime", 3)} × ${fmt(weighted, 3)}${drop}`,
        num(e.delta, "ex-delta")));
    }
    rows.push(sym === "w"
      ? eq("bwd key", `∂L/∂w = a<sub>i</sub> · δ<sub>j</sub> = ${num(e.upstream_activation, "ex-ai", 3)} × ${num(e.delta, "ex-delta2", 3)}`,
        num(e.sample_gradient, "ex-sample-grad"))
      : eq("bwd key", "∂L/∂b = 1 · δ<sub>j</sub>", num(e.sample_gradient, "ex-sample-grad")));
    const ok = e.relative_error !== null && e.relative_error < 1e-4;
    const penalty = e.penalty_gradient ? ` + penalty ${num(e.penalty_gradient, "ex-penalty", 3)}` : "";
    const whose = e.weights === "step" ? `the batch of step ${e.step} (${e.batch.length})`
      : `the batch (${e.batch.length})`;
    rows.push(eq("", `mean over ${whose}${penalty}`, num(e.batch_gradient, "ex-batch-grad")));
    rows.push(eq("", `finite diff. <small>rel. error ${num(e.relative_error, "ex-relerr", 2, ok ? "ok" : "bad")} ${ok ? "✓" : "✗"}</small>`,
      num(e.finite_difference, "ex-fd")));
    return `<div class="chain" data-testid="insp-chain">
      <h3>Chain rule · ${whoShort} · <span data-testid="ex-weights">${e.weights === "step" ? `weights step ${e.step} used` : `current weights (after ${e.step} steps)`}</span></h3>
      ${sym === "b" && e.weights === "step" ? `<p class="hint" data-testid="ex-delta-note">This chain rule uses the weights step ${e.step} used, before its update; the table above traces the same sample with the weights after the update, so its δ differs.</p>` : ""}
      ${rows.join("\n")}
    </div>`;
  }

  render();
  return { refresh: render, BACKWARD };
}
