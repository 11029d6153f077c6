// Σ w·δ in the chain rule (static/js/inspector.js largestTerms): when there is no room for every
// term, the largest are shown, never simply the first.
import assert from "node:assert/strict";
import { test } from "node:test";

import { largestTerms } from "../../static/js/inspector.js";

test("the largest |w·δ| are shown, in the layer's order, the rest counted", () => {
  const w = [0.1, -2, 0.01, 3, 0.5, -0.2];
  const d = [1, 1, 1, -1, 0.1, 10];
  // |w·δ| = 0.1, 2, 0.01, 3, 0.05, 2
  const t = largestTerms(w, d, 3);
  assert.deepEqual(t.shown, [1, 3, 5]);
  assert.equal(t.rest, 3);
});

test("with room for all, all are shown and none is left out", () => {
  assert.deepEqual(largestTerms([1, 2], [3, 4], 4), { shown: [0, 1], rest: 0 });
});
