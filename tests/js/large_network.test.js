// The large-network picture's pure parts: link buckets and the cut for thousands of links
// (link_painter.js), strip geometry and picking (layer_strip.js), and the dense view of a
// flatten + dense network (layer_summary.js).
import assert from "node:assert/strict";
import { test } from "node:test";

import { gridShape, paintStrip, portOf, stripLayout, unitAt, unitCentre } from "../../static/js/layer_strip.js";
import { denseView, networkFamily } from "../../static/js/layer_summary.js";
import { LEVELS, bucketOf, cutFor } from "../../static/js/link_painter.js";

test("a link's bucket is its sign and its strength in six levels", () => {
  assert.equal(bucketOf(-1, 1), LEVELS - 1);
  assert.equal(bucketOf(-0.01, 1), 0);
  assert.equal(bucketOf(0.01, 1), LEVELS);
  assert.equal(bucketOf(0.99, 1), 2 * LEVELS - 1);
  assert.equal(bucketOf(0.5, 2), LEVELS + 1); // 0.25 of the scale
  assert.equal(bucketOf(0.05, 1, 0.1), -1); // below the cut: left out
});

test("the cut keeps at most the cap, the strongest", () => {
  const ts = Array.from({ length: 1000 }, (_, i) => i / 1000);
  assert.equal(cutFor(ts, 2000), 0);
  const cut = cutFor(ts, 300);
  const kept = ts.filter((t) => t >= cut).length;
  assert.ok(kept <= 300 && kept > 250, `kept ${kept}`);
});

test("an 8×8 image keeps its shape, a hidden layer fills 16 rows", () => {
  assert.deepEqual(gridShape(64, [1, 8, 8]), { rows: 8, cols: 8 });
  assert.deepEqual(gridShape(128, null), { rows: 16, cols: 8 });
  assert.deepEqual(gridShape(30, null), { rows: 16, cols: 2 });
});

test("a collapsed strip picks the cell under the pointer and bundles links per row", () => {
  const s = stripLayout(100, 128, 0, 320, 80, true, null);
  assert.equal(s.cell, 10); // 8 columns in 80 px
  assert.equal(s.ports.length, 16);
  assert.deepEqual(s.ports[1].units, [8, 9, 10, 11, 12, 13, 14, 15]);
  const p = unitCentre(s, 37);
  assert.equal(unitAt(s, p.x, p.y), 37);
  assert.equal(portOf(s, 37), 4);
  assert.equal(unitAt(s, s.x0 - 5, p.y), null);
});

test("an expanded strip has a row and a port per unit", () => {
  const s = stripLayout(100, 128, 10, 256, 80, false, null);
  assert.equal(s.ports.length, 128);
  assert.equal(s.ports[0].y, 11);
  assert.equal(unitAt(s, 100, 10 + 2 * 127 + 1), 127);
  assert.equal(portOf(s, 5), 5);
});

test("a network that only flattens before dense layers is a dense one, counted in pixels", () => {
  const layers = [
    { kind: "flatten", input_shape: [1, 8, 8], output_shape: [64] },
    { kind: "dense", input_shape: [64], output_shape: [128], units: 128, activation: "relu" },
    { kind: "dense", input_shape: [128], output_shape: [10], units: 10, activation: "softmax" },
  ];
  assert.equal(networkFamily(layers), "dense");
  const v = denseView({ layers, output_activation: "softmax" });
  assert.deepEqual(v.sizes, [64, 128, 10]);
  assert.equal(v.offset, 1);
  const conv = [{ kind: "conv2d" }, { kind: "flatten" }, { kind: "dense", units: 3 }];
  assert.equal(networkFamily(conv), "conv");
  assert.equal(denseView({ layers: conv }), null);
});

// a canvas context that records what is filled and stroked
function recorder() {
  const ops = [];
  return { ops, fillStyle: "", strokeStyle: "", lineWidth: 1,
    fillRect(x, y, w, h) { ops.push({ fill: this.fillStyle, x, y, w, h }); },
    strokeRect(x, y, w, h) { ops.push({ stroke: this.strokeStyle, x, y, w, h }); } };
}

test("a strip shows each unit's δ in the right half of its cell once the backward pass reached it", () => {
  const strip = stripLayout(100, 32, 0, 160, 40, true, null); // 16 rows × 2 columns of 10 px
  const forward = recorder();
  paintStrip(forward, strip, (i) => `a${i}`, null);
  assert.equal(forward.ops.filter((o) => o.fill && o.fill.startsWith("d")).length, 0);
  assert.equal(forward.ops.at(-1).stroke, "#555");
  const backward = recorder();
  paintStrip(backward, strip, (i) => `a${i}`, null, (i) => `d${i}`, "#c2007a");
  const a5 = backward.ops.find((o) => o.fill === "a5");
  const d5 = backward.ops.find((o) => o.fill === "d5");
  assert.equal(d5.x, a5.x + a5.w / 2); // the right half of unit 5's own cell
  assert.equal(d5.y, a5.y);
  assert.equal(d5.w, a5.w / 2);
  assert.equal(backward.ops.filter((o) => o.fill && o.fill.startsWith("d")).length, 32);
  assert.equal(backward.ops.at(-1).stroke, "#c2007a"); // the magenta frame of the backward pass
});
