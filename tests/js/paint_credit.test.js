// The page reports each step frame the network view has drawn, with when to make the next.
import assert from "node:assert/strict";
import { test } from "node:test";

import { startPaintCredit, TARGET_WAIT_MS } from "../../static/js/paint_credit.js";

function setup(lead = 15, clock = { t: 1000 }) {
  const sent = [];
  let listener = null;
  const view = { onPainted: (fn) => { listener = fn; } };
  const connection = { notify: (type, fields) => { sent.push({ type, ...fields }); return true; } };
  const state = startPaintCredit(view, connection, { now: () => clock.t, lead });
  return { sent, state, clock, paint: (frame, readyIn) => listener(frame, readyIn) };
}

test("a painted step frame is reported with its run, seq and when to make the next", () => {
  const { sent, paint } = setup(15);
  paint({ seq: 41, header: { run: "r1" }, receivedAt: 1000 - TARGET_WAIT_MS }, 90);
  assert.deepEqual(sent, [{ type: "painted", run: "r1", seq: 41, ready_in: 75 }]);
});

test("paused (nothing throttled) the next frame is wanted at once", () => {
  const { sent, paint } = setup();
  paint({ seq: 7, header: {} }, 0);
  assert.deepEqual(sent, [{ type: "painted", seq: 7, ready_in: 0 }]);
});

test("a frame that waited long for its paint makes the next request later", () => {
  const { state, paint } = setup(30);
  paint({ seq: 1, header: { run: "r0" }, receivedAt: 1000 - 48 }, 90); // waited 48 ms
  assert.equal(state.lead, 30 + 0.3 * (TARGET_WAIT_MS - 48));
});

test("a frame drawn the moment it came makes the next request earlier, within bounds", () => {
  const { state, paint } = setup(70);
  for (let i = 0; i < 10; i++) paint({ seq: i, header: { run: "r0" }, receivedAt: 1000 }, 90);
  assert.equal(state.lead, 80);
});

test("ready_in stays within what the server accepts (0 … 1000 ms)", () => {
  const { sent, paint } = setup(15);
  paint({ seq: 1, header: { run: "r0" } }, 5);
  paint({ seq: 2, header: { run: "r0" } }, 5000);
  assert.deepEqual(sent.map((m) => m.ready_in), [0, 1000]);
});
