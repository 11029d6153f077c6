// The CNN/RNN page's pure helpers: layer words (layer_summary.js), the data family, the class
// bars' target (class_bars.js), the inspector's explain request (layer_inspector.js), the RNN
// view's transposition and log colour scale (rnn_view.js) and the time chart's decades.
import assert from "node:assert/strict";
import { test } from "node:test";

import { targetClass } from "../../static/js/class_bars.js";
import { explainFields, explanationFor, whereText } from "../../static/js/layer_inspector.js";
import { dataFamily, layerSummary, networkFamily, specSummary } from "../../static/js/layer_summary.js";
import { gateAcross, logSigned, timeAcross } from "../../static/js/rnn_view.js";
import { logRange } from "../../static/js/time_chart.js";

const CNN = [
  { kind: "conv2d", input_shape: [1, 8, 8], output_shape: [8, 8, 8], filters: 8, kernel: 3, stride: 1, activation: "relu" },
  { kind: "maxpool", input_shape: [8, 8, 8], output_shape: [8, 4, 4], size: 2, stride: 2 },
  { kind: "flatten", input_shape: [8, 4, 4], output_shape: [128] },
  { kind: "dense", input_shape: [128], output_shape: [3], units: 3, activation: "softmax" },
];
const RNN = [
  { kind: "rnn", input_shape: [40, 4], output_shape: [16], units: 16, return_sequences: false, activation: "tanh" },
  { kind: "dense", input_shape: [16], output_shape: [4], units: 4, activation: "softmax" },
];

test("a network's family and its layers in words", () => {
  assert.equal(networkFamily(CNN), "conv");
  assert.equal(networkFamily({ layers: RNN }), "rnn");
  assert.equal(networkFamily([{ kind: "dense", units: 4 }]), "dense");
  assert.equal(layerSummary(CNN), "conv 8×3×3 → max-pool 2 → flatten → dense 3");
  assert.equal(layerSummary(RNN), "RNN 16 → dense 4");
  assert.equal(specSummary({ layers: [{ type: "lstm", units: 8, return_sequences: true }] }, 2), "LSTM 8 (every step) → dense 2");
});

test("the data family is the snapshot's, as the engine names it", () => {
  assert.equal(dataFamily({ data: { dataset: { name: "shapes", family: "image" } } }), "image");
  assert.equal(dataFamily(null), null);
});

test("the target class of a one-hot row, none for a probe", () => {
  assert.equal(targetClass([0, 0, 1], 3), 2);
  assert.equal(targetClass(null, 3), null);
  assert.equal(targetClass([], 3), null);
});

test("what the inspector asks the engine to explain", () => {
  const snap = { network: { layers: CNN } };
  assert.deepEqual(explainFields({ type: "param", layer: 0, parameter: "kernel", index: [2, 0, 1, 0] }, snap),
    { layer: 0, parameter: "kernel", index: [2, 0, 1, 0], sample: null });
  // a feature-map pixel: its map's bias, a sum over the output positions
  assert.deepEqual(explainFields({ type: "cell", layer: 0, field: "activation", index: [3, 2, 5] }, snap),
    { layer: 0, parameter: "bias", index: [3], sample: null });
  assert.equal(explainFields({ type: "cell", layer: 1, field: "output", index: [0, 0, 0] }, snap), null);
  const rnn = { network: { layers: RNN } };
  assert.deepEqual(explainFields({ type: "cell", layer: 0, field: "delta", index: [37, 5] }, rnn).index, [5]);
  const sel = { type: "param", layer: 0, parameter: "weight_hh", index: [3, 7] };
  assert.ok(explanationFor({ layer: 0, name: "weight_hh", index: [3, 7] }, sel, rnn));
  assert.ok(!explanationFor({ layer: 0, name: "weight_hh", index: [7, 3] }, sel, rnn));
  assert.equal(whereText([2, 4], "output positions"), "output (3, 5)");
  assert.equal(whereText([0], "time steps"), "t = 1");
});

test("a (T, n) array read with time across, and the log colour scale of δ", () => {
  const e = { shape: [3, 2], data: Float32Array.from([1, 2, 3, 4, 5, 6]) };
  assert.deepEqual(Array.from(timeAcross(e)), [1, 3, 5, 2, 4, 6]);
  const v = logSigned(Float32Array.from([1, -0.1, 1e-6, 1e-9, 0]), 1);
  assert.equal(v[0], 1);
  assert.ok(Math.abs(v[1] + 5 / 6) < 1e-6);
  assert.equal(v[2], 0); // six decades below the largest: grey
  assert.equal(v[3], 0);
  assert.equal(v[4], 0);
});

test("the time chart spans the decades of its positive values", () => {
  assert.deepEqual(logRange([Float32Array.from([0.5, 0.002]), null, [0, -1]]), [-3, 0]);
  assert.deepEqual(logRange([[1]]), [0, 1]);
  assert.equal(logRange([[0, NaN]]), null);
});

test("a teacher's focus on a layer's weight or value is kept only when it names one", async () => {
  const { cleanLayerSelection } = await import("../../static/js/layer_inspector.js");
  const snap = { network: { layers: [...CNN.slice(0, 1).map((l) => ({ ...l, fan_in: 9 })), ...CNN.slice(1)] } };
  assert.deepEqual(cleanLayerSelection({ type: "param", layer: 0, parameter: "kernel", index: [7, 0, 2, 2], extra: 1 }, snap),
    { type: "param", layer: 0, parameter: "kernel", index: [7, 0, 2, 2] });
  assert.equal(cleanLayerSelection({ type: "param", layer: 0, parameter: "kernel", index: [8, 0, 0, 0] }, snap), null);
  assert.equal(cleanLayerSelection({ type: "param", layer: 0, parameter: "__proto__", index: [0] }, snap), null);
  assert.deepEqual(cleanLayerSelection({ type: "cell", layer: 1, field: "grad_input", index: [0, 7, 7] }, snap).index, [0, 7, 7]);
  assert.equal(cleanLayerSelection({ type: "cell", layer: 1, field: "output", index: [0, 4, 0] }, snap), null);
  const rnn = { network: { layers: RNN } };
  assert.ok(cleanLayerSelection({ type: "param", layer: 0, parameter: "weight_hh", index: [15, 15] }, rnn));
  assert.ok(cleanLayerSelection({ type: "cell", layer: 0, field: "delta", index: [39, 15] }, rnn));
  assert.equal(cleanLayerSelection({ type: "cell", layer: 0, field: "delta", index: [40, 0] }, rnn), null);
});

test("an LSTM gate is read from the engine's (T, 4H) gates in i, f, g, o order, time across", () => {
  // T = 2, H = 2: row t holds i0 i1 f0 f1 g0 g1 o0 o1
  const gates = { shape: [2, 8], data: Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 11, 12, 13, 14, 15, 16, 17, 18]) };
  assert.deepEqual(Array.from(gateAcross(gates, "f", 2)), [3, 13, 4, 14]);
  assert.deepEqual(Array.from(gateAcross(gates, "o", 2)), [7, 17, 8, 18]);
  assert.equal(gateAcross(undefined, "f", 2), null);
});
