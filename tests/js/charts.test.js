// The charts' step axis (static/js/charts.js stepTicks): whole steps only.
import assert from "node:assert/strict";
import { test } from "node:test";

import { logTicks, stepTicks } from "../../static/js/charts.js";

test("the first steps get whole-number ticks, never fractions of a step", () => {
  for (const top of [0, 0.2, 1, 2, 3, 7, 13]) {
    const t = stepTicks(top, 8);
    assert.ok(t, `ticks for ${top}`);
    for (const v of t.tickvals) assert.ok(Number.isInteger(v), `${v} at ${top}`);
    assert.ok(t.tickvals.length <= 9);
    assert.deepEqual(t.ticktext, t.tickvals.map(String));
    assert.ok(t.range[1] >= top);
  }
});

test("a run long enough for whole-step ticks anyway is left to plotly", () => {
  assert.equal(stepTicks(16, 8), null);
  assert.equal(stepTicks(213000, 8), null);
});

test("log ticks that would sit closer than a label's height are thinned", () => {
  const dense = logTicks(0.55, 1.25, 8);
  assert.ok(dense.tickvals.includes(0.9) && dense.tickvals.includes(1));
  const fit = logTicks(0.55, 1.25, 8, { px: 120, gap: 19 });
  const span = Math.log10(1.25 / 0.55);
  for (let i = 1; i < fit.tickvals.length; i++) {
    const px = (Math.log10(fit.tickvals[i] / fit.tickvals[i - 1]) / span) * 120;
    assert.ok(px >= 19, `${fit.tickvals[i - 1]} and ${fit.tickvals[i]} are ${px.toFixed(1)} px apart`);
  }
});
