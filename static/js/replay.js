// Replay of a recording (`.psrec`, protocol §9.4) in the browser, with no work for the server.
// The file is parsed here; its messages are fed, at their recorded times, through
// connection.inject() — the same decode and store path as live messages — while the live
// stream is muted and every command is refused (`replaying` in the store). Leaving the replay
// asks the live session for a fresh `snapshot`, which redraws the page as it was.

const utf8 = new TextDecoder("utf-8");

// → {header, records: [{t, text | buffer}]}; throws Error with a sentence on a bad file.
export function parseRecording(buffer) {
  if (!(buffer instanceof ArrayBuffer) || buffer.byteLength < 12) throw new Error("not a Propscope recording (too short)");
  const view = new DataView(buffer);
  const magic = String.fromCharCode(view.getUint8(0), view.getUint8(1), view.getUint8(2), view.getUint8(3));
  if (magic !== "PSR1") throw new Error("not a Propscope recording (no PSR1 signature)");
  const version = view.getUint32(4, true);
  if (version !== 1) throw new Error(`recording format version ${version} is not supported`);
  const headerLength = view.getUint32(8, true);
  if (12 + headerLength > buffer.byteLength) throw new Error("the recording's header is cut off");
  let header;
  try {
    header = JSON.parse(utf8.decode(new Uint8Array(buffer, 12, headerLength)));
  } catch {
    throw new Error("the recording's header is not JSON");
  }
  const records = [];
  let offset = 12 + headerLength;
  const count = Number(header.count) || 0;
  for (let i = 0; i < count; i++) {
    if (offset + 16 > buffer.byteLength) throw new Error(`the recording is cut off at message ${i + 1} of ${count}`);
    const t = view.getFloat64(offset, true);
    const length = view.getUint32(offset + 8, true);
    const type = view.getUint8(offset + 12);
    const start = offset + 16;
    if (start + length > buffer.byteLength) throw new Error(`the recording is cut off at message ${i + 1} of ${count}`);
    if (type === 1) records.push({ t, text: utf8.decode(new Uint8Array(buffer, start, length)) });
    else if (type === 2) records.push({ t, buffer: buffer.slice(start, start + length) });
    offset = start + length + ((4 - (length % 4)) % 4);
  }
  return { header, records };
}

export function startReplay(store, connection, els) {
  let rec = null; // {header, records, name}
  let index = 0;
  let clock = 0; // seconds of the recording already played
  let startedAt = 0; // performance.now() when `clock` was taken
  let playing = false;
  let timer = null;
  let tick = null;

  function now() {
    return playing ? clock + (performance.now() - startedAt) / 1000 : clock;
  }

  function duration() {
    if (!rec) return 0;
    const last = rec.records.length ? rec.records[rec.records.length - 1].t : 0;
    return Math.max(Number(rec.header.duration) || 0, last);
  }

  function pump() {
    timer = null;
    if (!rec) return;
    const t = now();
    while (index < rec.records.length && rec.records[index].t <= t) {
      const r = rec.records[index++];
      connection.inject(r.text !== undefined ? r.text : r.buffer);
    }
    if (index >= rec.records.length) {
      clock = duration();
      playing = false;
      render();
      return;
    }
    if (playing) timer = setTimeout(pump, Math.max(0, (rec.records[index].t - now()) * 1000));
  }

  function play(on) {
    if (!rec) return;
    if (on && index >= rec.records.length) {
      restart();
      return;
    }
    clock = now();
    startedAt = performance.now();
    playing = on;
    clearTimeout(timer);
    timer = null;
    if (playing) pump();
    render();
  }

  function restart() {
    clearTimeout(timer);
    timer = null;
    index = 0;
    clock = 0;
    startedAt = performance.now();
    playing = true;
    pump();
    render();
  }

  async function load(file) {
    let parsed;
    try {
      parsed = parseRecording(await file.arrayBuffer());
    } catch (err) {
      store.set({ lastError: { message: `Cannot replay ${file.name}: ${err.message}` } });
      return;
    }
    if (!parsed.records.length) {
      store.set({ lastError: { message: `${file.name} holds no messages.` } });
      return;
    }
    // leave the live session paused and untouched while the recording plays
    if (store.get("playing") && !store.get("replaying")) await store.command("pause").catch(() => {});
    stop({ restore: false });
    rec = { ...parsed, name: file.name };
    connection.setMuted(true);
    store.set({ replaying: { name: file.name, count: parsed.records.length, duration: duration() } });
    document.body.classList.add("replaying");
    restart();
    clearInterval(tick);
    tick = setInterval(render, 250);
  }

  function stop({ restore = true } = {}) {
    const was = !!rec;
    clearTimeout(timer);
    clearInterval(tick);
    timer = null;
    tick = null;
    rec = null;
    playing = false;
    if (!was) return;
    connection.setMuted(false);
    document.body.classList.remove("replaying");
    store.set({ replaying: null, playing: false });
    render();
    if (restore) store.command("snapshot").catch(() => {});
  }

  function render() {
    els.bar.hidden = !rec;
    if (!rec) return;
    const d = duration();
    const t = Math.min(now(), d);
    els.name.textContent = `${rec.name} · ${rec.records.length} messages${rec.header.truncated ? " · truncated" : ""}`;
    els.play.textContent = playing ? "❚❚ Pause" : index >= rec.records.length ? "▶ Play again" : "▶ Play";
    els.play.setAttribute("aria-pressed", String(playing));
    els.progress.max = d || 1;
    els.progress.value = t;
    els.time.textContent = `${t.toFixed(1)} s / ${d.toFixed(1)} s`;
    els.bar.dataset.index = String(index);
    els.bar.dataset.done = String(index >= rec.records.length);
  }

  els.play.addEventListener("click", () => play(!playing));
  els.restart.addEventListener("click", restart);
  els.exit.addEventListener("click", () => stop());
  els.input.addEventListener("change", () => {
    const file = els.input.files && els.input.files[0];
    els.input.value = "";
    if (file) load(file);
  });

  return {
    load,
    stop,
    choose: () => els.input.click(),
    togglePlay: () => play(!playing),
    state: () => ({ active: !!rec, playing, index, count: rec ? rec.records.length : 0 }),
  };
}
