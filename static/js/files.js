// The "File" menu (protocol §9.2–9.5): save / open / rename / delete experiments, share links
// (`/e/<id>` opens the experiment on load), downloads of the state (JSON, NPZ) and the loss
// history (CSV), import of a state file, recording a run, replaying a recording (replay.js)
// and training on an uploaded CSV file. Uploads are raw-body POSTs answered with a token that
// a WebSocket message then uses; downloads are URLs from an ack.

import { clear, download, errorText, h, menu, modal } from "./ui.js";

const OWNER_PREFIX = "propscope.owner.";
const OPENED_KEY = "propscope.opened";
const $ = (id) => document.getElementById(id);

function ownerToken(id) {
  try {
    return localStorage.getItem(OWNER_PREFIX + id);
  } catch {
    return null;
  }
}

function setOwnerToken(id, token) {
  try {
    if (token) localStorage.setItem(OWNER_PREFIX + id, token);
    else localStorage.removeItem(OWNER_PREFIX + id);
  } catch {
    /* storage disabled: this browser cannot rename or delete it later */
  }
}

async function httpJson(url, options = {}) {
  const r = await fetch(url, options);
  let data = null;
  try {
    data = await r.json();
  } catch {
    data = null;
  }
  if (!r.ok) {
    const e = (data && data.error) || { code: `http_${r.status}`, message: `${r.status} ${r.statusText}` };
    throw Object.assign(new Error(e.message || e.code), { reply: e, status: r.status });
  }
  return data;
}

// "Line 7, column "price": "abc" is not a number"
export function csvProblem(e) {
  if (!e) return "";
  const where = [];
  if (e.row !== null && e.row !== undefined) where.push(`line ${e.row}`);
  if (e.column !== null && e.column !== undefined) where.push(`column “${e.column}”`);
  const text = e.reason || e.message || e.code || "invalid file";
  if (!where.length) return text;
  const w = where.join(", ");
  return `${w[0].toUpperCase()}${w.slice(1)}: ${text}`;
}

export function startFiles(store, { replay }) {
  const fileBtn = $("btn-file");
  const fileMenu = $("file-menu");
  menu(fileBtn, fileMenu);
  const saveDlg = modal($("save-dialog"));
  const openDlg = modal($("open-dialog"));
  const csvDlg = modal($("csv-dialog"));

  function report(err) {
    const reply = err && err.reply;
    if (reply && reply.local) {
      store.set({ lastError: { message: reply.message } });
      return;
    }
    store.set({ lastError: reply || { message: String(err && err.message) } });
  }
  function note(message) {
    store.set({ notice: { message, at: Date.now() } });
  }

  // ------------------------------------------------------------------ save
  $("save-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const name = $("save-name").value.trim();
    const button = $("save-form").querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const ack = await store.command("save", { name });
      const exp = ack.experiment;
      setOwnerToken(exp.id, ack.owner_token);
      store.set({ savedExperiment: exp });
      const url = ack.share_url || `${location.origin}${exp.share_path}`;
      const out = clear($("save-result"));
      out.append(
        h("p", {}, "Saved “", h("strong", {}, exp.name), `” at step ${exp.step}. Share link:`),
        h("p", { class: "share" },
          h("a", { href: exp.share_path, target: "_blank", rel: "noopener", dataset: { testid: "share-link", id: exp.id } }, url),
          " ",
          h("button", { type: "button", onclick: () => copy(url) }, "Copy")),
      );
      out.hidden = false;
      $("save-form").hidden = true;
    } catch (err) {
      report(err);
    } finally {
      button.disabled = false;
    }
  });

  function copy(text) {
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(text).then(() => note("Link copied."), () => note(text));
    } else note(text);
  }

  function openSave() {
    const spec = store.get("spec");
    const ds = spec ? spec.data.dataset : "";
    $("save-name").value = `${ds} · step ${store.get("step") || 0}`;
    $("save-form").hidden = false;
    $("save-result").hidden = true;
    saveDlg.open();
    $("save-name").select();
  }

  // ------------------------------------------------------------------ open / rename / delete
  let listOffset = 0;
  async function loadList(more = false) {
    const list = $("exp-list");
    if (!more) {
      listOffset = 0;
      clear(list).append(h("p", { class: "hint" }, "Loading…"));
    }
    try {
      const data = await httpJson(`/api/experiments?limit=50&offset=${listOffset}&mine=${Object.keys(localStorage).filter((k) => k.startsWith(OWNER_PREFIX)).map((k) => k.slice(OWNER_PREFIX.length)).slice(-200).concat(sessionStorage.getItem(OPENED_KEY) || []).join(",")}`);
      if (!more) clear(list);
      if (!data.experiments.length && !more) list.append(h("p", { class: "hint" }, "Nothing saved yet. Use File → Save experiment…"));
      for (const e of data.experiments) list.append(row(e));
      listOffset += data.experiments.length;
      $("exp-more").hidden = listOffset >= data.total;
    } catch (err) {
      clear(list).append(h("p", { class: "csv-error" }, `Cannot list the experiments: ${errorText(err)}`));
    }
  }

  function when(t) {
    try {
      return new Date(t * 1000).toLocaleString();
    } catch {
      return "";
    }
  }

  function row(e) {
    const token = ownerToken(e.id);
    const name = h("span", { class: "exp-name" }, e.name);
    const el = h("div", { class: "exp-row", dataset: { id: e.id, testid: "exp-row" } },
      h("div", { class: "exp-main" }, name,
        h("small", {}, `${e.dataset} · step ${e.step.toLocaleString("en-US")} · ${when(e.updated)}`)),
      h("div", { class: "exp-buttons" },
        h("button", { type: "button", class: "primary", dataset: { testid: "exp-open" }, onclick: () => openExperiment(e.id, { close: true }) }, "Open"),
        h("a", { href: e.share_path, target: "_blank", rel: "noopener", class: "button-like", title: "The share link: opens a copy in a new tab" }, "Link"),
        token ? h("button", { type: "button", dataset: { testid: "exp-rename" }, onclick: () => rename(e, el, name) }, "Rename") : null,
        token ? h("button", { type: "button", class: "danger", dataset: { testid: "exp-delete" }, onclick: () => remove(e, el) }, "Delete") : null));
    return el;
  }

  function rename(e, el, nameEl) {
    const input = h("input", { type: "text", value: e.name, maxlength: 200, "aria-label": "new name" });
    const form = h("form", { class: "exp-rename" }, input, h("button", { type: "submit" }, "OK"));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        const updated = await httpJson(`/api/experiments/${encodeURIComponent(e.id)}`, {
          method: "PATCH",
          headers: { "Content-Type": "application/json", "X-Owner-Token": ownerToken(e.id) || "" },
          body: JSON.stringify({ name: input.value }),
        });
        el.replaceWith(row(updated));
      } catch (err) {
        report(err);
      }
    });
    nameEl.replaceWith(form);
    input.focus();
    input.select();
  }

  async function remove(e, el) {
    const confirmBtn = h("button", { type: "button", class: "danger", dataset: { testid: "exp-delete-confirm" } }, `Delete “${e.name}” for good`);
    const buttons = el.querySelector(".exp-buttons");
    clear(buttons).append(confirmBtn, h("button", { type: "button", onclick: () => el.replaceWith(row(e)) }, "Keep"));
    confirmBtn.addEventListener("click", async () => {
      try {
        await httpJson(`/api/experiments/${encodeURIComponent(e.id)}`, {
          method: "DELETE", headers: { "X-Owner-Token": ownerToken(e.id) || "" },
        });
        setOwnerToken(e.id, null);
        el.remove();
      } catch (err) {
        report(err);
      }
    });
  }

  // Open an experiment in this session, then draw its saved loss history in the charts.
  async function openExperiment(id, { close = false } = {}) {
    try {
      const ack = await store.command("open", { experiment: id });
      if (close) openDlg.close();
      try {
        sessionStorage.setItem(OPENED_KEY, id);
      } catch {
        /* ignore */
      }
      note(`Opened “${ack.experiment.name}” at step ${ack.step}.`);
      store.set({ openedExperiment: ack.experiment });
      const full = await httpJson(`/api/experiments/${encodeURIComponent(id)}`);
      const m = historyAsMetrics(full.history);
      if (m) store.set({ metrics: m });
    } catch (err) {
      report(err);
    }
  }

  // The saved history (§9.2) as one `metrics` message, so the charts take it the usual way.
  function historyAsMetrics(history) {
    if (!history || !history.rows || !history.rows.length) return null;
    const col = (name) => history.columns.indexOf(name);
    const pick = (name) => history.rows.map((r) => (col(name) >= 0 ? r[col(name)] : null));
    const stat = (prefix) => ({ mean: pick(`${prefix}_mean`), min: pick(`${prefix}_min`), max: pick(`${prefix}_max`) });
    const grad = [];
    for (let k = 0; k < (history.n_layers || 0); k++) grad.push(stat(`grad_norm_${k}`));
    const steps = pick("step");
    const n = pick("n");
    return {
      type: "metrics", history: true,
      from_step: steps[0] - (n[0] || 1) + 1, to_step: steps[steps.length - 1],
      count: n.reduce((a, b) => a + (b || 0), 0),
      buckets: { step: steps, n, loss: stat("loss"), data_loss: stat("data_loss"), penalty: stat("penalty"), grad_norms: grad },
      eval: null,
    };
  }

  // a share link /e/<id>: open it once per tab (a reload resumes the session instead)
  const expId = document.body.dataset.experimentId;
  if (expId) {
    const unsubscribe = store.subscribe(["snapshot"], () => {
      unsubscribe();
      let done = null;
      try {
        done = sessionStorage.getItem(OPENED_KEY);
      } catch {
        done = null;
      }
      if (done !== expId) openExperiment(expId);
    });
  }

  // ------------------------------------------------------------------ export / import
  async function exportAs(format) {
    try {
      const ack = await store.command("export", { format });
      download(ack.url, ack.filename);
      note(`Downloading ${ack.filename} (step ${ack.step}).`);
    } catch (err) {
      report(err);
    }
  }

  async function importFile(file) {
    try {
      const up = await httpJson("/api/import", { method: "POST", body: file });
      const ack = await store.command("open_import", { token: up.import_token });
      note(`Imported ${file.name}: step ${ack.step}.`);
    } catch (err) {
      report(err);
      if (err.reply && err.reply.code === "invalid_import") store.set({ lastError: { message: `${file.name}: ${err.reply.message}` } });
    }
  }
  $("import-file").addEventListener("change", (event) => {
    const file = event.target.files && event.target.files[0];
    event.target.value = "";
    if (file) importFile(file);
  });

  // ------------------------------------------------------------------ recording
  const recBtn = $("rec-indicator");
  const recItem = fileMenu.querySelector("[data-file=record]");
  async function toggleRecording() {
    if (store.get("recording")) {
      try {
        const ack = await store.command("record_stop");
        store.set({ recording: null });
        download(ack.url, ack.filename);
        note(`Recorded ${ack.messages} messages (${ack.duration.toFixed(1)} s)${ack.truncated ? ", cut at the size limit" : ""}: downloading ${ack.filename}.`);
      } catch (err) {
        store.set({ recording: null });
        report(err);
      }
    } else {
      try {
        await store.command("record_start");
        store.set({ recording: { since: Date.now() } });
      } catch (err) {
        report(err);
      }
    }
  }
  store.subscribe(["recording"], (s) => {
    recBtn.hidden = !s.recording;
    recItem.textContent = s.recording ? "Stop recording and download" : "Record this run";
    document.body.classList.toggle("is-recording", !!s.recording);
  });
  recBtn.addEventListener("click", toggleRecording);
  // a new socket session (not resumed) is not recording
  store.subscribe(["welcome"], (s) => {
    if (!s.welcome.resumed && store.get("recording")) store.set({ recording: null });
  });

  // ------------------------------------------------------------------ CSV upload
  let preview = null;
  const csvErr = $("csv-error");
  function showCsvError(text) {
    csvErr.textContent = text;
    csvErr.hidden = !text;
  }

  async function uploadCsv(file) {
    showCsvError("");
    $("csv-preview").hidden = true;
    $("csv-train").disabled = true;
    preview = null;
    try {
      preview = await httpJson("/api/csv/preview", { method: "POST", body: file, headers: { "Content-Type": "text/csv" } });
    } catch (err) {
      const e = err.reply || {};
      showCsvError(`${file.name}: ${e.code === "invalid_csv" ? csvProblem(e) : errorText(err)}`);
      return;
    }
    preview.fileName = file.name;
    renderPreview();
  }

  function guessTask(target) {
    if (!preview) return "";
    const i = preview.columns.indexOf(target);
    if (!preview.numeric[target]) return "classification";
    const values = preview.rows.map((r) => Number(r[i]));
    const ints = values.every((v) => Number.isInteger(v));
    return ints && new Set(values).size <= 3 ? "classification" : "regression";
  }

  function renderPreview() {
    const p = preview;
    $("csv-summary").textContent = `${p.fileName}: ${p.n_rows.toLocaleString("en-US")} rows, ${p.columns.length} columns. The first ${p.rows.length} rows:`;
    const table = clear($("csv-table"));
    table.append(h("thead", {}, h("tr", {}, p.columns.map((c) => h("th", {}, c, p.numeric[c] ? "" : h("small", {}, " text"))))));
    table.append(h("tbody", {}, p.rows.map((r) => h("tr", {}, r.map((cell) => h("td", {}, cell))))));
    const target = clear($("csv-target"));
    for (const c of p.columns) target.append(h("option", { value: c }, c));
    target.value = p.columns[p.columns.length - 1];
    renderFeatures();
    $("csv-task").value = "";
    $("csv-preview").hidden = false;
    $("csv-train").disabled = false;
  }

  function renderFeatures() {
    const target = $("csv-target").value;
    const holder = clear($("csv-features"));
    for (const c of preview.columns) {
      if (c === target) continue;
      holder.append(h("label", { class: "chip" },
        h("input", { type: "checkbox", value: c, checked: true }), ` ${c}`));
    }
    $("csv-task").options[0].textContent = `automatic (${guessTask(target)}?)`;
  }
  $("csv-target").addEventListener("change", renderFeatures);

  $("csv-train").addEventListener("click", async () => {
    if (!preview) return;
    const target = $("csv-target").value;
    const features = [...$("csv-features").querySelectorAll("input:checked")].map((x) => x.value);
    if (!features.length) {
      showCsvError("Choose at least one input column.");
      return;
    }
    const task = $("csv-task").value || null;
    const kind = task || guessTask(target);
    const spec = JSON.parse(JSON.stringify(store.get("spec") || {}));
    const network = spec.network || {};
    const training = spec.training || {};
    if (kind === "regression") {
      network.output_activation = "linear";
      training.loss = "mse";
    } else if (network.output_activation === "linear") {
      network.output_activation = "tanh";
      training.loss = "mse";
    }
    training.batch_size = Math.min(training.batch_size || 10, 10);
    showCsvError("");
    $("csv-train").disabled = true;
    try {
      const ack = await store.command("configure_csv", {
        spec: { network, training }, dataset_token: preview.dataset_token, target, features, task,
      });
      const d = ack.dataset;
      note(`Training on ${preview.fileName}: ${d.task}, ${d.inputs.length} inputs → ${d.target}, ${d.n_train} training / ${d.n_test} test rows.`);
      csvDlg.close();
    } catch (err) {
      const e = err.reply || {};
      if (e.code === "invalid_csv") showCsvError(csvProblem({ ...(e.details || {}), message: e.message }));
      else if (e.code === "not_found") showCsvError("The upload expired: choose the file again.");
      else showCsvError(errorText(err) + (e.details && e.details.problems ? ` — ${e.details.problems.map((q) => q.join(": ")).join("; ")}` : ""));
    } finally {
      $("csv-train").disabled = !preview;
    }
  });

  $("csv-file").addEventListener("change", (event) => {
    const file = event.target.files && event.target.files[0];
    event.target.value = "";
    if (file) uploadCsv(file);
  });
  const drop = $("csv-drop");
  drop.addEventListener("dragover", (event) => {
    event.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    const file = event.dataTransfer && event.dataTransfer.files[0];
    if (file) uploadCsv(file);
  });

  // ------------------------------------------------------------------ the menu
  fileMenu.addEventListener("click", (event) => {
    const item = event.target.closest("button[data-file]");
    if (!item) return;
    const what = item.dataset.file;
    if (what === "save") openSave();
    else if (what === "open") {
      loadList();
      openDlg.open();
    } else if (what === "export-json") exportAs("json");
    else if (what === "export-npz") exportAs("npz");
    else if (what === "export-csv") exportAs("csv");
    else if (what === "import") $("import-file").click();
    else if (what === "record") toggleRecording();
    else if (what === "replay") replay.choose();
    else if (what === "csv") {
      showCsvError("");
      csvDlg.open();
    }
  });
  $("exp-more").addEventListener("click", () => loadList(true));

  // while following the teacher or replaying, the menu offers only what works
  store.subscribe(["readOnly", "replaying", "role"], (s) => {
    const locked = !!s.readOnly || !!s.replaying;
    for (const b of fileMenu.querySelectorAll("button[data-file]")) {
      const f = b.dataset.file;
      b.disabled = locked && f !== "replay";
    }
  });

  return { openExperiment, exportAs, importFile, toggleRecording, uploadCsv };
}
