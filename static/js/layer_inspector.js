// The inspector's page for the layers a CNN or an RNN adds: a kernel or recurrent weight
// (selection {type: "param", layer, parameter, index}) and a feature-map pixel or hidden state
// (selection {type: "cell", layer, field, index}). It shows the frame's numbers for the thing
// picked and the engine's explanation (`explain {layer, parameter, index}`): the traced
// sample's gradient written as the sum the chain rule makes — over the output positions a
// kernel weight touched, over the time steps a recurrent weight was used — largest terms
// first, then the batch gradient the update used and a finite-difference check. Every number
// is the server's; each carries its exact value in data-value (with a data-testid) for tests.

import { fmt } from "./colors.js";

const SYMBOL = { kernel: "K", weight_hh: "W<sub>hh</sub>", weight_ih: "W<sub>ih</sub>", bias: "b", weight: "w" };

function num(v, testid, digits = 4, cls = "") {
  const value = v === null || v === undefined ? "" : String(v);
  return `<span class="num ${cls}" data-testid="${testid}" data-value="${value}">${fmt(v, digits)}</span>`;
}

const one = (index) => index.map((i) => i + 1).join(", ");

// the `explain` fields for a selection, or null (nothing to explain): a parameter as picked; a
// conv feature-map pixel or an RNN state through its unit's bias (a sum over the positions /
// time steps, this pixel's or step's δ one of its terms)
export function explainFields(sel, snap) {
  if (!sel || !snap) return null;
  const layer = snap.network.layers[sel.layer];
  if (!layer) return null;
  if (sel.type === "param") return { layer: sel.layer, parameter: sel.parameter, index: sel.index, sample: null };
  if (sel.type !== "cell") return null;
  if (layer.kind === "conv2d" && (sel.field === "activation" || sel.field === "delta")) {
    return { layer: sel.layer, parameter: "bias", index: [sel.index[0]], sample: null };
  }
  if ((layer.kind === "rnn" || layer.kind === "lstm") && (sel.field === "activation" || sel.field === "delta")) {
    return { layer: sel.layer, parameter: "bias", index: [sel.index[1]], sample: null };
  }
  return null;
}

export function explainKeyOf(sel, snap) {
  const f = explainFields(sel, snap);
  return f ? `${f.layer}:${f.parameter}:${f.index.join(",")}` : null;
}

// the explanation in the store is of this selection's parameter
export function explanationFor(e, sel, snap) {
  const f = explainFields(sel, snap);
  if (!e || !f || e.layer !== f.layer || e.name !== f.parameter) return false;
  return Array.isArray(e.index) && e.index.length === f.index.length && e.index.every((v, i) => v === f.index[i]);
}

// where a term sits: "(row, col)" of an output position, "t = …" of a time step (1-based)
export function whereText(at, sumOver) {
  return sumOver === "time steps" ? `t = ${at[0] + 1}` : `output (${one(at)})`;
}

export function renderLayerSelection(sel, snap, frame, explanation, who) {
  const layer = snap.network.layers[sel.layer];
  const arrays = frame.arrays;
  const at = (name, index) => {
    const e = arrays[name];
    if (!e) return null;
    let flat = 0;
    for (let d = 0; d < index.length; d++) flat = flat * e.shape[d] + index[d];
    return e.data[flat];
  };
  let html;
  if (sel.type === "param") {
    const sym = SYMBOL[sel.parameter] || sel.parameter;
    const p = sel.parameter;
    const k = sel.layer;
    const title = p === "kernel"
      ? `Kernel weight K<sub>${one(sel.index.slice(2))}</sub> · map ${sel.index[0] + 1}${layer.input_shape[0] > 1 ? `, channel ${sel.index[1] + 1}` : ""} · layer ${k + 1}`
      : `${sym}<sub>${one(sel.index)}</sub> · layer ${k + 1} (${layer.kind.toUpperCase()})`;
    html = `<h2>${title}</h2>
      <table class="kv">
        <tr><th>${sym}</th><td>${num(at(`${p}.${k}`, sel.index), "insp-param")}</td></tr>
        <tr><th>∂L/∂${sym} <small>latest step, batch</small></th><td>${num(at(`${p}_grad.${k}`, sel.index), "insp-frame-grad")}</td></tr>
        <tr><th>Δ <small>applied</small></th><td>${num(at(`${p}_update.${k}`, sel.index), "insp-frame-update")}</td></tr>
      </table>`;
  } else {
    html = cellTable(sel, layer, at, who);
  }
  const wanted = explainFields(sel, snap);
  if (wanted) html += sumBlock(explanationFor(explanation, sel, snap) ? explanation : null, wanted, who);
  return html;
}

function cellTable(sel, layer, at, who) {
  const k = sel.layer;
  const rows = [];
  const row = (label, name, index, testid, cls = "") => {
    const v = at(name, index);
    if (v !== null && v !== undefined) rows.push(`<tr class="${cls}"><th>${label}</th><td>${num(v, testid)}</td></tr>`);
  };
  let title;
  if (layer.kind === "conv2d") {
    const [f, i, j] = sel.index;
    title = `Feature map ${f + 1}, pixel (${i + 1}, ${j + 1}) · layer ${k + 1}`;
    row("z", `sample.pre_activation.${k}`, sel.index, "insp-z");
    row(`a = ${layer.activation}(z)`, `sample.activation.${k}`, sel.index, "insp-a");
    row("∂L/∂a", `sample.grad_activation.${k}`, sel.index, "insp-ga");
    row("δ = ∂L/∂z", `sample.delta.${k}`, sel.index, "insp-delta", "bwd");
  } else if (layer.kind === "maxpool" || layer.kind === "avgpool") {
    const [c, i, j] = sel.index;
    if (sel.field === "output") {
      title = `Pooled map ${c + 1}, (${i + 1}, ${j + 1}) · layer ${k + 1}`;
      row("output", `sample.output.${k}`, sel.index, "insp-out");
      row("∂L/∂output", `sample.grad_output.${k}`, sel.index, "insp-gout", "bwd");
      const won = at(`sample.routing.${k}`, sel.index);
      if (won !== null && won !== undefined) {
        const w = layer.input_shape[2];
        rows.push(`<tr><th>won by input pixel</th><td><span class="num" data-testid="insp-routing" data-value="${won}">(${Math.floor(won / w) + 1}, ${(won % w) + 1})</span></td></tr>`);
      }
    } else {
      title = `Gradient handed back to map ${c + 1}, (${i + 1}, ${j + 1}) · layer ${k + 1}`;
      row("input", `sample.input.${k}`, sel.index, "insp-in");
      row("∂L/∂input", `sample.grad_input.${k}`, sel.index, "insp-gin", "bwd");
    }
  } else {
    const [t, u] = sel.index;
    title = `Unit ${u + 1} at time step t = ${t + 1} · layer ${k + 1}`;
    row("z<sub>t</sub>", `sample.pre_activation.${k}`, sel.index, "insp-z");
    row("h<sub>t</sub>", `sample.activation.${k}`, sel.index, "insp-a");
    row("c<sub>t</sub>", `sample.cell.${k}`, sel.index, "insp-cell");
    row("δ<sub>t</sub> = ∂L/∂z<sub>t</sub>", `sample.delta.${k}`, sel.index, "insp-delta", "bwd");
    row("‖δ<sub>t</sub>‖ <small>this sample</small>", `sample.delta_norms.${k}`, [t], "insp-delta-norm", "bwd");
  }
  return `<h2>${title}</h2><p class="sub">traced ${who}</p><table class="kv">${rows.join("")}</table>`;
}

// The chain rule as a sum: ∂L/∂θ = Σ over positions (or time steps) upstream × δ
function sumBlock(e, wanted, who) {
  if (!e) return `<p class="hint">Asking the engine for the chain rule…</p>`;
  const sym = SYMBOL[e.name] || e.name;
  const over = e.sum_over || "terms";
  const terms = e.terms || [];
  const items = terms.map((t, m) => `<li data-testid="ex-term" data-product="${t.product}">
      <span class="where">${whereText(t.at, e.sum_over)}</span>
      <span class="num-wrap">${fmt(t.upstream, 3)} × ${fmt(t.delta, 3)}</span>
      <span class="res">= ${num(t.product, `ex-term-${m}`, 3)}</span></li>`).join("");
  const more = e.terms_total > terms.length ? e.terms_total - terms.length : 0;
  const rest = more ? `<li class="rest"><span class="where">+ ${more} smaller</span><span class="num-wrap"></span><span class="res">= ${num(e.rest, "ex-rest", 3)}</span></li>` : "";
  const ok = e.relative_error !== null && e.relative_error !== undefined && e.relative_error < 1e-4;
  const penalty = e.penalty_gradient ? ` + penalty ${num(e.penalty_gradient, "ex-penalty", 3)}` : "";
  const whose = e.weights === "step" ? `the batch of step ${e.step} (${(e.batch || []).length})` : `the batch (${(e.batch || []).length})`;
  const asked = wanted.parameter === "bias" ? `<p class="hint">This pixel's δ is one term of its map's bias gradient, the sum over every output position.</p>` : "";
  return `<div class="chain" data-testid="insp-chain" data-sum-over="${over}">
    <h3>Chain rule · ${who} · <span data-testid="ex-weights">${e.weights === "step" ? `weights step ${e.step} used` : `current weights (after ${e.step} steps)`}</span></h3>
    ${asked}
    <p class="formula">∂L/∂${sym}<sub>${one(e.index)}</sub> = Σ over ${over} of upstream × δ${e.truncated ? ` <small>(truncated to ${e.truncated} steps)</small>` : ""}:</p>
    <ol class="terms-list" data-testid="ex-terms">${items}${rest}</ol>
    <div class="eq bwd key"><span class="lhs">Σ = ∂L/∂${sym} <small>this sample</small></span><span class="res">= ${num(e.sample_gradient, "ex-sample-grad")}</span></div>
    <div class="eq"><span class="lhs">mean over ${whose}${penalty}</span><span class="res">= ${num(e.batch_gradient, "ex-batch-grad")}</span></div>
    <div class="eq"><span class="lhs">finite diff. <small>rel. error ${num(e.relative_error, "ex-relerr", 2, ok ? "ok" : "bad")} ${ok ? "✓" : "✗"}</small></span><span class="res">${num(e.finite_difference, "ex-fd")}</span></div>
  </div>`;
}

// A `param` or `cell` selection that names a real weight or value of this network (a teacher's
// `focus` is opaque JSON from the server), copied field by field; null otherwise.
export function cleanLayerSelection(sel, snap) {
  if (!sel || typeof sel !== "object" || !snap || !Number.isInteger(sel.layer)) return null;
  const layer = snap.network.layers[sel.layer];
  if (!layer || !Array.isArray(sel.index)) return null;
  const fits = (dims) => dims.length === sel.index.length
    && sel.index.every((v, d) => Number.isInteger(v) && v >= 0 && v < dims[d]);
  let dims = null;
  if (sel.type === "param") {
    const H = layer.units;
    const wide = layer.kind === "lstm" ? 4 * H : H;
    const shapes = {
      conv2d: { kernel: [layer.filters, (layer.input_shape || [])[0], layer.kernel, layer.kernel], bias: [layer.filters] },
      rnn: { weight_hh: [H, wide], weight_ih: [(layer.input_shape || [])[1], wide], bias: [wide] },
      dense: { weight: [layer.fan_in, H], bias: [H] },
    };
    shapes.lstm = shapes.rnn;
    const own = shapes[layer.kind] || {};
    dims = typeof sel.parameter === "string" && Object.hasOwn(own, sel.parameter) ? own[sel.parameter] : null;
    return dims && fits(dims) ? { type: "param", layer: sel.layer, parameter: sel.parameter, index: [...sel.index] } : null;
  }
  if (sel.type !== "cell") return null;
  const fields = {
    conv2d: ["activation", "delta"], maxpool: ["output", "grad_input"], avgpool: ["output", "grad_input"],
    rnn: ["activation", "delta"], lstm: ["activation", "delta", "cell"],
  }[layer.kind] || [];
  if (!fields.includes(sel.field)) return null;
  if (layer.kind === "rnn" || layer.kind === "lstm") dims = [layer.input_shape[0], layer.units];
  else dims = sel.field === "grad_input" ? layer.input_shape : layer.output_shape;
  return fits(dims) ? { type: "cell", layer: sel.layer, field: sel.field, index: [...sel.index] } : null;
}
