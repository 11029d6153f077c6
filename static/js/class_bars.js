// The output of a classifier as one bar per class, named by the snapshot's class names: the
// probabilities (or values) the frame's header carries, the class the engine predicted (its
// `predicted`, never an argmax here) marked ◀ and in bold, and the target class marked "target".
// Used by the CNN and RNN views (the traced sample) and the drawing pad (its probe).

import { fmt } from "./colors.js";

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

// output: numbers; names: class names; predicted: index or null; target: one-hot / index list
// or null; testid names the list (its bars are `${testid}-k`, their data-value the number)
export function classBarsHtml({ output, names, predicted = null, target = null, testid, deltas = null }) {
  if (!output || !output.length) return `<p class="hint" data-testid="${testid}">—</p>`;
  const targetIndex = targetClass(target, output.length);
  const items = Array.from(output, (p, k) => {
    const name = escapeHtml((names && names[k]) ?? `class ${k + 1}`);
    const width = Math.max(0, Math.min(1, Number(p) || 0));
    const pred = predicted === k;
    const marks = `${pred ? ' <span class="cb-pred" title="predicted by the network">◀<span class="visually-hidden"> predicted</span></span>' : ""}${
      targetIndex === k ? ' <span class="cb-target" title="the target class">target</span>' : ""}`;
    const delta = deltas ? `<span class="cb-delta num" data-testid="${testid}-delta-${k}" data-value="${deltas[k]}" title="δ = ∂L/∂z of this output">δ ${fmt(deltas[k], 2)}</span>` : "";
    return `<li class="cb${pred ? " predicted" : ""}">
      <span class="cb-name">${name}${marks}</span>
      <span class="cb-bar" aria-hidden="true"><i style="width:${(width * 100).toFixed(1)}%"></i></span>
      <span class="cb-p num" data-testid="${testid}-${k}" data-value="${p}">${fmt(p, 3)}</span>${delta}</li>`;
  });
  return `<ol class="class-bars" data-testid="${testid}" aria-label="output per class">${items.join("")}</ol>`;
}

// the target's class index: a one-hot row or [index]; null when none (a probe)
export function targetClass(target, n) {
  if (!target || !target.length) return null;
  if (target.length === n && n > 1) {
    let best = null;
    for (let k = 0; k < n; k++) if (target[k] === 1) best = k;
    return best;
  }
  return target.length === 1 && Number.isInteger(target[0]) && n > 1 ? target[0] : null;
}

// A regression's output beside its target, one line per output: "ŷ = 0.41   y = 0.38"
export function valuesHtml({ output, target = null, testid, when = "" }) {
  if (!output || !output.length) return `<p class="hint" data-testid="${testid}">—</p>`;
  const rows = Array.from(output, (v, k) => `<li class="cb-value">ŷ${output.length > 1 ? `<sub>${k + 1}</sub>` : ""} =
    <span class="num" data-testid="${testid}-${k}" data-value="${v}">${fmt(v, 3)}</span>${target && target[k] !== undefined
    ? ` · target y = <span class="num" data-testid="${testid}-target-${k}" data-value="${target[k]}">${fmt(target[k], 3)}</span>` : ""}</li>`);
  return `<ol class="class-bars values" data-testid="${testid}" aria-label="output${when}">${rows.join("")}</ol>`;
}
