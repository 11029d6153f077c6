// Runs side by side in the page (static/js/runs.js): records kept apart per run, labels that
// say what differs, the partial spec of a fork.
import assert from "node:assert/strict";
import { test } from "node:test";

import { createRunBook, differingPaths, forkChanges, forkRestarts, runLabels } from "../../static/js/runs.js";

const SPEC = {
  data: { dataset: "xor", seed: 1 },
  network: { hidden: [{ units: 4, activation: "tanh", dropout: 0 }], output_activation: "tanh", initializer: "xavier_uniform", seed: 1 },
  training: { loss: "mse", optimizer: { name: "sgd", learning_rate: 0.03 }, batch_size: 10, regularization: "none", regularization_rate: 0 },
  version: 1,
};
const clone = (x) => JSON.parse(JSON.stringify(x));
const CATALOG = { activations: [{ name: "tanh", title: "tanh" }, { name: "relu", title: "ReLU" }], optimizers: [{ name: "adam", title: "Adam" }] };
const RUNS = [{ id: "r0", label: "", step: 5 }, { id: "r1", label: "η 3", step: 5 }];

function snapshot(run, spec, step = 5, reason = "compare", runs = RUNS) {
  return { type: "snapshot", run, runs, reason, spec, network: { layers: [{}, {}] },
    state: { step, selected: { sample: 0, split: "train" }, diverged: null, metrics: { step, train_loss: 0.5, test_loss: 0.6 } } };
}

function metrics(run, steps, loss) {
  return { type: "metrics", run, buckets: { step: steps, n: steps.map(() => 1),
    loss: { mean: steps.map(() => loss), min: steps.map(() => loss), max: steps.map(() => loss) },
    grad_norms: [0, 1].map(() => ({ mean: steps.map(() => 1), min: steps.map(() => 1), max: steps.map(() => 1) })) },
  eval: { step: steps[steps.length - 1], train_loss: loss, test_loss: loss + 0.1 } };
}

test("each run's messages and frames stay in its own record", () => {
  const book = createRunBook();
  const fork = clone(SPEC);
  fork.training.optimizer.learning_rate = 3;
  book.snapshot(snapshot("r0", SPEC));
  book.snapshot(snapshot("r1", fork));
  assert.deepEqual(book.ids(), ["r0", "r1"]);
  assert.equal(book.mainId(), "r0");
  book.metrics(metrics("r0", [6, 7], 0.4));
  book.metrics(metrics("r1", [6, 7], 2.0));
  book.frame({ step: 7, header: { run: "r1", sample: { index: 3, split: "test" } } }, "step");
  assert.equal(book.get("r0").lastEval.train_loss, 0.4);
  assert.equal(book.get("r1").lastEval.train_loss, 2.0);
  assert.equal(book.get("r1").stepFrame.step, 7);
  assert.equal(book.get("r0").stepFrame, null);
  assert.deepEqual(book.get("r1").selected, { sample: 3, split: "test" });
  assert.equal(book.get("r1").rows.length, 2);
  // a settings event changes that run's spec only
  book.event({ type: "event", event: "settings", run: "r1", step: 7, training: { ...fork.training, batch_size: 20 } });
  assert.equal(book.get("r1").spec.training.batch_size, 20);
  assert.equal(book.get("r0").spec.training.batch_size, 10);
  // promote: the order changes, the records stay
  book.event({ type: "event", event: "promote_run", run: "r1", step: 7, runs: [RUNS[1], RUNS[0]] });
  assert.equal(book.mainId(), "r1");
  // close: the closed run's record goes
  book.event({ type: "event", event: "close_run", run: "r0", step: 7, runs: [RUNS[1]] });
  assert.equal(book.get("r0"), null);
  const h = book.history("r1");
  assert.deepEqual(h.columns.slice(0, 5), ["step", "n", "loss_mean", "loss_min", "loss_max"]);
  assert.equal(h.n_layers, 2);
  assert.equal(h.evals[h.evals.length - 1].train_loss, 2.0);
});

test("a fork from the present state starts with its parent's past; a new setup forgets it", () => {
  const book = createRunBook();
  book.snapshot(snapshot("r0", SPEC, 0, "configure", [RUNS[0]]));
  book.metrics(metrics("r0", [1, 2, 3], 0.9));
  book.snapshot(snapshot("r0", SPEC, 3, "compare"));
  book.snapshot(snapshot("r1", SPEC, 3, "compare"));
  book.event({ type: "event", event: "compare", run: "r1", parent: "r0", restart: false, step: 3, runs: RUNS });
  assert.deepEqual(book.get("r1").evals.map((e) => e.step), [0, 3]);
  assert.deepEqual(book.get("r1").rows.map((r) => r[0]), [1, 2, 3]);
  assert.deepEqual(book.get("r0").evals.map((e) => e.step), [0, 3]);
  book.snapshot(snapshot("r0", SPEC, 0, "reset"));
  assert.deepEqual(book.get("r0").evals.map((e) => e.step), [0]);
  assert.equal(book.get("r0").rows.length, 0);
});

test("labels say what differs: the main run its values, the others where they differ from it", () => {
  const lr = clone(SPEC);
  lr.training.optimizer.learning_rate = 3;
  const relu = clone(SPEC);
  relu.network.hidden[0].activation = "relu";
  assert.deepEqual(differingPaths([SPEC, lr]), ["training.optimizer.learning_rate"]);
  assert.deepEqual(runLabels([SPEC, lr], CATALOG), ["η 0.03", "η 3"]);
  assert.deepEqual(runLabels([SPEC, lr, relu], CATALOG), ["4 tanh · η 0.03", "η 3", "4 ReLU"]);
  assert.deepEqual(runLabels([SPEC, clone(SPEC)], CATALOG), ["same settings", "same settings as the main run"]);
});

test("a draft becomes the partial spec of a fork, lists whole; the page hints at a restart", () => {
  const draft = clone(SPEC);
  draft.training.optimizer.learning_rate = 3;
  let f = forkChanges(SPEC, draft);
  assert.deepEqual(f.changes, { training: { optimizer: { learning_rate: 3 } } });
  assert.equal(forkRestarts(f.paths), false);
  draft.network.hidden = [{ units: 4, activation: "relu", dropout: 0 }, { units: 2, activation: "relu", dropout: 0 }];
  f = forkChanges(SPEC, draft);
  assert.deepEqual(f.changes.network, { hidden: draft.network.hidden });
  assert.deepEqual(f.paths, ["network.hidden", "training.optimizer.learning_rate"]);
  assert.equal(forkRestarts(f.paths), true);
  assert.deepEqual(forkChanges(SPEC, clone(SPEC)), { changes: {}, paths: [] });
});
