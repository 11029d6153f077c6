// The WebSocket: connect, resume (?resume=TOKEN from sessionStorage), reconnect with
// exponential backoff, request/ack bookkeeping, and dispatch of every server message into
// the store. Nothing else in the page touches the socket.

import { decodeFrame, KIND } from "./frames.js";

const TOKEN_KEY = "propscope.token";
const BACKOFF_MS = [500, 1000, 2000, 4000, 8000, 15000];

export function startConnection(store, { wsPath = "/ws" } = {}) {
  let socket = null;
  let nextId = 1;
  let attempt = 0;
  let retryTimer = null;
  let stopped = false;
  const pending = new Map();

  function url() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    let token = null;
    try {
      token = sessionStorage.getItem(TOKEN_KEY);
    } catch {
      token = null;
    }
    const base = `${scheme}://${location.host}${wsPath}`;
    return token ? `${base}?resume=${encodeURIComponent(token)}` : base;
  }

  function send(type, fields) {
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

  function onJson(msg) {
    switch (msg.type) {
      case "welcome":
        try {
          sessionStorage.setItem(TOKEN_KEY, msg.token);
        } catch {
          /* storage disabled: resume will not work, the page still does */
        }
        attempt = 0;
        store.set({ welcome: msg, connection: { state: "open", attempt: 0 } });
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

  function onBinary(buffer) {
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
