// Which join links no student's phone can open (static/js/classroom.js onlyThisComputer).
import assert from "node:assert/strict";
import { test } from "node:test";

import { onlyThisComputer } from "../../static/js/classroom.js";

test("loopback addresses are this computer's only", () => {
  for (const url of ["http://127.0.0.1:8000/r/ABC123", "http://localhost:8000/r/X", "http://[::1]:8000/r/X",
    "http://127.1.2.3/r/X"]) assert.equal(onlyThisComputer(url), true, url);
});

test("network addresses and names are for everyone", () => {
  for (const url of ["http://10.0.0.5:8000/r/X", "http://192.168.1.20/r/X", "https://class.example/r/X"]) {
    assert.equal(onlyThisComputer(url), false, url);
  }
  assert.equal(onlyThisComputer("not a url"), false);
});
