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

  fileMenu.addEventListener("click", (event) => {
    const item = event.target.closest("button[data-file]");
    if (!item || !FORMATS[item.dataset.file] || item.disabled) return;
    exportRun(item);
  });
  return { exportRun };
}
