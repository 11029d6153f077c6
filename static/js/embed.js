// The /embed page: the page's own modules (connection, URL state, animation, network view and
// the one panel chosen by `?panel=`) with a slim bar instead of the header, controls and
// dialogs. The setup and lesson come from the hash exactly as on the main page (url_state.js);
// "Open in Propscope" carries the same hash to the full page.
//
// Test/debug handle, as on the main page: `window.__propscope` = {store, network, connection}.

import { startAnimation } from "./animation.js";
import { startCharts } from "./charts.js";
import { fmt } from "./colors.js";
import { startConnection } from "./connection.js";
import { startDataView } from "./data_view.js";
import { startInspector } from "./inspector.js";
import { startNetworkView } from "./network_view.js";
import { startPaintCredit } from "./paint_credit.js";
import { createStore } from "./store.js";
import { startUrlState } from "./url_state.js";

const $ = (id) => document.getElementById(id);

async function loadCatalog() {
  for (let attempt = 0; ; attempt++) {
    try {
      const r = await fetch("/api/catalog");
      if (r.ok) return await r.json();
    } catch {
      /* the server is starting or the network blinked: retry below */
    }
    await new Promise((res) => setTimeout(res, Math.min(8000, 500 * 2 ** attempt)));
  }
}

function startPanel(store, panel) {
  if (panel === "data") return startDataView(store, $("data"), $("data-caption"));
  if (panel === "inspector") return startInspector(store, $("inspector"));
  if (panel === "loss" || panel === "grad" || panel === "hist") {
    return startCharts(store, {
      [panel]: $(`chart-${panel}`), histLayer: $("hist-layer"),
      lossLegend: $("legend-loss"), gradLegend: $("legend-grad"),
    });
  }
  return null;
}

function startBar(store) {
  const report = (err) => {
    if (err && err.message === "connection closed") return;
    store.set({ lastError: err && err.reply ? err.reply : { message: String(err && err.message) } });
  };
  const on = (id, fn) => { const el = $(id); if (el) el.addEventListener("click", fn); };
  on("btn-play", () => (store.get("playing")
    ? store.command("pause") : store.command("play", { speed: store.get("speed") })).catch(report));
  on("btn-step", async () => {
    if (store.get("playing")) await store.command("pause").catch(report);
    store.set({ stepRequested: performance.now() });
    store.command("step", { n: 1 }).catch(report);
  });
  on("btn-phase", async () => {
    if (store.get("playing")) await store.command("pause").catch(report);
    store.command("phase").catch(report);
  });
  on("btn-reset", () => store.command("reset", { reinitialize: false }).catch(report));
  for (const btn of document.querySelectorAll("[data-link-mode]")) {
    btn.addEventListener("click", () => store.set({ linkMode: btn.dataset.linkMode }));
  }
  store.subscribe(["linkMode"], (s) => {
    for (const btn of document.querySelectorAll("[data-link-mode]")) {
      btn.setAttribute("aria-pressed", String(btn.dataset.linkMode === s.linkMode));
    }
  });
  store.subscribe(["playing"], (s) => {
    const play = $("btn-play");
    if (play) play.textContent = s.playing ? "❚❚ Pause" : "▶ Play";
  });
  let lastEval = null;
  const readouts = () => {
    const step = store.get("step") || 0;
    $("ro-step").textContent = step.toLocaleString("en-US");
    $("ro-step").dataset.value = String(step);
    if (lastEval) $("ro-test").textContent = fmt(lastEval.test_loss, 3);
  };
  store.subscribe(["metrics"], (s) => {
    if (s.metrics.eval) lastEval = s.metrics.eval;
    readouts();
  });
  store.subscribe(["snapshot"], (s) => {
    lastEval = s.snapshot.state.metrics || null;
    store.set({ spec: s.snapshot.spec });
    readouts();
  });
  store.subscribe(["step", "stepFrame"], readouts);
  store.subscribe(["phase"], (s) => {
    const p = s.phase;
    $("ro-phase").textContent = p ? `${p.title} (${p.index}/${p.count})` : "";
    $("ro-phase").dataset.kind = p ? p.kind : "";
  });
  // the lesson named in the hash: its title and where to look, one line
  const lessonLine = (s) => {
    const lesson = ((s.catalog && s.catalog.lessons) || []).find((l) => l.name === s.lesson);
    $("lesson-line").hidden = !lesson;
    if (!lesson) return;
    $("lesson-title").textContent = lesson.title;
    $("lesson-look").textContent = lesson.look_for;
  };
  store.subscribe(["catalog", "lesson"], lessonLine);
  lessonLine(store.get());
  // the full page with the same setup (the hash is kept current by url_state.js)
  const full = $("open-full");
  const syncLink = () => { full.href = `/${location.hash}`; };
  store.subscribe(["spec", "lesson"], () => setTimeout(syncLink, 0));
  window.addEventListener("hashchange", syncLink);
  syncLink();
  // errors: a toast that goes away by itself
  const toast = $("toast");
  let timer = null;
  store.subscribe(["lastError"], (s) => {
    const e = s.lastError;
    if (!e || e.local) return;
    toast.textContent = e.message || e.code || "error";
    toast.hidden = false;
    clearTimeout(timer);
    timer = setTimeout(() => { toast.hidden = true; }, 6000);
  });
}

async function main() {
  const body = document.body;
  const panel = body.dataset.panel || "data";
  const store = createStore({
    linkMode: "weights", scaleMode: "layer", presenter: false, speed: 10,
    selection: null, playing: false, anim: { mode: "idle" },
  });
  store.set({ catalog: await loadCatalog() });
  startUrlState(store);
  startAnimation(store);
  const network = startNetworkView(store, $("network"), $("network-bg"));
  const view = startPanel(store, panel);
  startBar(store);
  store.set({ linkMode: "weights", playing: false });
  // no resume token: each embedded frame is its own session (two on one course page must not
  // take over each other's)
  const connection = startConnection(store, { wsPath: body.dataset.wsPath || "/ws", tokenKey: null });
  startPaintCredit(network, connection);
  if (body.dataset.autoplay === "1") {
    // the first snapshot, and the one after the hash's configure: play (a user's later reset
    // stays paused)
    const until = performance.now() + 5000;
    store.subscribe(["snapshot"], () => {
      if (performance.now() > until || store.get("playing")) return;
      store.command("play", { speed: store.get("speed") }).catch((err) => store.set({ lastError: err.reply }));
    });
  }
  window.__propscope = { store, network, view, connection, version: body.dataset.version };
  body.dataset.ready = "1";
}

main().catch((err) => {
  console.error(err); // eslint-disable-line no-console
});
