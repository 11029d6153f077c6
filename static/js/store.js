// The one shared state of the page: a small store with get / set / subscribe.
// Views never talk to each other directly; they read and write keys here, and send
// protocol messages through `store.command(...)`, which connection.js serves.
// Every key is declared in state.js (its shape and first value); any other key is refused.
// Listeners run in the order they subscribed (main.js starts the views in a deliberate order).

import { STATE, initialState } from "./state.js";

function check(key) {
  if (!Object.hasOwn(STATE, key)) throw new Error(`undeclared state key "${key}" (static/js/state.js)`);
}

export function createStore(overrides = {}) {
  const state = initialState(overrides);
  const listeners = new Set();
  let commandHandler = null;

  function get(key) {
    if (key === undefined) return state;
    check(key);
    return state[key];
  }

  // set({key: value, …}) — listeners subscribed to any of the keys are called once, synchronously,
  // with (state, changedKeys). Every set notifies, even when a value is the same object again
  // (frames are replaced, never mutated, so "same object" only happens on purpose).
  function set(patch) {
    const keys = Object.keys(patch);
    keys.forEach(check);
    for (const k of keys) state[k] = patch[k];
    for (const l of [...listeners]) {
      if (!l.keys || keys.some((k) => l.keys.has(k))) {
        try {
          l.fn(state, keys);
        } catch (err) {
          console.error("store listener failed", err); // eslint-disable-line no-console
        }
      }
    }
  }

  // subscribe(["a", "b"], fn) or subscribe(fn) for every change. Returns unsubscribe.
  function subscribe(keys, fn) {
    if (typeof keys !== "function") keys.forEach(check);
    const entry = typeof keys === "function" ? { keys: null, fn: keys } : { keys: new Set(keys), fn };
    listeners.add(entry);
    return () => listeners.delete(entry);
  }

  // command("play", {speed: "max"}) → Promise of the ack (rejects with the error message).
  function command(type, fields = {}) {
    if (!commandHandler) return Promise.reject(new Error("not connected"));
    return commandHandler(type, fields);
  }

  function setCommandHandler(fn) {
    commandHandler = fn;
  }

  return { get, set, subscribe, command, setCommandHandler };
}
