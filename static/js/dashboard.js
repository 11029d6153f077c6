// The teacher's class dashboard (protocol §9.8): every student's copy in one table, from the
// server's `class_dashboard` (about twice a second): nickname, step, train / test loss, accuracy,
// the settings it changed from the teacher's (the server's diff) and a thumbnail of its decision
// boundary (the copy's own grid frame, quantised by the server). Sortable by every column (the
// header buttons, keyboard too). Per row: project it to the room. Above: pause all, push one of
// the teacher's settings to every copy, lock / release controls, hide names, export CSV.
//
// Rows are kept per student and updated in place (a focused button stays focused while the
// numbers change); nothing here computes a number, it only formats the server's.

import { CLASS_COLORS, DIVERGING_LUT, fmt } from "./colors.js";
import { clear, errorText, h, lockIcon, modal } from "./ui.js";

const $ = (id) => document.getElementById(id);

const COLUMNS = [
  { key: "thumb", title: "Boundary", sortable: false },
  { key: "nickname", title: "Student" },
  { key: "step", title: "Step", num: true },
  { key: "train_loss", title: "Train loss", num: true },
  { key: "test_loss", title: "Test loss", num: true },
  { key: "accuracy", title: "Accuracy", num: true },
  { key: "changed", title: "Changed from yours" },
  { key: "project", title: "Show to the room", sortable: false },
];

const PUSHABLE = ["learning_rate", "optimizer", "batch_size", "regularization", "activation", "network", "data"];

export const pct = (v) => (v === null || v === undefined ? "—" : `${(v * 100).toFixed(1)}%`);

// sort key of a row for a column (null last, whatever the direction)
function keyOf(row, key) {
  if (key === "changed") return row.changed.length;
  if (key === "nickname") return (row.nickname || "").toLocaleLowerCase();
  return row[key];
}

export function sortRows(rows, key, dir) {
  const sign = dir === "descending" ? -1 : 1;
  return [...rows].sort((a, b) => {
    const x = keyOf(a, key);
    const y = keyOf(b, key);
    if (x === null || x === undefined) return y === null || y === undefined ? 0 : 1;
    if (y === null || y === undefined) return -1;
    if (typeof x === "string") return sign * x.localeCompare(y);
    return sign * (x - y);
  });
}

export function startDashboard(store) {
  const dialog = modal($("class-dialog"));
  const table = $("class-table");
  const body = table.querySelector("tbody");
  const status = $("class-status");
  let sort = { key: "nickname", dir: "ascending" };
  const rows = new Map(); // id → {tr, cells, thumb, drawn}
  let order = "";

  // ------------------------------------------------------------------ header and toolbar
  const headRow = clear(table.querySelector("thead tr"));
  for (const col of COLUMNS) {
    const th = h("th", { scope: "col", dataset: { key: col.key }, class: col.num ? "num" : null });
    if (col.sortable === false) th.textContent = col.title;
    else {
      th.append(h("button", { type: "button", class: "sort", "data-testid": `class-sort-${col.key}`,
        onclick: () => setSort(col.key) }, col.title, h("span", { class: "sort-mark", "aria-hidden": "true" })));
    }
    headRow.append(th);
  }

  function setSort(key) {
    sort = { key, dir: sort.key === key && sort.dir === "ascending" ? "descending" : "ascending" };
    render();
  }

  function report(err) {
    status.textContent = errorText(err);
  }

  async function command(type, fields, done) {
    try {
      const ack = await store.command(type, fields);
      if (done) status.textContent = done(ack);
      return ack;
    } catch (err) {
      report(err);
      return null;
    }
  }

  $("class-pause").addEventListener("click", () =>
    command("class_pause_all", {}, (a) => `Paused ${a.copies} cop${a.copies === 1 ? "y" : "ies"}.`));
  $("class-push").addEventListener("click", () => {
    const control = $("class-push-control").value;
    const label = $("class-push-control").selectedOptions[0].textContent;
    command("class_push", { controls: [control] }, (a) => `Your ${label} went to ${a.copies} cop${a.copies === 1 ? "y" : "ies"}.`);
  });
  $("class-hide").addEventListener("change", (e) => command("class_hide_names", { hide: e.target.checked }));
  $("class-unproject").addEventListener("click", () => command("class_project", { student: null }, () => "The room follows your run again."));
  $("class-export").addEventListener("click", async () => {
    const ack = await command("class_export", {}, () => "Exported the class's results (CSV).");
    if (!ack) return;
    const url = URL.createObjectURL(new Blob([ack.csv], { type: "text/csv" }));
    const a = h("a", { href: url, download: ack.filename, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  });

  let lockable = null;
  function renderTools(board) {
    if (!lockable) {
      lockable = board.lockable;
      const push = clear($("class-push-control"));
      for (const c of PUSHABLE) push.append(h("option", { value: c }, lockable[c]));
      const locks = clear($("class-locks"));
      for (const [c, label] of Object.entries(lockable)) {
        locks.append(h("label", { class: "chip lock-chip" }, lockIcon(),
          h("input", { type: "checkbox", value: c, "data-testid": `class-lock-${c}`,
            onchange: (e) => command("class_lock", { controls: [c], locked: e.target.checked },
              (a) => (a.locks.length ? `Locked for students: ${a.locks.map((x) => lockable[x]).join(", ")}.` : "Nothing is locked.")) }),
          ` ${label}`));
      }
    }
    for (const box of $("class-locks").querySelectorAll("input")) box.checked = board.locks.includes(box.value);
    $("class-hide").checked = board.hide_names;
    $("class-unproject").hidden = !board.projected;
  }

  // ------------------------------------------------------------------ rows
  function makeRow(r) {
    const cells = {};
    const tr = h("tr", { dataset: { id: r.id }, "data-testid": "class-row" });
    for (const col of COLUMNS) {
      const td = h(col.key === "nickname" ? "th" : "td", {
        class: col.num ? "num" : null, dataset: { col: col.key },
        ...(col.key === "nickname" ? { scope: "row" } : {}),
      });
      cells[col.key] = td;
      tr.append(td);
    }
    const thumb = h("canvas", { class: "class-thumb", width: 16, height: 16, role: "img", "aria-label": "no decision boundary yet" });
    cells.thumb.append(thumb);
    const project = h("button", { type: "button", class: "project", "aria-pressed": "false", "data-testid": "class-project",
      onclick: () => {
        const on = project.getAttribute("aria-pressed") !== "true";
        command("class_project", { student: on ? r.id : null },
          () => (on ? `The room now sees ${tr.dataset.name || "this student"}'s copy.` : "The room follows your run again."));
      } }, "Project");
    cells.project.append(project);
    return { tr, cells, thumb, project, drawn: null };
  }

  function updateRow(rec, r, board) {
    const c = rec.cells;
    rec.tr.dataset.name = r.nickname || "";
    c.nickname.textContent = r.nickname || "(no name)";
    if (!r.connected) c.nickname.append(h("span", { class: "away" }, " · away"));
    else if (r.playing) c.nickname.append(h("span", { class: "playing" }, " · ▶"));
    for (const key of ["step", "train_loss", "test_loss", "accuracy"]) {
      const v = r[key];
      c[key].dataset.value = v === null || v === undefined ? "" : String(v);
      c[key].textContent = key === "step" ? (v ?? "—") : key === "accuracy" ? pct(v) : fmt(v);
    }
    const changed = r.changed.map((x) => x.text).join(", ");
    c.changed.textContent = r.has_copy ? changed || "nothing" : "no copy yet";
    c.changed.classList.toggle("none", !changed);
    c.changed.dataset.value = changed;
    const on = board.projected === r.id;
    rec.project.setAttribute("aria-pressed", String(on));
    rec.project.textContent = on ? "Projecting" : "Project";
    const whose = r.nickname ? `${r.nickname}'s copy` : "this copy";
    rec.project.setAttribute("aria-label", on ? `Projecting ${whose}: press to stop` : `Project ${whose} to the room`);
    rec.project.disabled = !r.has_copy;
    rec.tr.classList.toggle("projected", on);
    if (r.thumb && rec.drawn !== r.thumb.cells) {
      paintThumb(rec.thumb, r.thumb);
      rec.thumb.setAttribute("aria-label", `decision boundary of ${r.nickname || "this copy"} at step ${r.thumb.step}`);
      rec.drawn = r.thumb.cells;
    }
  }

  function render() {
    const board = store.get("classDashboard");
    if (!board) return;
    renderTools(board);
    const n = board.rows.length;
    $("class-count").textContent = `· ${board.code} · ${n} student${n === 1 ? "" : "s"}`;
    $("class-projector").href = `/r/${encodeURIComponent(board.code)}?view=projector#presenter=1`;
    $("class-empty").hidden = n > 0;
    const seen = new Set();
    for (const r of board.rows) {
      seen.add(r.id);
      if (!rows.has(r.id)) rows.set(r.id, makeRow(r));
      updateRow(rows.get(r.id), r, board);
    }
    for (const [id, rec] of rows) {
      if (!seen.has(id)) {
        rec.tr.remove();
        rows.delete(id);
      }
    }
    const sorted = sortRows(board.rows, sort.key, sort.dir);
    const next = sorted.map((r) => r.id).join(",");
    if (next !== order || body.children.length !== sorted.length) {
      // move only what is out of place (a focused button keeps its focus when it stays put)
      sorted.forEach((r, i) => {
        const tr = rows.get(r.id).tr;
        if (body.children[i] !== tr) body.insertBefore(tr, body.children[i] || null);
      });
      order = next;
    }
    for (const th of headRow.children) {
      if (th.dataset.key === sort.key) th.setAttribute("aria-sort", sort.dir);
      else th.removeAttribute("aria-sort");
      const mark = th.querySelector(".sort-mark");
      if (mark) mark.textContent = th.dataset.key === sort.key ? (sort.dir === "ascending" ? " ▲" : " ▼") : "";
    }
  }

  function open() {
    dialog.open();
    store.command("class_dashboard", {}).then((ack) => store.set({ classDashboard: { ...ack, type: "class_dashboard" } }), report);
  }

  store.subscribe(["classDashboard"], render);
  $("room-dashboard").addEventListener("click", () => {
    $("room-dialog").close();
    open();
  });
  return { open };
}

// the copy's output over the input plane, as the server quantised it: one value a cell (0…255
// on the output activation's range) or the class with the largest output
export function paintThumb(canvas, thumb) {
  const n = thumb.size;
  canvas.width = n;
  canvas.height = n;
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(n, n);
  const bytes = Uint8Array.from(atob(thumb.cells), (ch) => ch.charCodeAt(0));
  for (let i = 0; i < n * n; i++) {
    let rgb;
    if (thumb.kind === "class") {
      const hex = CLASS_COLORS[bytes[i] % CLASS_COLORS.length];
      rgb = [1, 3, 5].map((k) => parseInt(hex.slice(k, k + 2), 16));
    } else {
      const li = Math.round(((bytes[i] / 127.5 - 1) * 0.75 + 1) * 127.5) * 3;
      rgb = [DIVERGING_LUT[li], DIVERGING_LUT[li + 1], DIVERGING_LUT[li + 2]];
    }
    img.data.set([rgb[0], rgb[1], rgb[2], 255], i * 4);
  }
  ctx.putImageData(img, 0, 0);
}
