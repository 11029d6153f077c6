// How the teacher's dashboard orders and formats the server's rows (static/js/dashboard.js).
import assert from "node:assert/strict";
import { test } from "node:test";

import { pct, sortRows } from "../../static/js/dashboard.js";

const rows = [
  { id: "a", nickname: "ben", step: 5, train_loss: 0.4, changed: [] },
  { id: "b", nickname: "Ana", step: 12, train_loss: null, changed: [{ text: "x" }, { text: "y" }] },
  { id: "c", nickname: "Cleo", step: null, train_loss: 0.1, changed: [{ text: "z" }] },
];
const ids = (list) => list.map((r) => r.id).join("");

test("names sort alphabetically whatever their case", () => {
  assert.equal(ids(sortRows(rows, "nickname", "ascending")), "bac");
  assert.equal(ids(sortRows(rows, "nickname", "descending")), "cab");
});

test("numbers sort by value and rows without one come last in both directions", () => {
  assert.equal(ids(sortRows(rows, "step", "ascending")), "abc");
  assert.equal(ids(sortRows(rows, "step", "descending")), "bac");
  assert.equal(ids(sortRows(rows, "train_loss", "ascending")), "cab");
  assert.equal(ids(sortRows(rows, "train_loss", "descending")), "acb");
});

test("changed settings sort by how many there are", () => {
  assert.equal(ids(sortRows(rows, "changed", "descending")), "bca");
});

test("accuracy is shown as a percentage of the server's fraction, a dash when absent", () => {
  assert.equal(pct(0.368), "36.8%");
  assert.equal(pct(null), "—");
});
