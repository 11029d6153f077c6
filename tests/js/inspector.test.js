// What "Set w" accepts (static/js/inspector.js parseNumber): finite numbers only.
import assert from "node:assert/strict";
import { test } from "node:test";

import { parseNumber } from "../../static/js/inspector.js";

test("numbers as people type them are read exactly", () => {
  assert.equal(parseNumber("0.5"), 0.5);
  assert.equal(parseNumber(" -1.25 "), -1.25);
  assert.equal(parseNumber("+3"), 3);
  assert.equal(parseNumber(".5"), 0.5);
  assert.equal(parseNumber("2."), 2);
  assert.equal(parseNumber("-1.2e-3"), -0.0012);
  assert.equal(parseNumber("0"), 0);
});

test("what is no finite number is refused, never read as 0", () => {
  for (const bad of ["", "   ", "-", "abc", "1e400", "-1e400", "NaN", "Infinity", "0x10", "1,5", "1e", "--1"]) {
    assert.equal(parseNumber(bad), null, JSON.stringify(bad));
  }
  assert.equal(parseNumber("1", true), null); // the browser flagged the input as bad
});
