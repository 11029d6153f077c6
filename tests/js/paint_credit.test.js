// The page reports each step frame the network view has drawn, with when it can draw again.
import assert from "node:assert/strict";
import { test } from "node:test";

import { startPaintCredit } from "../../static/js/paint_credit.js";

function setup() {
  const sent = [];
  let listener = null;
  const view = { onPainted: (fn) => { listener = fn; } };
  const connection = { notify: (type, fields) => { sent.push({ type, ...fields }); return true; } };
  startPaintCredit(view, connection);
  return { sent, paint: (frame, readyIn) => listener(frame, readyIn) };
}

test("a painted step frame is reported with its run, seq and when the view is ready", () => {
  const { sent, paint } = setup();
  paint({ seq: 41, header: { run: "r1" } }, 62.4);
  assert.deepEqual(sent, [{ type: "painted", run: "r1", seq: 41, ready_in: 62 }]);
});

test("a frame without a run (an older server) is reported without one", () => {
  const { sent, paint } = setup();
  paint({ seq: 7, header: {} }, 0);
  assert.deepEqual(sent, [{ type: "painted", seq: 7, ready_in: 0 }]);
});

test("ready_in stays within what the server accepts (0 … 1000 ms)", () => {
  const { sent, paint } = setup();
  paint({ seq: 1, header: { run: "r0" } }, -5);
  paint({ seq: 2, header: { run: "r0" } }, 5000);
  assert.deepEqual(sent.map((m) => m.ready_in), [0, 1000]);
});
