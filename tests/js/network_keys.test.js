// Walking the network picture by keyboard (static/js/network_keys.js moveSelection).
import assert from "node:assert/strict";
import { test } from "node:test";

import { moveSelection } from "../../static/js/network_keys.js";

const SIZES = [2, 4, 3, 1]; // inputs, two hidden layers, one output

test("the first arrow selects the first neuron of the first hidden layer", () => {
  assert.deepEqual(moveSelection(null, "ArrowDown", false, SIZES),
    { type: "neuron", col: 1, layer: 0, index: 0 });
});

test("up and down walk a column and stop at its ends", () => {
  const first = { type: "neuron", col: 1, layer: 0, index: 0 };
  assert.equal(moveSelection(first, "ArrowDown", false, SIZES).index, 1);
  assert.equal(moveSelection(first, "ArrowUp", false, SIZES).index, 0);
  assert.equal(moveSelection({ ...first, index: 3 }, "ArrowDown", false, SIZES).index, 3);
});

test("left and right change column, keeping the row where it exists", () => {
  const n = { type: "neuron", col: 1, layer: 0, index: 3 };
  assert.deepEqual(moveSelection(n, "ArrowRight", false, SIZES), { type: "neuron", col: 2, layer: 1, index: 2 });
  assert.deepEqual(moveSelection(n, "ArrowLeft", false, SIZES), { type: "neuron", col: 0, layer: -1, index: 1 });
  const out = { type: "neuron", col: 3, layer: 2, index: 0 };
  assert.deepEqual(moveSelection(out, "ArrowRight", false, SIZES), out);
});

test("shift+right leaves a neuron along its first link; links walk targets and sources", () => {
  const n = { type: "neuron", col: 1, layer: 0, index: 2 };
  const link = moveSelection(n, "ArrowRight", true, SIZES);
  assert.deepEqual(link, { type: "link", layer: 1, source: 2, target: 0 });
  assert.equal(moveSelection(link, "ArrowDown", false, SIZES).target, 1);
  assert.equal(moveSelection({ ...link, target: 2 }, "ArrowDown", false, SIZES).target, 2);
  assert.equal(moveSelection(link, "ArrowDown", true, SIZES).source, 3);
  assert.deepEqual(moveSelection(link, "ArrowLeft", false, SIZES), { type: "neuron", col: 1, layer: 0, index: 2 });
  assert.deepEqual(moveSelection(link, "ArrowRight", false, SIZES), { type: "neuron", col: 2, layer: 1, index: 0 });
});

test("other keys are not the picture's", () => {
  assert.equal(moveSelection(null, "Enter", false, SIZES), null);
  assert.equal(moveSelection(null, "s", false, SIZES), null);
});
