// Animation timing (static/js/animation.js waveAt): where the picture is in a step at a time.
import assert from "node:assert/strict";
import { test } from "node:test";

import { PHASE_MS, waveAt } from "../../static/js/animation.js";

const L = 3; // hidden + output layers: forward 1-3, loss, backward 3-1, update = 8 phases

test("idle: nothing moves and every value is shown", () => {
  const w = waveAt({ mode: "idle" }, L, 1000);
  assert.equal(w.kind, null);
  assert.equal(w.moving, false);
  assert.equal(w.aAlpha(2), 1);
  assert.equal(w.dAlpha(0), 1);
});

test("a sweep passes through the eight phases in order, evenly in time", () => {
  const anim = { mode: "sweep", start: 0, duration: 1600 };
  const seen = [];
  for (let t = 0; t < 1600; t += 200) {
    const w = waveAt(anim, L, t + 1);
    seen.push(`${w.kind}${w.layer === null ? "" : w.layer}`);
  }
  assert.deepEqual(seen, ["forward0", "forward1", "forward2", "loss", "backward2", "backward1",
    "backward0", "update"]);
  assert.equal(waveAt(anim, L, 1600).kind, null); // done: back to rest
});

test("values appear as the wave reaches them: activations forward, deltas backward", () => {
  const anim = { mode: "sweep", start: 0, duration: 800 };
  const w = waveAt(anim, L, 150); // halfway through forward · layer 2 (100 ms per phase)
  assert.equal(w.kind, "forward");
  assert.equal(w.aAlpha(0), 1);
  assert.ok(Math.abs(w.aAlpha(1) - 0.5) < 1e-9);
  assert.equal(w.aAlpha(2), 0);
  assert.equal(w.dAlpha(2), 0);
  const b = waveAt(anim, L, 550); // halfway through backward · layer 2
  assert.equal(b.kind, "backward");
  assert.equal(b.dAlpha(2), 1);
  assert.ok(Math.abs(b.dAlpha(1) - 0.5) < 1e-9);
  assert.equal(b.dAlpha(0), 0);
});

test("a phase frame's animation lasts PHASE_MS and keeps the server's title", () => {
  const anim = { mode: "phase", index: 5, start: 1000, duration: PHASE_MS, title: "Backward · layer 3" };
  const mid = waveAt(anim, L, 1000 + PHASE_MS / 2);
  assert.equal(mid.kind, "backward");
  assert.equal(mid.title, "Backward · layer 3");
  assert.equal(mid.moving, true);
  const end = waveAt(anim, L, 1000 + PHASE_MS + 5);
  assert.equal(end.t, 1);
  assert.equal(end.moving, false);
});

test("continuous play cycles, and a time stamp before the start counts as the start", () => {
  const anim = { mode: "cycle", start: 500, period: 800 };
  assert.equal(waveAt(anim, L, 400).index, 1);
  assert.equal(waveAt(anim, L, 500 + 800 + 50).index, 1); // the next cycle
  assert.equal(waveAt(anim, L, 500 + 750).kind, "update");
});
