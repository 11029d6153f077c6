// Runs side by side (docs/protocol.md §10), the page's side: what each run of the session sent,
// kept apart per run, so that the main view (the first run) is never drawn with another run's
// numbers. connection.js feeds every snapshot, metrics message, frame and event in here (the
// main run's too) and then decides what reaches the main view's keys of the store.
//
// A run's record: its latest snapshot and spec (the snapshot's, with later `settings` events
// laid over it), step, selection, divergence, latest evaluation, the newest frame of each kind,
// and a compact history (evaluations for the side-by-side chart; batch loss and gradient-norm
// buckets for the main charts when the run becomes the main one). Nothing is computed here that
// the server did not send: the records are the server's numbers, only kept and thinned.
//
// Pure module (no DOM): tests/js/runs.test.js.

const MAX_EVALS = 2048; // evaluation points per run (halved, keeping every other, when full)
const MAX_ROWS = 4096; // batch-loss buckets per run (neighbours merged when full)
// snapshots that show the same run going on (its history stays); any other reason starts anew
const CONTINUING = new Set(["resume", "request", "room", "record", "compare", "switch"]);

function num(v) {
  return v === null || v === undefined ? NaN : Number(v);
}

function newRecord(id) {
  return {
    id, snapshot: null, spec: null, step: 0, selected: null, diverged: null, lastEval: null,
    stepFrame: null, gridFrame: null, lineFrame: null, pointsFrame: null, nLayers: 0,
    evals: [], rows: [],
  };
}

// merge two batch-loss rows [step, n, mean, min, max, (mean, min, max) per layer…]
function mergeRows(a, b) {
  const na = a[1];
  const nb = b[1];
  const out = [b[0], na + nb];
  for (let j = 2; j < a.length; j += 3) {
    const ma = a[j];
    const mb = b[j];
    out.push(ma !== ma ? mb : mb !== mb ? ma : (ma * na + mb * nb) / (na + nb));
    out.push(Math.min(a[j + 1], b[j + 1]));
    out.push(Math.max(a[j + 2], b[j + 2]));
  }
  return out;
}

export function createRunBook() {
  const records = new Map();
  let order = []; // [{id, label, step, optimizer, learning_rate}] as the server last listed them

  function ensure(id) {
    const key = id || "r0";
    if (!records.has(key)) records.set(key, newRecord(key));
    return records.get(key);
  }

  function forget(rec) {
    rec.evals = [];
    rec.rows = [];
    rec.lastEval = null;
  }

  function trim(rec, step) {
    rec.evals = rec.evals.filter((e) => e.step <= step);
    rec.rows = rec.rows.filter((r) => r[0] <= step);
  }

  function addEval(rec, ev) {
    if (!ev || ev.step === null || ev.step === undefined) return;
    rec.lastEval = ev;
    const point = {
      step: ev.step, train_loss: num(ev.train_loss), test_loss: num(ev.test_loss),
      train_accuracy: num(ev.train_accuracy), test_accuracy: num(ev.test_accuracy),
    };
    const last = rec.evals[rec.evals.length - 1];
    if (last && last.step === point.step) rec.evals[rec.evals.length - 1] = point;
    else if (last && last.step > point.step) {
      trim(rec, point.step);
      rec.evals.push(point);
    } else rec.evals.push(point);
    if (rec.evals.length > MAX_EVALS) {
      // keep the newest point and every other one before it
      const n = rec.evals.length;
      rec.evals = rec.evals.filter((_, i) => (n - 1 - i) % 2 === 0);
    }
  }

  function setOrder(list) {
    if (!Array.isArray(list) || !list.length) return;
    order = list.map((r) => ({ ...r }));
    const ids = new Set(order.map((r) => r.id));
    for (const id of [...records.keys()]) if (!ids.has(id)) records.delete(id);
    for (const r of order) {
      const rec = ensure(r.id);
      if (Number.isInteger(r.step)) rec.step = r.step;
    }
  }

  return {
    // the runs as listed by the server (the first is the main run); [] before any snapshot
    order: () => order,
    ids: () => order.map((r) => r.id),
    mainId: () => (order.length ? order[0].id : null),
    get: (id) => records.get(id) || null,
    setOrder,
    clear() {
      records.clear();
      order = [];
    },

    snapshot(msg) {
      if (Array.isArray(msg.runs) && msg.runs.length) setOrder(msg.runs);
      const rec = ensure(msg.run || (order[0] && order[0].id));
      const state = msg.state || {};
      if (!CONTINUING.has(msg.reason)) forget(rec);
      const step = Number(state.step) || 0;
      trim(rec, step);
      rec.snapshot = msg;
      rec.spec = msg.spec || null;
      rec.step = step;
      rec.selected = state.selected || null;
      rec.diverged = state.diverged || null;
      rec.nLayers = msg.network && msg.network.layers ? msg.network.layers.length : 0;
      rec.stepFrame = rec.gridFrame = rec.lineFrame = rec.pointsFrame = null;
      if (state.metrics) addEval(rec, { ...state.metrics, step: state.metrics.step ?? step });
      return rec;
    },

    metrics(msg) {
      const rec = ensure(msg.run || (order[0] && order[0].id));
      const b = msg.buckets;
      if (b && Array.isArray(b.step) && b.step.length) {
        const first = b.step[0];
        if (rec.rows.length && first <= rec.rows[rec.rows.length - 1][0]) {
          rec.rows = rec.rows.filter((r) => r[0] < first);
        }
        const L = b.loss || {};
        const norms = b.grad_norms || [];
        for (let i = 0; i < b.step.length; i++) {
          const row = [b.step[i], b.n ? b.n[i] : 1, num(L.mean && L.mean[i]), num(L.min && L.min[i]),
            num(L.max && L.max[i])];
          for (let k = 0; k < rec.nLayers; k++) {
            const g = norms[k];
            row.push(num(g && g.mean[i]), num(g && g.min[i]), num(g && g.max[i]));
          }
          rec.rows.push(row);
        }
        if (rec.rows.length > MAX_ROWS) {
          const merged = [];
          for (let i = 0; i + 1 < rec.rows.length; i += 2) merged.push(mergeRows(rec.rows[i], rec.rows[i + 1]));
          if (rec.rows.length % 2) merged.push(rec.rows[rec.rows.length - 1]);
          rec.rows = merged;
        }
        rec.step = Math.max(rec.step, b.step[b.step.length - 1]);
      }
      if (msg.eval) addEval(rec, msg.eval);
      return rec;
    },

    // a decoded frame (frames.js); its header names the run
    frame(frame, kindName) {
      const rec = ensure(frame.header.run || (order[0] && order[0].id));
      if (kindName === "step") {
        rec.stepFrame = frame;
        rec.step = frame.step;
        const s = frame.header.sample;
        if (s) rec.selected = { sample: s.index, split: s.split };
      } else if (kindName === "grid") rec.gridFrame = frame;
      else if (kindName === "line") rec.lineFrame = frame;
      else if (kindName === "points") rec.pointsFrame = frame;
      else if (kindName === "phase") rec.step = frame.step;
      return rec;
    },

    diverged(msg) {
      const rec = ensure(msg.run || (order[0] && order[0].id));
      rec.diverged = msg;
      return rec;
    },

    // an `event` (docs/protocol.md §3): the run's record follows the change
    event(msg) {
      const rec = ensure(msg.run || (order[0] && order[0].id));
      if (Number.isInteger(msg.step)) rec.step = msg.step;
      if (msg.event === "settings" && msg.training && rec.spec) {
        rec.spec = { ...rec.spec, training: msg.training };
        const entry = order.find((r) => r.id === rec.id);
        if (entry && msg.training.optimizer) {
          entry.optimizer = msg.training.optimizer.name;
          entry.learning_rate = msg.training.optimizer.learning_rate;
        }
      } else if (msg.event === "selection" && msg.selected) rec.selected = msg.selected;
      if (Array.isArray(msg.runs)) setOrder(msg.runs);
      // a fork from the present state shares its parent's past: its chart starts with it
      if (msg.event === "compare" && msg.restart === false && msg.parent) {
        const child = records.get(msg.run);
        const parent = records.get(msg.parent);
        if (child && parent && child !== parent) {
          const from = child.evals.length ? child.evals[0].step : Infinity;
          child.evals = [...parent.evals.filter((e) => e.step < from), ...child.evals];
          const fromRow = child.rows.length ? child.rows[0][0] : Infinity;
          child.rows = [...parent.rows.filter((r) => r[0] < fromRow), ...child.rows];
        }
      }
      return rec;
    },

    // a history from the server (§9.2: columns, rows) for a run whose page was reloaded
    seedHistory(id, history) {
      const rec = records.get(id);
      if (!rec || !history || !Array.isArray(history.rows) || !Array.isArray(history.columns)) return;
      const col = Object.fromEntries(history.columns.map((c, i) => [c, i]));
      if (col.loss_mean === undefined) return;
      const from = rec.rows.length ? rec.rows[0][0] : Infinity;
      const rows = [];
      for (const r of history.rows) {
        if (r[0] >= from) break;
        const row = [r[0], r[1], num(r[col.loss_mean]), num(r[col.loss_min]), num(r[col.loss_max])];
        for (let k = 0; k < rec.nLayers; k++) {
          const m = col[`grad_norm_${k}_mean`];
          row.push(num(r[m]), num(r[m + 1]), num(r[m + 2]));
        }
        rows.push(row);
      }
      rec.rows = [...rows, ...rec.rows];
    },

    // the run's history in the shape of `history` (§9.2), plus its evaluations: what the main
    // charts load when this run becomes the main one
    history(id) {
      const rec = records.get(id);
      if (!rec) return null;
      const columns = ["step", "n", "loss_mean", "loss_min", "loss_max"];
      for (let k = 0; k < rec.nLayers; k++) columns.push(`grad_norm_${k}_mean`, `grad_norm_${k}_min`, `grad_norm_${k}_max`);
      const clean = (v) => (Number.isFinite(v) ? v : null);
      return {
        columns, n_layers: rec.nLayers, source: "page",
        rows: rec.rows.map((r) => r.map(clean)),
        evals: rec.evals.map((e) => ({ ...e })),
      };
    },
  };
}

// ------------------------------------------------------------------ what differs

// The paths (a.b.c) at which the specs do not all agree; lists count as one value (a fork
// replaces network.hidden whole). Data is shared by every run, so it never differs.
export function differingPaths(specs) {
  const out = [];
  const list = specs.filter(Boolean);
  if (list.length < 2) return out;
  const isObj = (v) => v && typeof v === "object" && !Array.isArray(v);
  function walk(values, path) {
    if (values.every(isObj)) {
      const keys = new Set();
      for (const v of values) for (const k of Object.keys(v)) keys.add(k);
      for (const k of [...keys].sort()) {
        if (!path && k === "version") continue;
        walk(values.map((v) => v[k]), path ? `${path}.${k}` : k);
      }
      return;
    }
    const first = JSON.stringify(values[0]);
    if (values.some((v) => JSON.stringify(v) !== first)) out.push(path);
  }
  walk(list, "");
  return out;
}

function at(spec, path) {
  return path.split(".").reduce((v, k) => (v && typeof v === "object" ? v[k] : undefined), spec);
}

function titleOf(catalog, group, name) {
  const entry = ((catalog && catalog[group]) || []).find((e) => e.name === name);
  return entry ? entry.title : String(name);
}

function number(v) {
  if (typeof v !== "number") return String(v);
  return String(Number(v.toPrecision(3)));
}

// "4·2 ReLU", "4 ReLU, 2 tanh", with dropout when any layer has it
export function describeHidden(hidden, catalog) {
  if (!Array.isArray(hidden) || !hidden.length) return "no hidden layer";
  const acts = hidden.map((l) => titleOf(catalog, "activations", l.activation));
  const drop = hidden.some((l) => l.dropout > 0);
  if (!drop && acts.every((a) => a === acts[0])) return `${hidden.map((l) => l.units).join("·")} ${acts[0]}`;
  return hidden.map((l, k) => `${l.units} ${acts[k]}${l.dropout > 0 ? ` drop ${number(l.dropout)}` : ""}`).join(", ");
}

// One setting in words, short enough for a run's card and the chart's legend.
export function describeSetting(path, value, catalog) {
  switch (path) {
    case "training.optimizer.learning_rate": return `η ${number(value)}`;
    case "training.optimizer.name": return titleOf(catalog, "optimizers", value);
    case "training.optimizer.momentum": return `momentum ${number(value)}`;
    case "training.batch_size": return `batch ${value}`;
    case "training.regularization": return value === "none" ? "no regularisation" : titleOf(catalog, "regularizations", value);
    case "training.regularization_rate": return `λ ${number(value)}`;
    case "training.loss": return titleOf(catalog, "losses", value);
    case "network.hidden": return describeHidden(value, catalog);
    case "network.output_activation": return `output ${titleOf(catalog, "activations", value)}`;
    case "network.initializer": return titleOf(catalog, "initializers", value).replace("Xavier/Glorot", "Xavier");
    case "network.seed": return `weights seed ${value}`;
    case "training.seed": return `batch seed ${value}`;
    default: {
      const key = path.split(".").pop().replace(/_/g, " ");
      return `${key} ${typeof value === "object" ? JSON.stringify(value) : number(value)}`;
    }
  }
}

// What sets this run apart from the others: its value of every setting that differs.
export function runLabel(spec, paths, catalog) {
  if (!spec) return "";
  const parts = paths.map((p) => describeSetting(p, at(spec, p), catalog));
  return parts.length ? parts.join(" · ") : "same settings";
}

// Every run's label, the main run first: the main run names its value of every setting that
// differs between the runs; each other run names only where it differs from the main run
// ("η 3" beside "η 0.03"; "ReLU" beside "4·3 tanh · η 0.03" when a third run has η 1).
export function runLabels(specs, catalog) {
  const paths = differingPaths(specs);
  const main = specs[0];
  return specs.map((spec, i) => {
    if (!spec) return "";
    if (i === 0 || !main) return runLabel(spec, paths, catalog);
    const own = differingPaths([main, spec]);
    return own.length ? runLabel(spec, own, catalog) : "same settings as the main run";
  });
}

// The fork a draft spec makes of the spec it was copied from: the partial spec a `compare`
// message carries (network and training only; lists whole) and the paths it changes.
export function forkChanges(base, draft) {
  const changes = {};
  const paths = [];
  const isObj = (v) => v && typeof v === "object" && !Array.isArray(v);
  function walk(a, b, path, out) {
    for (const k of Object.keys(b)) {
      const p = path ? `${path}.${k}` : k;
      if (isObj(a && a[k]) && isObj(b[k])) {
        const sub = {};
        walk(a[k], b[k], p, sub);
        if (Object.keys(sub).length) out[k] = sub;
      } else if (JSON.stringify(a ? a[k] : undefined) !== JSON.stringify(b[k])) {
        out[k] = b[k];
        paths.push(p);
      }
    }
  }
  for (const section of ["network", "training"]) {
    if (!draft || !draft[section]) continue;
    const sub = {};
    walk(base && base[section], draft[section], section, sub);
    if (Object.keys(sub).length) changes[section] = sub;
  }
  return { changes, paths };
}

// Settings a running trainer can change (the fork then starts from the present step); any
// other change starts every run again at step 0. The server decides (the ack's `restart`);
// this is only the page's hint before the user presses Start.
const LIVE = [/^training\.optimizer\./, /^training\.batch_size$/, /^training\.regularization(_rate)?$/];
export function forkRestarts(paths) {
  return paths.some((p) => !LIVE.some((re) => re.test(p)));
}
