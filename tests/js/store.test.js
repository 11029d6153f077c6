// The page's state (static/js/state.js, store.js): one declaration names every key.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { test } from "node:test";

import { STATE } from "../../static/js/state.js";
import { createStore } from "../../static/js/store.js";

const DIR = new URL("../../static/js/", import.meta.url);
// the page's modules without their comments (which quote examples such as subscribe(["a"]))
const sources = readdirSync(DIR).filter((f) => f.endsWith(".js") && f !== "state.js")
  .map((f) => [f, readFileSync(new URL(f, DIR), "utf8").replace(/^\s*\/\/.*$/gm, "")]);

// keys read with store.get("k") / s.k in a listener are hard to list; the sure ones are the
// string literals given to get() and subscribe([...])
function keysUsed() {
  const used = new Map();
  for (const [file, text] of sources) {
    for (const m of text.matchAll(/store\.get\("([A-Za-z]+)"\)/g)) used.set(m[1], file);
    for (const m of text.matchAll(/subscribe\(\[([^\]]*)\]/g)) {
      for (const k of m[1].matchAll(/"([A-Za-z]+)"/g)) used.set(k[1], file);
    }
  }
  return used;
}

test("every key the page reads or listens to is declared", () => {
  for (const [key, file] of keysUsed()) assert.ok(Object.hasOwn(STATE, key), `${key} (${file})`);
});

test("every declared key is used somewhere, with a shape said in words", () => {
  const all = sources.map(([, t]) => t).join("\n");
  for (const [key, entry] of Object.entries(STATE)) {
    assert.ok(typeof entry.shape === "string" && entry.shape.length > 5, key);
    const pattern = new RegExp(`["\\s{,.]${key}\\b`);
    assert.ok(pattern.test(all), key);
  }
});

test("the store starts with every declared key and refuses any other", () => {
  const store = createStore({ speed: 5 });
  assert.equal(store.get("speed"), 5);
  assert.equal(store.get("linkMode"), "weights");
  assert.deepEqual(Object.keys(store.get()).sort(), Object.keys(STATE).sort());
  assert.throws(() => store.set({ sweepMs: 1 }), /undeclared state key "sweepMs"/);
  assert.throws(() => store.get("nope"), /undeclared/);
  assert.throws(() => store.subscribe(["nope"], () => {}), /undeclared/);
  assert.throws(() => createStore({ nope: 1 }), /undeclared/);
});

test("listeners run once per set, in the order they subscribed, with the changed keys", () => {
  const store = createStore();
  const calls = [];
  store.subscribe(["step"], (s, keys) => calls.push(["a", s.step, keys]));
  store.subscribe(["step", "playing"], (s, keys) => calls.push(["b", s.step, keys]));
  store.subscribe(["presenter"], () => calls.push(["c"]));
  store.set({ step: 3, playing: true });
  assert.deepEqual(calls, [["a", 3, ["step", "playing"]], ["b", 3, ["step", "playing"]]]);
});
