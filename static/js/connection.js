// The WebSocket: connect, resume (?resume=TOKEN from sessionStorage), reconnect with
// exponential backoff, request/ack bookkeeping, and dispatch of every server message into
// the store. Nothing else in the page touches the socket.
//
// Classroom (protocol §9.1): on a viewer page (`data-room-code` on <body>) the socket is
// `/ws?room=CODE`; while the viewer follows the teacher (`readOnly` in the store) and while a
// recording is replayed (`replaying`), commands are refused here, before they reach the server
// (a local error with `local: true`). During a replay the live stream is muted and the recorded
// messages enter through `inject()`, the very same path as live ones.

import { decodeFrame, KIND } from "./frames.js";

const TOKEN_KEY = "propscope.token";
const BACKOFF_MS = [500, 1000, 2000, 4000, 8000, 15000];
// what a following viewer may send (everything else answers `read_only`)
const VIEWER_OK = new Set(["ping", "room_follow"]);

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
        store.set({ readOnly: false, roomMode: "copy", roomHold: false, handout: msg });
        break;
      case "room_closed":
        if (store.get("roomMode") !== "copy") roomGone = true;
        store.set({ roomClosed: msg, roomMode: store.get("roomMode") === "copy" ? "copy" : "closed", readOnly: store.get("roomMode") !== "copy", roomHold: false });
        break;
      case "snapshot":
        store.set({
          snapshot: msg,
          snapshotAt: performance.now(),
          playing: msg.state.playing,
          step: msg.state.step,
          diverged: msg.state.diverged || null,
          selected: msg.state.selected,
          phase: null,
          phaseFrame: null,
          lineFrame: null,
          gridFrame: null,
        });
        break;
      case "history":
        store.set({ history: msg.history });
        break;
      case "metrics":
        store.set({ metrics: msg });
        break;
      case "status":
        store.set({ status: msg, playing: msg.playing, step: msg.step });
        break;
      case "diverged":
        store.set({ diverged: msg });
        break;
      case "explanation":
        store.set({ explanation: msg });
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

  function onBinary(buffer, live = true) {
    if (live && muted) return;
    const receivedAt = performance.now();
    let frame;
    try {
      frame = decodeFrame(buffer);
    } catch (err) {
      store.set({ lastError: { code: "bad_frame", message: String(err) } });
      return;
    }
    frame.receivedAt = receivedAt;
    if (frame.kind === KIND.STEP) store.set({ stepFrame: frame, step: frame.step });
    else if (frame.kind === KIND.GRID) store.set({ gridFrame: frame });
    else if (frame.kind === KIND.PHASE) store.set({ phaseFrame: frame, phase: frame.header.phase });
    else if (frame.kind === KIND.LINE) store.set({ lineFrame: frame });
    else if (frame.kind === KIND.POINTS) store.set({ pointsFrame: frame });
  }

  function connect() {
    retryTimer = null;
    store.set({ connection: { state: attempt ? "reconnecting" : "connecting", attempt } });
    const ws = new WebSocket(url());
    ws.binaryType = "arraybuffer";
    socket = ws;
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
        onBinary(event.data);
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
    // Send without the page's read-only / replay guard: what a tampering viewer could do (tests).
    sendRaw(type, fields = {}) {
      return send(type, fields, { force: true });
    },
    // Replay: stop feeding live messages into the store (answers still resolve), and feed
    // recorded ones (a string = JSON text message, an ArrayBuffer = a binary frame).
    setMuted(on) {
      muted = !!on;
    },
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
