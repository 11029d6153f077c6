// Wires the page: one store, one connection, one module per view. The header (transport,
// readouts, banners) lives here because it is only a few lines.
//
// Debug/test handle: `window.__propscope` = {store, network, data, charts, connection,
// version}. It is the only global the page defines; tests read decoded frames through
// `__propscope.store.get("stepFrame")`.

import { startAnimation } from "./animation.js";
import { startCharts } from "./charts.js";
import { startClassroom } from "./classroom.js";
import { fmt } from "./colors.js";
import { startCompareView } from "./compare_view.js";
import { startConnection } from "./connection.js";
import { startControls } from "./controls.js";
import { startDataView } from "./data_view.js";
import { startDrawer } from "./drawer.js";
import { startFiles } from "./files.js";
import { startInspector } from "./inspector.js";
import { startLayersView } from "./layers_view.js";
import { startLessons } from "./lessons.js";
import { startNetworkView } from "./network_view.js";
import { startPaintCredit } from "./paint_credit.js";
import { startPresenter } from "./presenter.js";
import { startReplay } from "./replay.js";
import { startRunExport } from "./run_export.js";
import { startShortcuts } from "./shortcuts.js";
import { createStore } from "./store.js";
import { startUrlState } from "./url_state.js";

const SPEEDS = [1, 2, 5, 10, 30, 100, 1000, "max"];
// a new user's first Play: one step a second, each step swept forward and back on screen (at
// "max" the picture flickers and slow lessons lose their contrast); the choice is kept
const DEFAULT_SPEED = 1;
const SPEED_KEY = "propscope.speed";
const $ = (id) => document.getElementById(id);

function savedSpeed() {
  let raw = null;
  try {
    raw = localStorage.getItem(SPEED_KEY);
  } catch (err) {
    console.warn("no localStorage: the speed is not kept", err); // eslint-disable-line no-console
  }
  if (raw === "max") return "max";
  const v = Number(raw);
  return raw !== null && Number.isFinite(v) && v > 0 && v <= 1000 ? v : DEFAULT_SPEED;
}

async function main() {
  const body = document.body;
  const store = createStore({ speed: savedSpeed() });

  // catalog first: the controls, the URL defaults and the labels need it
  let catalog = null;
  for (let attempt = 0; !catalog; attempt++) {
    try {
      const r = await fetch("/api/catalog");
      if (r.ok) catalog = await r.json();
    } catch {
      catalog = null;
    }
    if (!catalog) await new Promise((res) => setTimeout(res, Math.min(8000, 500 * 2 ** attempt)));
  }
  store.set({ catalog });

  startUrlState(store);
  startAnimation(store);
  const network = startNetworkView(store, $("network"), $("network-bg"));
  const data = startDataView(store, $("data"), $("data-caption"));
  // CNNs and RNNs (and the drawing pad of image data): their own pictures beside the dense one
  const layersView = startLayersView(store, { root: $("layers-view"), conv: $("conv-view"), rnn: $("rnn-view"),
    pad: $("draw-pad") });
  // before the inspector: a presenter's `focus` must leave before the `explain` it triggers
  const classroom = startClassroom(store);
  startInspector(store, $("inspector"));
  const charts = startCharts(store, {
    loss: $("chart-loss"), grad: $("chart-grad"), hist: $("chart-hist"),
    histLayer: $("hist-layer"), logToggle: $("log-loss"),
    lossLegend: $("legend-loss"), gradLegend: $("legend-grad"),
  });
  const controls = startControls(store, $("controls"));
  const compare = startCompareView(store, {
    panel: $("runs-panel"), list: $("runs-list"), chartWrap: $("chart-runs-wrap"), chart: $("chart-runs"),
    kind: $("runs-kind"),
  });
  const lessons = startLessons(store, { configure: controls.configure, setSpeed });
  startPresenter(store, $("btn-presenter"));
  startDrawer(store, { toggle: $("btn-setup"), close: $("setup-close"), panel: $("setup"),
    backdrop: $("drawer-backdrop") });

  store.subscribe(["snapshot"], (s) => store.set({ spec: s.snapshot.spec }));

  // ------------------------------------------------------------------ transport
  // following the teacher (read-only) or replaying a recording: the transport does nothing
  // (connection.js would refuse the commands anyway); Space plays / pauses the replay
  let replay = null;
  const locked = () => !!store.get("readOnly") || !!store.get("replaying");
  // phase by phase is for one run (the server refuses it beside others: the lockstep)
  const sideBySide = () => (store.get("runs") || []).length > 1;
  const PHASE_ONE_RUN = "Phase by phase shows one run: close the runs beside it first (or step whole steps).";
  const actions = {
    togglePlay() {
      if (store.get("replaying") && replay) return replay.togglePlay();
      if (locked()) return undefined;
      if (store.get("playing")) return store.command("pause").catch(report);
      if (store.get("diverged")) return showDiverged();
      return store.command("play", { speed: store.get("speed") }).catch(report);
    },
    async step() {
      if (locked()) return undefined;
      if (store.get("playing")) await store.command("pause").catch(report);
      store.set({ stepRequested: performance.now() });
      return store.command("step", { n: 1 }).catch(report);
    },
    async phase() {
      if (locked()) return undefined;
      if (sideBySide()) {
        store.set({ notice: { message: PHASE_ONE_RUN } });
        return undefined;
      }
      if (store.get("playing")) await store.command("pause").catch(report);
      return store.command("phase").catch(report);
    },
    reset(reinitialize) {
      if (locked()) return undefined;
      return store.command("reset", { reinitialize }).catch(report);
    },
    speed(dir) {
      const i = SPEEDS.indexOf(store.get("speed"));
      const next = SPEEDS[Math.max(0, Math.min(SPEEDS.length - 1, i + dir))];
      setSpeed(next);
    },
    room() {
      if (store.get("role") !== "viewer") classroom.showPanel();
    },
    lessons() {
      lessons.toggleMenu();
    },
  };

  function setSpeed(speed) {
    store.set({ speed });
    try {
      localStorage.setItem(SPEED_KEY, String(speed));
    } catch (err) {
      console.warn("the speed is not kept", err); // eslint-disable-line no-console
    }
    if (store.get("playing") && !locked()) store.command("play", { speed }).catch(report);
  }

  function report(err) {
    if (err && err.message === "connection closed") return;
    if (err && err.reply && err.reply.local) return;
    store.set({ lastError: err && err.reply ? err.reply : { message: String(err && err.message) } });
  }

  $("btn-play").addEventListener("click", () => actions.togglePlay());
  $("btn-step").addEventListener("click", () => actions.step());
  $("btn-phase").addEventListener("click", () => actions.phase());
  $("btn-reset").addEventListener("click", () => actions.reset(false));
  $("btn-help").addEventListener("click", () => shortcuts.setHelp(true));
  const speedSel = $("speed");
  speedSel.innerHTML = SPEEDS.map((v) => `<option value="${v}">${v === "max" ? "max" : `${v}/s`}</option>`).join("");
  speedSel.value = String(store.get("speed"));
  speedSel.addEventListener("change", () => {
    const v = speedSel.value === "max" ? "max" : Number(speedSel.value);
    setSpeed(v);
  });
  store.subscribe(["speed"], (s) => {
    if (![...speedSel.options].some((o) => o.value === String(s.speed))) {
      speedSel.add(new Option(`${s.speed}/s`, String(s.speed)));
    }
    speedSel.value = String(s.speed);
  });

  for (const btn of document.querySelectorAll("[data-link-mode]")) {
    btn.addEventListener("click", () => store.set({ linkMode: btn.dataset.linkMode }));
  }
  for (const btn of document.querySelectorAll("[data-scale-mode]")) {
    btn.addEventListener("click", () => store.set({ scaleMode: btn.dataset.scaleMode }));
  }
  store.subscribe(["linkMode", "scaleMode"], (s) => {
    for (const btn of document.querySelectorAll("[data-link-mode]")) {
      btn.setAttribute("aria-pressed", String(btn.dataset.linkMode === s.linkMode));
    }
    for (const btn of document.querySelectorAll("[data-scale-mode]")) {
      btn.setAttribute("aria-pressed", String(btn.dataset.scaleMode === s.scaleMode));
    }
    $("legend-links").textContent = s.linkMode === "gradients"
      ? "width ∝ |∂L/∂w| (latest step)" : "width ∝ |w|";
  });
  store.set({ linkMode: "weights" });

  const shortcuts = startShortcuts(store, $("help"), actions);

  // ------------------------------------------------------------------ readouts
  const playBtn = $("btn-play");
  store.subscribe(["playing"], (s) => {
    playBtn.textContent = s.playing ? "❚❚ Pause" : "▶ Play";
    playBtn.setAttribute("aria-pressed", String(!!s.playing));
    body.classList.toggle("is-playing", !!s.playing);
  });
  store.set({ playing: false });

  let lastEval = null;
  function readouts() {
    const f = store.get("stepFrame");
    const step = store.get("step") || 0;
    $("ro-step").textContent = step.toLocaleString("en-US");
    $("ro-step").dataset.value = String(step);
    if (f) {
      $("ro-epoch").textContent = String(f.header.epoch);
      const sps = f.header.steps_per_s;
      $("ro-rate").textContent = sps ? `${fmt(sps, 3)}/s` : "—";
    }
    if (lastEval) {
      $("ro-train").textContent = fmt(lastEval.train_loss, 3);
      $("ro-test").textContent = fmt(lastEval.test_loss, 3);
      $("ro-test").dataset.value = String(lastEval.test_loss);
      const acc = lastEval.test_accuracy;
      $("ro-acc").textContent = acc === null || acc === undefined ? "—" : `${(acc * 100).toFixed(1)}%`;
      $("ro-acc-wrap").hidden = acc === null || acc === undefined;
    }
  }
  // at most 5 updates per second: text changes cost layout and paint of the header
  let roTimer = null;
  let roLast = 0;
  function scheduleReadouts() {
    if (roTimer) return;
    const wait = Math.max(0, 200 - (performance.now() - roLast));
    roTimer = setTimeout(() => {
      roTimer = null;
      roLast = performance.now();
      readouts();
    }, wait);
  }
  store.subscribe(["metrics"], (s) => {
    if (s.metrics.eval) lastEval = s.metrics.eval;
    scheduleReadouts();
  });
  store.subscribe(["snapshot"], (s) => {
    lastEval = s.snapshot.state.metrics || null;
    scheduleReadouts();
  });
  store.subscribe(["stepFrame", "step", "status"], scheduleReadouts);

  // ------------------------------------------------------------------ banners
  const banner = $("banner");
  let bannerTimer = null;
  function showBanner(kind, html) {
    banner.className = `banner ${kind}`;
    banner.innerHTML = html;
    banner.hidden = !html;
  }
  function connectionBanner() {
    const c = store.get("connection") || {};
    clearInterval(bannerTimer);
    bannerTimer = null;
    if (c.state === "lost") {
      const tick = () => {
        const secs = Math.max(0, Math.ceil((c.retryAt - Date.now()) / 1000));
        showBanner("warn", `Connection lost — reconnecting in ${secs} s (attempt ${c.attempt}). Your session resumes where it was. <button type="button" id="reconnect-now">Retry now</button>`);
        const b = $("reconnect-now");
        if (b) b.onclick = () => conn.reconnectNow();
      };
      tick();
      bannerTimer = setInterval(tick, 1000);
    } else if (c.state === "replaced") {
      showBanner("warn", "This session was opened in another tab. Reload this page to take it back.");
    } else if (c.state === "open") {
      const w = store.get("welcome");
      if (w && !w.resumed && w.resume_error && sessionResumeExpected) {
        showBanner("info", `Reconnected, but the old session was gone (${w.resume_error}); this is a new session.`);
        setTimeout(() => showBanner("", ""), 6000);
      } else if (!store.get("diverged")) showBanner("", "");
      else showDiverged();
    }
    body.dataset.connection = c.state || "";
  }
  let sessionResumeExpected = false;
  store.subscribe(["connection"], (s) => {
    if (s.connection && s.connection.state === "lost") sessionResumeExpected = true;
    connectionBanner();
  });

  function showDiverged() {
    const d = store.get("diverged");
    if (!d) return;
    const where = d.layer === null || d.layer === undefined ? "" : ` in layer ${d.layer + 1}`;
    showBanner("bad", `<strong>Diverged at step ${d.step}:</strong> the ${d.quantity}${where} is no longer a finite number (NaN/∞). Training is paused. ${d.suggestion || ""}
      <button type="button" id="div-reset">Reset</button>`);
    const b = $("div-reset");
    if (b) b.onclick = () => actions.reset(false);
  }
  store.subscribe(["diverged"], (s) => {
    if (s.diverged) showDiverged();
    else connectionBanner();
  });

  // errors: a toast that goes away by itself
  const toast = $("toast");
  let toastTimer = null;
  function showToast(text, kind) {
    toast.textContent = text;
    toast.className = `toast ${kind}`;
    toast.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => {
      toast.hidden = true;
    }, 6000);
  }
  store.subscribe(["notice"], (s) => {
    if (s.notice) showToast(s.notice.message, "info");
  });
  store.subscribe(["lastError"], (s) => {
    const e = s.lastError;
    if (!e || e.local) return; // refused by the page itself (read-only, replay): not news
    let text = e.message || e.code || "error";
    const problems = e.details && e.details.problems;
    if (problems && problems.length) text += ` — ${problems.map((p) => p.join(": ")).join("; ")}`;
    if (e.code === "read_only") text = "Read-only: you are following the teacher. Wait for a hand-out to train a copy of your own.";
    showToast(text, "error");
  });

  // phase readout in the header (the canvas shows it big too), and for screen readers the same
  // title in words in a live region — only when stepping by phases, where it changes at a pace
  // one can listen to (the phase frames' own titles, from the server)
  store.subscribe(["phase", "stepFrame"], (s) => {
    const p = s.phase;
    $("ro-phase").textContent = p ? `${p.title} (${p.index}/${p.count})` : "";
    $("ro-phase").dataset.kind = p ? p.kind : "";
  });
  store.subscribe(["phaseFrame"], (s) => {
    const p = s.phaseFrame && s.phaseFrame.header.phase;
    if (p) $("phase-live").textContent = `${p.title}, phase ${p.index} of ${p.count}`;
  });
  store.subscribe(["snapshot", "playing"], (s) => {
    if (s.playing || (s.snapshot && !s.snapshot.state.in_step && !s.phase)) {
      $("ro-phase").textContent = "";
    }
  });

  // read-only (following the teacher) or replaying: the setup panel shows the state but takes
  // no input, and the transport buttons are disabled
  store.subscribe(["readOnly", "replaying", "runs"], () => {
    const lock = locked();
    $("controls").inert = lock;
    body.classList.toggle("locked", lock);
    for (const id of ["btn-play", "btn-step", "btn-phase", "btn-reset", "speed"]) $(id).disabled = lock;
    if (sideBySide()) $("btn-phase").disabled = true;
    $("btn-phase").title = sideBySide() ? PHASE_ONE_RUN : "One phase (.)";
  });
  // a new setup (configure) or an opened file keeps one run: say so when others were beside it
  let runsBefore = 0;
  store.subscribe(["runs"], (s) => {
    const n = (s.runs || []).length;
    const snap = s.snapshot;
    if (runsBefore > 1 && n === 1 && snap && ["configure", "open", "import"].includes(snap.reason)) {
      store.set({ notice: { message: "New setup: the runs side by side were closed; this is the only run now." } });
    }
    runsBefore = n;
  });

  const roomCode = (body.dataset.roomCode || "").trim() || null;
  const conn = startConnection(store, { wsPath: body.dataset.wsPath || "/ws", roomCode });
  startPaintCredit(network, conn);
  replay = startReplay(store, conn, {
    bar: $("replay-bar"), name: $("replay-name"), play: $("replay-play"), restart: $("replay-restart"),
    exit: $("replay-exit"), progress: $("replay-progress"), time: $("replay-time"), input: $("replay-file"),
  });
  const files = startFiles(store, { replay });
  startRunExport(store, $("file-menu"));

  // Test/debug: the latest step frame's weight matrices as plain arrays
  function weights() {
    const f = store.get("stepFrame");
    if (!f) return null;
    const out = {};
    for (const [name, a] of Object.entries(f.arrays)) {
      if (/^(weight|bias)\.\d+$/.test(name)) out[name] = Array.from(a.data);
    }
    return { step: f.step, arrays: out };
  }

  window.__propscope = {
    store, network, layersView, data, charts, connection: conn, classroom, files, lessons, replay, weights, compare,
    version: body.dataset.version,
  };
  body.dataset.ready = "1";
}

main().catch((err) => {
  console.error(err); // eslint-disable-line no-console
});
