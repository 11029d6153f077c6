// The WebSocket: connect, resume (?resume=TOKEN from sessionStorage), reconnect with
// exponential backoff, request/ack bookkeeping, and dispatch of every server message into
// the store. Nothing else in the page touches the socket.
//
// Classroom (protocol §9.1): on a viewer page (`data-room-code` on <body>) the socket is
// `/ws?room=CODE`; while the viewer follows the teacher (`readOnly` in the store) and while a
// recording is replayed (`replaying`), commands are refused here, before they reach the server
// (a local error with `local: true`). During a replay the live stream is muted and the recorded
// messages enter through `inject()`, the very same path as live ones.
//
// Runs side by side (protocol §10): every message and frame names its `run`. All of them go
// into the run book (runs.js, `runData` in the store), kept per run; only the main run's (the
// first of the server's list) reach the main view's keys (snapshot, stepFrame, metrics, …), so
// the main view never mixes runs. When the main run changes (promote_run, or the main run is
// closed) the main view is redrawn from the new main run's record. `event` messages (§3) bring
// the state that produced the numbers: settings, selection, lesson, fps, grid resolution.

import { decodeFrame, KIND, SchemaBook } from "./frames.js";
import { createRunBook } from "./runs.js";

const TOKEN_KEY = "propscope.token";
const BACKOFF_MS = [500, 1000, 2000, 4000, 8000, 15000];
// what a following viewer may send (everything else answers `read_only`)
const VIEWER_OK = new Set(["ping", "room_follow", "class_join"]);
const KIND_NAME = { [KIND.STEP]: "step", [KIND.GRID]: "grid", [KIND.PHASE]: "phase", [KIND.LINE]: "line", [KIND.POINTS]: "points", [KIND.PROBE]: "probe" };

// tokenKey: where the resume token lives (null: no resume, e.g. each frame of /embed)
export function startConnection(store, { wsPath = "/ws", roomCode = null, tokenKey = TOKEN_KEY } = {}) {
  let socket = null;
  let muted = false;
  let roomGone = false;
  let nextId = 1;
  let attempt = 0;
  let retryTimer = null;
  let stopped = false;
  const pending = new Map();
  const book = createRunBook();
  let savedLesson = null; // the owner's lesson card while a recording replays
  store.set({ runData: book });

  function url() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    let token = null;
    try {
      token = tokenKey ? sessionStorage.getItem(tokenKey) : null;
    } catch {
      token = null;
    }
    const base = `${scheme}://${location.host}${wsPath}`;
    if (roomCode) return `${base}?room=${encodeURIComponent(roomCode)}`;
    return token ? `${base}?resume=${encodeURIComponent(token)}` : base;
  }

  // Why the page must not send this now (null: it may).
  function refusal(type) {
    if (type === "ping") return null;
    if (store.get("replaying")) return "Replaying a recording: the live session is left alone.";
    if (store.get("readOnly") && !VIEWER_OK.has(type)) {
      return "You are following the teacher (read-only).";
    }
    return null;
  }

  function send(type, fields, { force = false } = {}) {
    const why = force ? null : refusal(type);
    if (why) {
      const reply = { type: "error", code: "read_only", message: why, local: true };
      return Promise.reject(Object.assign(new Error(why), { reply }));
    }
    if (!socket || socket.readyState !== WebSocket.OPEN) {
      return Promise.reject(new Error("not connected"));
    }
    const id = nextId++;
    const message = { type, id, ...fields };
    if (type === "room_follow") book.clear(); // the teacher's runs come back, not the copy's
    return new Promise((resolve, reject) => {
      if (type !== "ping") pending.set(id, { resolve, reject, type });
      else pending.set(id, { resolve, reject, type });
      socket.send(JSON.stringify(message));
    });
  }

  function settle(id, ok, value) {
    const entry = pending.get(id);
    if (!entry) return;
    pending.delete(id);
    if (ok) entry.resolve(value);
    else entry.reject(Object.assign(new Error(value.message || value.code), { reply: value }));
  }

  const mainId = () => store.get("mainRun");
  // a message without `run` (an older server or recording) is about the main run; until a
  // snapshot names the main run, no run's messages are drawn
  const isMain = (run) => run === undefined || run === null || run === mainId();
  // viewers and replays show the lesson of the state they follow; the owner's card is the
  // owner's own choice (lessons.js sends it along with `configure`)
  const followsLesson = (live) => !live || store.get("role") === "viewer";

  function publishRuns(patch = {}) {
    store.set({ ...patch, runs: book.order().map((r) => ({ ...r })), runData: book });
  }

  // the main view shows another run now (promote_run, or the main run was closed): redraw it
  // from that run's record, as a snapshot (reason "switch") and its newest frames and history
  function switchMain(id) {
    const rec = book.get(id);
    if (!rec || !rec.snapshot) {
      publishRuns({ mainRun: id });
      if (!muted && !store.get("replaying") && store.get("role") !== "viewer") send("snapshot", {}).catch(() => {});
      return;
    }
    const snap = rec.snapshot;
    const selected = rec.selected || snap.state.selected;
    const view = {
      ...snap, reason: "switch", spec: rec.spec || snap.spec,
      state: { ...snap.state, step: rec.step, selected, diverged: rec.diverged, metrics: rec.lastEval, in_step: false },
    };
    const now = performance.now();
    publishRuns({
      mainRun: id, snapshot: view, snapshotAt: now, step: rec.step, diverged: rec.diverged || null, selected,
      phase: null, phaseFrame: null, lineFrame: null, gridFrame: null, pointsFrame: null,
    });
    const frames = {};
    for (const key of ["stepFrame", "gridFrame", "lineFrame", "pointsFrame"]) {
      if (rec[key]) frames[key] = { ...rec[key], receivedAt: now };
    }
    if (Object.keys(frames).length) store.set(frames);
    store.set({ history: book.history(id) });
  }

  function onSnapshot(msg, live) {
    const before = mainId();
    book.snapshot(msg);
    const first = book.mainId() || msg.run || null;
    const run = msg.run || first;
    if (run !== first) {
      publishRuns(); // another run's state: kept in its record, not drawn in the main view
      return;
    }
    const state = msg.state || {};
    // a fork from the present state: the main run goes on unchanged (its charts keep their past)
    if (msg.reason === "compare" && before === run && store.get("snapshot") && state.step === store.get("step")) {
      publishRuns({ mainRun: run });
      return;
    }
    const patch = {
      mainRun: run,
      snapshot: msg,
      snapshotAt: performance.now(),
      playing: state.playing,
      step: state.step,
      diverged: state.diverged || null,
      selected: state.selected,
      phase: null,
      phaseFrame: null,
      lineFrame: null,
      gridFrame: null,
      probeFrame: null,
    };
    if (state.fps !== undefined) patch.fps = state.fps;
    if (state.grid_resolution !== undefined) patch.gridResolution = state.grid_resolution;
    // (the server forgets the lesson on regenerate; the card of the data's lesson stays)
    if (followsLesson(live) && "lesson" in state && msg.reason !== "regenerate") patch.lesson = state.lesson || null;
    publishRuns(patch);
  }

  // an `event` (protocol §3): the run's record follows it; for the main run so do the panels
  function onEvent(msg, live) {
    const main = isMain(msg.run);
    const before = mainId();
    book.event(msg);
    const patch = {};
    if (main) {
      switch (msg.event) {
        case "settings": {
          const spec = store.get("spec");
          if (spec && msg.training) patch.spec = { ...spec, training: msg.training };
          break;
        }
        case "selection":
          if (msg.selected) patch.selected = { sample: msg.selected.sample, split: msg.selected.split };
          break;
        case "fps":
          patch.fps = msg.fps;
          break;
        case "grid_resolution":
          patch.gridResolution = msg.resolution;
          break;
        case "configure":
          if (followsLesson(live)) patch.lesson = msg.lesson || null;
          break;
        default:
          break; // edit, phase, reset, regenerate: their frames and snapshots follow
      }
    }
    publishRuns(patch);
    const now = book.mainId();
    if (now && before && now !== before) switchMain(now);
  }

  function onJson(msg, live = true) {
    if (live && muted) {
      // replaying a recording: answers still settle their promises, the rest waits
      if (msg.type === "ack" || msg.type === "pong") settle(msg.id, true, msg);
      else if (msg.type === "error" && msg.id !== null && pending.has(msg.id)) settle(msg.id, false, msg);
      return;
    }
    switch (msg.type) {
      case "welcome": {
        if (!live) break; // a recording's own welcome (none is recorded; be safe)
        const viewer = msg.role === "viewer";
        if (!viewer && msg.token && tokenKey) {
          try {
            sessionStorage.setItem(tokenKey, msg.token);
          } catch {
            /* storage disabled: resume will not work, the page still does */
          }
        }
        attempt = 0;
        if (!msg.resumed) book.clear(); // a new session: none of the old runs
        const patch = { welcome: msg, connection: { state: "open", attempt: 0 }, role: viewer ? "viewer" : "session" };
        if (viewer) {
          roomGone = false;
          Object.assign(patch, { readOnly: true, roomMode: "following", room: msg.room || null, roomHold: !!(msg.room && msg.room.hold) });
        }
        store.set(patch);
        break;
      }
      case "room_update":
        store.set({ room: { ...(store.get("room") || {}), viewers: msg.viewers, following: msg.following, code: msg.code } });
        break;
      case "room_hold":
        store.set({ roomHold: !!msg.hold });
        break;
      case "focus":
        store.set({ remoteFocus: msg.focus === undefined ? null : msg.focus });
        break;
      case "room_handout":
        book.clear(); // the copy's runs start now
        store.set({ readOnly: false, roomMode: "copy", roomHold: false, handout: msg });
        break;
      case "class_dashboard": // the teacher's class dashboard (protocol §9.8), about 2 a second
        store.set({ classDashboard: msg });
        break;
      case "class_leaderboard": // a challenge's board and the gallery, to everyone (§9.9)
        store.set({ classBoard: msg });
        break;
      case "class_locks":
        store.set({ classLocks: msg.locks || [] });
        break;
      case "class_projecting":
        // followers now watch a student's copy (or the teacher again): its full state follows
        if (store.get("roomMode") !== "copy") book.clear();
        store.set({ roomProjecting: msg.projecting ? msg : null });
        break;
      case "class_pushed":
        store.set({ notice: { message: "Your teacher set the same settings for everyone." } });
        break;
      case "room_closed":
        if (store.get("roomMode") !== "copy") roomGone = true;
        store.set({ roomClosed: msg, roomMode: store.get("roomMode") === "copy" ? "copy" : "closed", readOnly: store.get("roomMode") !== "copy", roomHold: false });
        break;
      case "snapshot":
        onSnapshot(msg, live);
        break;
      case "history":
        book.seedHistory(mainId() || book.mainId(), msg.history);
        store.set({ history: msg.history });
        break;
      case "metrics":
        book.metrics(msg);
        store.set(isMain(msg.run) ? { metrics: msg, runData: book } : { runData: book });
        break;
      case "status":
        // the session's shared play state (its `run` is the first run)
        store.set({ status: msg, playing: msg.playing, step: msg.step });
        break;
      case "diverged":
        book.diverged(msg);
        if (isMain(msg.run)) store.set({ diverged: msg, runData: book });
        else store.set({ runData: book });
        break;
      case "explanation":
        if (isMain(msg.run)) store.set({ explanation: msg });
        break;
      case "event":
        onEvent(msg, live);
        break;
      case "ack":
        settle(msg.id, true, msg);
        break;
      case "pong":
        settle(msg.id, true, msg);
        break;
      case "error":
        if (msg.id !== null && pending.has(msg.id)) settle(msg.id, false, msg);
        store.set({ lastError: msg });
        break;
      default:
        break; // a newer server may send more; ignore what we do not know
    }
  }

  function onBinary(buffer, live = true, schemas = null) {
    const receivedAt = performance.now();
    let frame;
    try {
      // live frames may refer to a schema this socket was sent (so they are decoded even when
      // muted: a schema arrives once); recorded ones carry theirs
      frame = decodeFrame(buffer, schemas);
    } catch (err) {
      if (!(live && muted)) store.set({ lastError: { code: "bad_frame", message: String(err) } });
      return;
    }
    if (live && muted) return;
    frame.receivedAt = receivedAt;
    const kind = KIND_NAME[frame.kind];
    if (!kind) return;
    book.frame(frame, kind);
    if (!isMain(frame.header.run)) {
      store.set({ runData: book }); // another run's frame: its record only
      return;
    }
    if (kind === "step") store.set({ stepFrame: frame, step: frame.step, runData: book });
    else if (kind === "grid") store.set({ gridFrame: frame, runData: book });
    else if (kind === "phase") store.set({ phaseFrame: frame, phase: frame.header.phase });
    else if (kind === "line") store.set({ lineFrame: frame, runData: book });
    else if (kind === "points") store.set({ pointsFrame: frame, runData: book });
    else if (kind === "probe") store.set({ probeFrame: frame });
  }

  function connect() {
    retryTimer = null;
    store.set({ connection: { state: attempt ? "reconnecting" : "connecting", attempt } });
    const ws = new WebSocket(url());
    ws.binaryType = "arraybuffer";
    socket = ws;
    const schemas = new SchemaBook(); // this socket's frame schemas (sent once per socket, §4)
    ws.onmessage = (event) => {
      if (typeof event.data === "string") {
        let msg;
        try {
          msg = JSON.parse(event.data);
        } catch {
          return;
        }
        onJson(msg);
      } else {
        onBinary(event.data, true, schemas);
      }
    };
    ws.onclose = (event) => {
      if (socket !== ws) return;
      socket = null;
      for (const [id, entry] of pending) {
        entry.reject(new Error("connection closed"));
        pending.delete(id);
      }
      if (stopped) return;
      if (roomGone || event.code === 4404) {
        // the room was closed (or never existed): following it again cannot work
        store.set({ connection: { state: "closed", attempt, code: event.code }, playing: false });
        return;
      }
      if (event.code === 4001) {
        store.set({ connection: { state: "replaced", attempt, code: event.code } });
        return; // another tab now owns this session; do not fight over it
      }
      const delay = BACKOFF_MS[Math.min(attempt, BACKOFF_MS.length - 1)];
      attempt += 1;
      store.set({
        connection: { state: "lost", attempt, retryAt: Date.now() + delay, code: event.code },
        playing: false,
      });
      retryTimer = setTimeout(connect, delay);
    };
    ws.onerror = () => {
      /* onclose follows and schedules the retry */
    };
  }

  store.setCommandHandler(send);
  connect();

  return {
    reconnectNow() {
      if (retryTimer) {
        clearTimeout(retryTimer);
        connect();
      }
    },
    // A report that wants no reply (`painted`, §5); not sent when the page may not send now.
    notify(type, fields = {}) {
      if (refusal(type) || !socket || socket.readyState !== WebSocket.OPEN) return false;
      socket.send(JSON.stringify({ type, id: nextId++, ...fields }));
      return true;
    },
    // Send without the page's read-only / replay guard: what a tampering viewer could do (tests).
    sendRaw(type, fields = {}) {
      return send(type, fields, { force: true });
    },
    // Replay: stop feeding live messages into the store (answers still resolve), and feed
    // recorded ones (a string = JSON text message, an ArrayBuffer = a binary frame).
    setMuted(on) {
      const next = !!on;
      if (next === muted) return;
      muted = next;
      // the recording's runs and the live ones never share records; each starts from its own
      // full state (the recording's first snapshots, the live `snapshot` asked for after it)
      book.clear();
      if (muted) savedLesson = store.get("lesson");
      publishRuns({ mainRun: null, ...(muted ? {} : { lesson: savedLesson }) });
    },
    runBook: () => book,
    inject(payload) {
      if (typeof payload === "string") {
        let msg;
        try {
          msg = JSON.parse(payload);
        } catch {
          return;
        }
        if (msg && typeof msg === "object") onJson(msg, false);
      } else onBinary(payload, false);
    },
    // Test/debug hook: drop the socket as a network blip would (the page must reconnect).
    drop() {
      if (socket) socket.close(4000, "dropped by the page");
    },
    stop() {
      stopped = true;
      if (retryTimer) clearTimeout(retryTimer);
      if (socket) socket.close();
    },
  };
}
