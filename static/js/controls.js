// The setup panel, built from /api/catalog: data, features, layers, activations, loss,
// initialiser, optimiser, learning rate, batch size, regularisation, dropout, seeds.
// Structural changes send `configure` (a new run); learning rate, regularisation, batch size
// and optimiser go through `set` and keep training (no reset), also while playing.
//
// Side by side (protocol §10): "Compare…" sets up a new run beside the main one. The panel then
// edits a draft (`compareDraft` in the store: the main run's spec when it began, and the spec
// being made) instead of the main run: every change is marked, the shared data cannot change,
// and "Start side by side" sends `compare` with the changes (lists such as the hidden layers
// whole) and a label saying what differs. Learning rate, optimiser, batch size and
// regularisation fork from the present step; anything else starts every run again at step 0
// (the server decides; the panel says which to expect).

import { fmt } from "./colors.js";
import { layerRows, specSummary } from "./layer_summary.js";
import { forkChanges, forkRestarts, runLabel } from "./runs.js";

const LEARNING_RATES = [0.00001, 0.0001, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1, 3, 10];
const REG_RATES = [0, 0.0001, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1, 3, 10];
// the page's own cap (the engine allows more): 32 units still draw as a readable column
const MAX_UNITS_UI = 32;
const MAX_RUNS = 4; // runs side by side in one session (protocol §10)

export function clone(x) {
  return JSON.parse(JSON.stringify(x));
}

export function startControls(store, root) {
  store.subscribe(["spec", "catalog", "compareDraft"], render);
  store.subscribe(["welcome"], render);
  // the number of runs decides whether another may be compared; re-rendered only when it changes
  let runCount = 1;
  store.subscribe(["runs"], (s) => {
    const n = Math.max(1, (s.runs || []).length);
    if (n !== runCount) {
      runCount = n;
      render();
    }
  });
  const drafting = () => store.get("compareDraft");

  // a new setup is a new run: step 0, paused. Said out loud when it interrupts a running one.
  // The lesson card shown goes along (viewers and recordings show it too); a lesson chosen from
  // the menu names itself (options.lesson).
  function configure(spec, options = {}) {
    store.set({ busy: "configure" });
    const wasPlaying = !!store.get("playing");
    const lesson = "lesson" in options ? options.lesson : store.get("lesson");
    return store.command("configure", { spec, ...(lesson ? { lesson } : {}) })
      .then((ack) => {
        if (wasPlaying) {
          store.set({ notice: { message: "New setup: training restarted at step 0 and is paused. Press Play to go on." } });
        }
        return ack;
      })
      .catch((err) => store.set({ lastError: err.reply || { message: String(err) } }))
      .finally(() => store.set({ busy: null }));
  }

  function live(fields) {
    if (drafting()) {
      draftWith((s) => {
        const t = s.training;
        if (fields.learning_rate !== undefined) t.optimizer.learning_rate = fields.learning_rate;
        if (fields.optimizer) t.optimizer.name = fields.optimizer.name;
        if (fields.regularization !== undefined) t.regularization = fields.regularization;
        if (fields.regularization_rate !== undefined) t.regularization_rate = fields.regularization_rate;
        if (fields.batch_size !== undefined) t.batch_size = fields.batch_size;
      });
      return Promise.resolve();
    }
    return store.command("set", fields)
      .then((ack) => {
        const spec = clone(store.get("spec"));
        spec.training = ack.training;
        store.set({ spec });
      })
      .catch((err) => store.set({ lastError: err.reply || { message: String(err) } }));
  }

  function option(value, text, selected) {
    return `<option value="${value}"${selected ? " selected" : ""}>${text}</option>`;
  }

  function select(name, entries, current, attrs = "") {
    return `<select name="${name}" data-testid="ctl-${name}" ${attrs}>${entries
      .map(([v, t]) => option(v, t, String(v) === String(current))).join("")}</select>`;
  }

  function nearest(list, v) {
    let best = list[0];
    for (const x of list) if (Math.abs(Math.log((x || 1e-9) / (v || 1e-9))) < Math.abs(Math.log((best || 1e-9) / (v || 1e-9)))) best = x;
    return best;
  }

  function render() {
    const cat = store.get("catalog");
    const draft = drafting();
    const spec = draft ? draft.spec : store.get("spec");
    if (!cat || !spec) {
      root.innerHTML = `<p class="hint">Loading the catalog…</p>`;
      return;
    }
    const base = draft ? draft.base : spec;
    // a draft's changed settings are marked (a border and the word "changed", not colour alone)
    const mark = (a, b) => (draft && JSON.stringify(a) !== JSON.stringify(b) ? " changed" : "");
    const bt = base.training;
    const bn = base.network;
    const shared = draft ? " disabled" : "";
    const ds = cat.datasets.find((d) => d.name === spec.data.dataset) || {};
    const custom = spec.data.dataset === "custom";
    const acts = cat.activations.filter((a) => !a.output_only);
    const hidden = spec.network.hidden;
    // a typed layer list (convolution, pooling, recurrent layers): shown, not edited here
    const typed = Array.isArray(spec.network.layers) && spec.network.layers.length > 0;
    const lrList = LEARNING_RATES.includes(spec.training.optimizer.learning_rate)
      ? LEARNING_RATES : [...LEARNING_RATES, spec.training.optimizer.learning_rate].sort((a, b) => a - b);
    const regList = REG_RATES.includes(spec.training.regularization_rate)
      ? REG_RATES : [...REG_RATES, spec.training.regularization_rate].sort((a, b) => a - b);
    const nTrain = store.get("snapshot") ? store.get("snapshot").data.train.x.length : 1000;

    let layers = "";
    hidden.forEach((layer, k) => {
      layers += `<div class="layer-row${mark(layer, bn.hidden[k])}" data-layer="${k}">
        <span class="lname">L${k + 1}</span>
        <button type="button" class="pm" data-act="units-" data-layer="${k}" aria-label="fewer neurons in layer ${k + 1}" data-testid="ctl-units-minus-${k}">−</button>
        <span class="units" data-testid="ctl-units-${k}">${layer.units}</span>
        <button type="button" class="pm" data-act="units+" data-layer="${k}" aria-label="more neurons in layer ${k + 1}" data-testid="ctl-units-plus-${k}">+</button>
        ${select(`act-${k}`, acts.map((a) => [a.name, a.title]), layer.activation, `data-layer="${k}" aria-label="activation of layer ${k + 1}"`)}
        <label class="advanced drop" title="dropout rate of layer"><input type="number" name="drop-${k}" data-layer="${k}" min="0" max="0.9" step="0.1" value="${layer.dropout}" aria-label="dropout of layer ${k + 1}"></label>
      </div>`;
    });

    const features = ds.plane
      ? `<fieldset class="features"${shared}><legend>Input features</legend>${cat.features.map((f) => `
        <label class="chip"><input type="checkbox" name="feature" value="${f.name}"
          ${spec.data.features.includes(f.name) ? "checked" : ""}> ${f.label}</label>`).join("")}
        </fieldset>` : "";

    const opt = spec.training.optimizer;
    // the control that had the focus keeps it across the re-render (keyboard use)
    const had = root.contains(document.activeElement) ? document.activeElement : null;
    const focusKey = had ? (had.name ? `[name="${had.name}"]` : had.dataset.testid ? `[data-testid="${had.dataset.testid}"]` : null) : null;
    root.innerHTML = `
      ${compareBox(cat, draft)}
      <section><h2>Data</h2>
        ${draft ? `<p class="desc shared-note">Shared by every run side by side.</p>` : ""}
        <label>Dataset ${select("dataset", [...cat.datasets.map((d) => [d.name, d.title]),
          ...(custom ? [["custom", "Your CSV data"]] : [])], spec.data.dataset, shared)}</label>
        <p class="desc">${custom ? customDescription() : ds.description || ""}</p>
        <label>Noise <output>${Math.round(spec.data.noise * 100)}%</output>
          <input type="range" name="noise" min="0" max="0.5" step="0.05" value="${spec.data.noise}" data-testid="ctl-noise"${shared}></label>
        <label>Train ratio <output>${Math.round(spec.data.train_ratio * 100)}%</output>
          <input type="range" name="train_ratio" min="0.1" max="0.9" step="0.1" value="${spec.data.train_ratio}" data-testid="ctl-train-ratio"${shared}></label>
        <div class="row"><button type="button" data-act="regenerate" data-testid="ctl-regenerate"${shared}>Regenerate data</button>
          <label class="advanced small">seed <input type="number" name="data_seed" min="0" value="${spec.data.seed}"${shared}></label></div>
        ${features}
      </section>
      <section><h2>Network</h2>
        ${typed ? typedLayers(spec, ds) : `<div class="row">Hidden layers
          <button type="button" class="pm" data-act="layers-" aria-label="remove a hidden layer" data-testid="ctl-layers-minus">−</button>
          <span data-testid="ctl-layers">${hidden.length}</span>
          <button type="button" class="pm" data-act="layers+" aria-label="add a hidden layer" data-testid="ctl-layers-plus">+</button></div>
        ${layers}`}
        <label class="${mark(spec.network.output_activation, bn.output_activation)}">Output ${select("output_activation", cat.activations.map((a) => [a.name, a.title]), spec.network.output_activation)}</label>
        <label class="${mark(spec.training.loss, bt.loss)}">Loss ${select("loss", cat.losses.map((l) => [l.name, l.title]), spec.training.loss)}</label>
        <label class="advanced${mark(spec.network.initializer, bn.initializer)}">Initialiser ${select("initializer", cat.initializers.map((i) => [i.name, i.title]), spec.network.initializer)}</label>
        <div class="row advanced"><label class="small${mark(spec.network.seed, bn.seed)}">weights seed <input type="number" name="net_seed" min="0" value="${spec.network.seed}"></label></div>
      </section>
      <section><h2>Training</h2>
        <label class="${mark(opt.learning_rate, bt.optimizer.learning_rate)}">Learning rate η ${select("learning_rate", lrList.map((v) => [v, fmt(v, 2)]), opt.learning_rate)}</label>
        <label class="${mark(opt.name, bt.optimizer.name)}">Optimiser ${select("optimizer", cat.optimizers.map((o) => [o.name, o.title]), opt.name)}</label>
        <label class="${mark(spec.training.batch_size, bt.batch_size)}">Batch size <input type="number" name="batch_size" min="1" max="${nTrain}" value="${spec.training.batch_size}" data-testid="ctl-batch"></label>
        <label class="${mark(spec.training.regularization, bt.regularization)}">Regularisation ${select("regularization", cat.regularizations.map((r) => [r.name, r.title]), spec.training.regularization)}</label>
        <label class="${mark(spec.training.regularization_rate, bt.regularization_rate)}">Rate λ ${select("regularization_rate", regList.map((v) => [v, fmt(v, 2)]), spec.training.regularization_rate)}</label>
        <div class="row advanced"><label class="small${mark(spec.training.seed, bt.seed)}">batch-order seed <input type="number" name="train_seed" min="0" value="${spec.training.seed}"></label></div>
        ${draft ? "" : `<div class="row"><button type="button" data-act="reset" data-testid="ctl-reset" title="back to step 0 with the same initial weights (r)">Reset</button>
          <button type="button" data-act="reinit" data-testid="ctl-reinit" title="step 0 with new random weights">New weights</button></div>`}
      </section>`;
    if (focusKey) {
      const again = root.querySelector(focusKey);
      if (again && !again.disabled) again.focus({ preventScroll: true });
    }
  }

  // The read-only layer list of a typed network: the engine's own records when the snapshot is
  // of this spec (they carry the shapes), else the spec's list and the output layer
  function typedLayers(spec, ds) {
    const snap = store.get("snapshot");
    const same = snap && JSON.stringify(snap.spec.network.layers) === JSON.stringify(spec.network.layers);
    const rows = same ? layerRows(snap.network.layers) : [];
    const summary = same ? rows.map((r) => r[0]).join(" → ") : specSummary(spec.network, ds.n_classes > 2 ? ds.n_classes : 0);
    const table = rows.length ? `<table class="layer-table" data-testid="ctl-layer-table">
      <thead><tr><th scope="col">layer</th><th scope="col">shape</th><th scope="col">f</th></tr></thead>
      <tbody>${rows.map(([w, shape, act], k) => `<tr><td>${k + 1}. ${w}</td><td>${shape}</td><td>${act}</td></tr>`).join("")}</tbody></table>` : "";
    return `<p class="layer-summary" data-testid="ctl-layer-summary">${summary}</p>
      ${table}
      <p class="desc">This network's layers are fixed by its lesson or data set (choose a plane data set for the layer editor); from Python, <code>network.layers</code> takes any list.</p>`;
  }

  // The top of the panel: "Compare…" (a new run beside this one), or, while one is being set
  // up, what it changes so far, what starting it will do, Start and Cancel.
  function compareBox(cat, draft) {
    if (!draft) {
      const full = runCount >= MAX_RUNS;
      const what = runCount > 1 ? `${runCount} runs side by side.` : "Same data, same batches, one change.";
      return `<section class="compare-box" aria-label="compare runs">
        <button type="button" data-act="compare" data-testid="compare" aria-describedby="compare-what"${full ? " disabled" : ""}
          title="Set up a second run beside this one, with the settings you change">Compare…</button>
        <span class="desc" id="compare-what">${full ? `${MAX_RUNS} runs side by side: the most. Close one to compare another.` : what}</span>
      </section>`;
    }
    const { paths } = forkChanges(draft.base, draft.spec);
    const restart = forkRestarts(paths);
    const step = store.get("step") || 0;
    const what = paths.length
      ? `New run: <strong data-testid="compare-label">${escape(runLabel(draft.spec, paths, cat))}</strong>. ${restart
        ? "Every run starts again at step 0."
        : `It starts from step ${step.toLocaleString("en-US")}, where the main run is.`}`
      : "Change any setting below for the new run (marked <em>changed</em>); the data is shared.";
    return `<section class="compare-box drafting" aria-label="new run beside the main one" data-testid="compare-draft">
      <h2>New run beside</h2>
      <p class="desc" role="status" id="compare-what">${what}</p>
      <div class="row"><button type="button" class="primary" data-act="compare-start" data-testid="compare-start"${paths.length ? "" : " disabled"}>Start side by side</button>
        <button type="button" data-act="compare-cancel" data-testid="compare-cancel">Cancel</button></div>
    </section>`;
  }

  function escape(t) {
    return String(t).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  }

  function draftWith(mutate) {
    const d = drafting();
    const spec = clone(d.spec);
    mutate(spec);
    store.set({ compareDraft: { base: d.base, spec } });
  }

  async function startCompare() {
    const d = drafting();
    if (!d) return;
    const { changes, paths } = forkChanges(d.base, d.spec);
    if (!paths.length) return;
    const label = runLabel(d.spec, paths, store.get("catalog")).slice(0, 60);
    try {
      const ack = await store.command("compare", { changes, label });
      store.set({ compareDraft: null, drawerOpen: false });
      store.set({ notice: { message: ack.restart
        ? `Side by side: “${label}” beside the main run; every run starts again at step 0.`
        : `Side by side: “${label}” starts from step ${ack.runs && ack.runs[0] ? ack.runs[0].step : ""} beside the main run.` } });
    } catch (err) {
      store.set({ lastError: err.reply || { message: String(err && err.message) } });
    }
  }

  // an uploaded CSV (File → Use your own data): names only, escaped (they come from the file)
  function customDescription() {
    const snap = store.get("snapshot");
    const d = snap ? snap.data : null;
    if (!d) return "Uploaded CSV data.";
    const esc = (t) => String(t).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
    return `Uploaded CSV: ${esc((d.input_names || []).join(", "))} → ${esc(d.target_name || "target")}`;
  }

  function specWith(mutate) {
    const d = drafting();
    const spec = clone(d ? d.spec : store.get("spec"));
    mutate(spec);
    return spec;
  }

  // output activation and loss belong together for the fused losses
  function fixLoss(spec, cat, changed) {
    const loss = cat.losses.find((l) => l.name === spec.training.loss);
    if (changed === "loss" && loss && loss.requires_output) {
      spec.network.output_activation = loss.requires_output;
    }
    if (changed === "output") {
      const needing = cat.losses.find((l) => l.requires_output === spec.network.output_activation);
      if (loss && loss.requires_output && loss.requires_output !== spec.network.output_activation) {
        spec.training.loss = needing ? needing.name : "mse";
      }
    }
  }

  root.addEventListener("change", (event) => {
    const el = event.target;
    const cat = store.get("catalog");
    const name = el.name;
    if (!name) return;
    if (name === "learning_rate") return void live({ learning_rate: Number(el.value) });
    if (name === "regularization") return void live({ regularization: el.value });
    if (name === "regularization_rate") return void live({ regularization_rate: Number(el.value) });
    if (name === "batch_size") {
      const v = Math.round(Number(el.value));
      if (v >= 1) live({ batch_size: v });
      return undefined;
    }
    if (name === "optimizer") return void live({ optimizer: { name: el.value } });
    let spec;
    if (name === "dataset") {
      spec = specWith((s) => {
        s.data.dataset = el.value;
        s.data.n_samples = null;
        const ds = cat.datasets.find((d) => d.name === el.value);
        // images and sequences take the data set's own starter network (a CNN, an RNN); back
        // on a plane or a table, the dense layers of the default setup
        if (ds && (ds.family === "image" || ds.family === "sequence") && ds.starter) {
          s.network.layers = clone(ds.starter.network.layers);
          s.network.hidden = [];
          s.network.output_activation = ds.starter.network.output_activation;
          s.training.loss = ds.starter.training.loss;
          return;
        }
        if (Array.isArray(s.network.layers) && s.network.layers.length) {
          s.network.layers = null;
          s.network.hidden = clone(cat.default_spec.network.hidden);
        }
        if (ds && !ds.plane) s.data.features = ["x1", "x2"];
        if (ds && ds.n_classes > 2) {
          s.network.output_activation = "softmax";
          s.training.loss = "cce";
        } else if (s.network.output_activation === "softmax") {
          s.network.output_activation = ds && ds.task === "regression" ? "linear" : "tanh";
          s.training.loss = "mse";
        }
        if (ds && ds.task === "regression" && s.training.loss !== "mse") {
          s.network.output_activation = "linear";
          s.training.loss = "mse";
        }
      });
    } else if (name === "noise") spec = specWith((s) => { s.data.noise = Number(el.value); });
    else if (name === "train_ratio") spec = specWith((s) => { s.data.train_ratio = Number(el.value); });
    else if (name === "data_seed") spec = specWith((s) => { s.data.seed = Math.max(0, Math.round(Number(el.value))); });
    else if (name === "net_seed") spec = specWith((s) => { s.network.seed = Math.max(0, Math.round(Number(el.value))); });
    else if (name === "train_seed") spec = specWith((s) => { s.training.seed = Math.max(0, Math.round(Number(el.value))); });
    else if (name === "feature") {
      const checked = [...root.querySelectorAll('input[name="feature"]:checked')].map((x) => x.value);
      if (!checked.length) {
        el.checked = true;
        return undefined;
      }
      spec = specWith((s) => { s.data.features = checked; });
    } else if (name.startsWith("act-")) {
      const k = Number(el.dataset.layer);
      spec = specWith((s) => { s.network.hidden[k].activation = el.value; });
    } else if (name.startsWith("drop-")) {
      const k = Number(el.dataset.layer);
      spec = specWith((s) => { s.network.hidden[k].dropout = Math.max(0, Math.min(0.9, Number(el.value) || 0)); });
    } else if (name === "output_activation") {
      spec = specWith((s) => {
        s.network.output_activation = el.value;
        fixLoss(s, cat, "output");
      });
    } else if (name === "loss") {
      spec = specWith((s) => {
        s.training.loss = el.value;
        fixLoss(s, cat, "loss");
      });
    } else if (name === "initializer") spec = specWith((s) => { s.network.initializer = el.value; });
    if (spec) apply(spec);
    return undefined;
  });

  // a new setup: for the main run, or for the draft of a run beside it
  function apply(spec) {
    const d = drafting();
    if (d) store.set({ compareDraft: { base: d.base, spec } });
    else configure(spec);
  }

  root.addEventListener("input", (event) => {
    const el = event.target;
    if (el.type === "range") {
      const out = el.parentElement.querySelector("output");
      if (out) out.textContent = `${Math.round(Number(el.value) * 100)}%`;
    }
  });

  root.addEventListener("click", (event) => {
    const btn = event.target.closest("button[data-act]");
    if (!btn) return;
    const act = btn.dataset.act;
    if (act === "compare") {
      const spec = store.get("spec");
      if (spec) store.set({ compareDraft: { base: clone(spec), spec: clone(spec) } });
      requestAnimationFrame(() => {
        const next = root.querySelector("[data-act=compare-cancel]");
        if (next) next.focus({ preventScroll: true });
      });
      return;
    }
    if (act === "compare-cancel") {
      store.set({ compareDraft: null });
      requestAnimationFrame(() => {
        const back = root.querySelector("[data-act=compare]");
        if (back) back.focus({ preventScroll: true });
      });
      return;
    }
    if (act === "compare-start") {
      startCompare();
      return;
    }
    const maxLayers = Math.min(10, (store.get("catalog") || {}).limits?.max_hidden_layers || 10);
    if (act === "regenerate") {
      store.command("regenerate", { seed: null }).catch(() => {});
      return;
    }
    if (act === "reset") {
      store.command("reset", { reinitialize: false }).catch(() => {});
      return;
    }
    if (act === "reinit") {
      store.command("reset", { reinitialize: true }).catch(() => {});
      return;
    }
    let spec = null;
    if (act === "layers+") {
      spec = specWith((s) => {
        if (s.network.hidden.length >= maxLayers) return;
        const last = s.network.hidden[s.network.hidden.length - 1];
        s.network.hidden.push({ units: last ? last.units : 4, activation: last ? last.activation : "tanh", dropout: 0 });
      });
    } else if (act === "layers-") {
      spec = specWith((s) => { s.network.hidden.pop(); });
    } else if (act === "units+" || act === "units-") {
      const k = Number(btn.dataset.layer);
      spec = specWith((s) => {
        // "+" stops at the cap and never shrinks a layer that is already wider (from a link)
        const units = s.network.hidden[k].units;
        s.network.hidden[k].units = act === "units+" ? (units >= MAX_UNITS_UI ? units : units + 1)
          : Math.max(1, units - 1);
      });
    }
    if (spec) apply(spec);
  });

  // a new setup for the main run (configure) or read-only now: the draft is dropped
  store.subscribe(["snapshot"], (s) => {
    const d = drafting();
    if (d && !["compare", "request", "resume", "switch"].includes(s.snapshot.reason)) {
      store.set({ compareDraft: null });
    }
  });
  store.subscribe(["readOnly", "replaying"], (s) => {
    if ((s.readOnly || s.replaying) && drafting()) store.set({ compareDraft: null });
  });

  render();
  return { configure };
}
