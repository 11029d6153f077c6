// Chart history (static/js/buckets.js): a long run stays visible from its first step to its
// last, thinned evenly, with no spike the data did not have.
import assert from "node:assert/strict";
import { test } from "node:test";

import { Buckets } from "../../static/js/buckets.js";

// what the server sends: per display frame, up to 32 buckets of the steps since the last one
function feed(b, steps, lossAt, perMessage = 37) {
  let step = 0;
  while (step < steps) {
    const n = Math.min(perMessage, steps - step);
    const per = Math.ceil(n / 32);
    for (let s = 0; s < n; s += per) {
      const k = Math.min(per, n - s);
      const values = Array.from({ length: k }, (_, i) => lossAt(step + s + i + 1));
      const mean = values.reduce((a, v) => a + v, 0) / k;
      b.push(step + s + k, mean, Math.min(...values), Math.max(...values), k);
    }
    step += n;
  }
}

test("after 213 000 steps the history still starts at the first steps and ends at the last", () => {
  const b = new Buckets(600);
  feed(b, 213_000, (s) => 1 / Math.sqrt(s));
  assert.ok(b.n <= 600);
  assert.ok(b.x[0] < 213_000 * 0.01, `first bucket ends at step ${b.x[0]}`);
  assert.equal(b.x[b.n - 1], 213_000);
  const line = b.line(false, 300);
  assert.ok(line.x.length <= 300);
  assert.ok(line.x[0] < 213_000 * 0.01);
});

test("buckets are thinned evenly: none covers more than about twice the steps of another", () => {
  const b = new Buckets(600);
  feed(b, 213_000, () => 1);
  let wide = 0;
  let narrow = Infinity;
  for (let i = 0; i < b.n - 1; i++) { // the last one may still be filling
    wide = Math.max(wide, b.w[i]);
    narrow = Math.min(narrow, b.w[i]);
  }
  assert.ok(wide / narrow <= 2.2, `widths from ${narrow} to ${wide} steps`);
  const total = Array.from(b.w.subarray(0, b.n)).reduce((a, v) => a + v, 0);
  assert.equal(total, 213_000); // every step is in exactly one bucket
});

test("a falling loss shows no spike late in the run: each band maximum is that stretch's own", () => {
  const b = new Buckets(600);
  feed(b, 213_000, (s) => 2 / Math.sqrt(s));
  for (let i = 1; i < b.n; i++) {
    const firstStep = b.x[i] - b.w[i] + 1;
    assert.ok(Math.abs(b.max[i] - 2 / Math.sqrt(firstStep)) < 1e-9, `bucket ${i}`);
  }
});

test("a real one-step spike survives the thinning in the band maximum", () => {
  const b = new Buckets(600);
  feed(b, 100_000, (s) => (s === 77_777 ? 50 : 0.1));
  const band = b.band(false, 300);
  assert.equal(Math.max(...band.y), 50);
  const i = Array.from(b.max.subarray(0, b.n)).indexOf(50);
  assert.ok(b.x[i] >= 77_777 && b.x[i] - b.w[i] < 77_777);
});

test("the mean of the whole history is the mean of every step (weights add up)", () => {
  const b = new Buckets(64);
  feed(b, 10_000, (s) => s % 10);
  let sum = 0;
  let w = 0;
  for (let i = 0; i < b.n; i++) {
    sum += b.mean[i] * b.w[i];
    w += b.w[i];
  }
  assert.ok(Math.abs(sum / w - 4.5) < 1e-9);
});

test("keepLast (evaluations) keeps the latest value of each merged stretch", () => {
  const b = new Buckets(8, true);
  for (let s = 1; s <= 100; s++) b.push(s * 10, s);
  for (let i = 0; i < b.n; i++) assert.equal(b.mean[i], b.x[i] / 10);
  assert.equal(b.x[b.n - 1], 1000);
  assert.ok(b.x[0] <= 200);
});

test("NaN and non-positive values become gaps on a log axis", () => {
  const b = new Buckets(8);
  b.push(1, 0.5);
  b.push(2, NaN);
  b.push(3, 0);
  b.push(4, 2);
  assert.deepEqual(b.line(true).y, [0.5, null, null, 2]);
  assert.deepEqual(b.line(false).y, [0.5, null, 0, 2]);
});
