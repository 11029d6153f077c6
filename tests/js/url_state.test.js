// The setup a link carries: the spec's differences from the default, merged back on opening.
import assert from "node:assert/strict";
import { test } from "node:test";

import { diff, linkSpec } from "../../static/js/url_state.js";

const DEFAULTS = {
  data: { dataset: "circle", noise: 0 },
  network: { hidden: [{ units: 4 }, { units: 2 }], layers: null, output_activation: "tanh" },
};

test("a hand-written link giving network.layers drops the default's hidden shorthand", () => {
  const layers = [{ type: "lstm", units: 12 }, { type: "dense", units: 8 }];
  const spec = linkSpec(DEFAULTS, { data: { dataset: "recall" }, network: { layers } });
  assert.deepEqual(spec.network, { hidden: [], layers, output_activation: "tanh" });
  assert.deepEqual(spec.data, { dataset: "recall", noise: 0 });
});

test("a link giving network.hidden over a layered default drops the default's layers", () => {
  const layered = { ...DEFAULTS, network: { hidden: [], layers: [{ type: "rnn", units: 4 }] } };
  const spec = linkSpec(layered, { network: { hidden: [{ units: 3 }] } });
  assert.deepEqual(spec.network, { hidden: [{ units: 3 }], layers: null });
});

test("a link the page wrote itself (its diff from the default) comes back unchanged", () => {
  const setup = { data: { dataset: "digits", noise: 0 }, network: { hidden: [], layers: [{ type: "flatten" }], output_activation: "softmax" } };
  assert.deepEqual(linkSpec(DEFAULTS, diff(setup, DEFAULTS)), setup);
  assert.deepEqual(linkSpec(DEFAULTS, undefined), DEFAULTS);
});
