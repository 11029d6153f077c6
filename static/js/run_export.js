// The File menu's "this run as…" items: the current run as a NumPy or PyTorch script that
// continues training from this step, or its next step drawn phase by phase as a GIF or an MP4
// for a slide. Each asks the server with the `export` message (docs/protocol.md §9.3), then
// downloads the file from the URL in the ack — as the state downloads in files.js do.
//
// Kept apart from files.js (saving, opening, importing): these are read-only views of the run.

import { download } from "./ui.js";

const FORMATS = {
  "code-numpy": { format: "numpy", what: "NumPy script" },
  "code-pytorch": { format: "pytorch", what: "PyTorch script" },
  "anim-gif": { format: "gif", what: "GIF of the next step" },
  "anim-mp4": { format: "mp4", what: "video of the next step" },
};

export function startRunExport(store, fileMenu) {
  const busy = new Set(); // a second click while the server draws would draw it twice

  async function exportRun(item) {
    const { format, what } = FORMATS[item.dataset.file];
    if (busy.has(format)) return;
    busy.add(format);
    item.setAttribute("aria-busy", "true");
    if (format === "gif" || format === "mp4") {
      store.set({ notice: { message: `Drawing the ${what}…`, at: Date.now() } });
    }
    try {
      const ack = await store.command("export", { format });
      download(ack.url, ack.filename);
      store.set({ notice: { message: `Downloading ${ack.filename} (${what}, from step ${ack.step}).`, at: Date.now() } });
    } catch (err) {
      store.set({ lastError: (err && err.reply) || { message: String(err && err.message) } });
    } finally {
      busy.delete(format);
      item.removeAttribute("aria-busy");
    }
  }

  // the formats the server says this network cannot take are greyed out, with its reason
  const titles = new Map();
  store.subscribe(["snapshot"], () => {
    const refused = ((store.get("snapshot") || {}).network || {}).export_refusals || {};
    for (const item of fileMenu.querySelectorAll("button[data-file]")) {
      const entry = FORMATS[item.dataset.file];
      if (!entry) continue;
      if (!titles.has(item)) titles.set(item, item.title);
      const reason = refused[entry.format];
      item.setAttribute("aria-disabled", reason ? "true" : "false");
      item.classList.toggle("refused", !!reason);
      item.title = reason ? `Not for this network: ${reason}` : titles.get(item);
    }
  });

  fileMenu.addEventListener("click", (event) => {
    const item = event.target.closest("button[data-file]");
    if (!item || !FORMATS[item.dataset.file] || item.disabled) return;
    if (item.classList.contains("refused")) {
      store.set({ notice: { message: item.title, at: Date.now() } });
      return;
    }
    exportRun(item);
  });
  return { exportRun };
}
