// The charts' step axis (static/js/charts.js stepTicks): whole steps only.
import assert from "node:assert/strict";
import { test } from "node:test";

import { stepTicks } from "../../static/js/charts.js";

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
