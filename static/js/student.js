// A student in a room (protocol §9.8): the nickname card, the way back to one's copy after a
// dropped connection, and the teacher's locks on the setup controls.
//
// Nickname: typed once on the room page (the server trims it, checks 1–24 characters of text and
// that nobody in the room has it; its refusal is shown under the field). The server answers with
// a device token, kept in localStorage per room: every later welcome on this device sends it
// back (`class_join {device}`), and the server gives the copy back at its step.
//
// Locks: the server lists the locked controls (`class_locks`) and refuses a locked change whatever
// the page does; here each locked control is disabled, marked aria-disabled with the reason, and
// gets a visible padlock and "locked by your teacher" label. The controls panel re-renders itself, so the
// marks are laid on again after every render (a MutationObserver).

import { clear, h, lockIcon } from "./ui.js";

const $ = (id) => document.getElementById(id);
const deviceKey = (code) => `propscope.device.${code}`;

// the setup controls of each lockable control (controls.js names them), and the transport
const TARGETS = {
  learning_rate: ["select[name=learning_rate]"],
  optimizer: ["select[name=optimizer]", "[name^=opt-]"],
  batch_size: ["[name=batch_size]"],
  regularization: ["select[name=regularization]", "select[name=regularization_rate]"],
  activation: ["select[name^=act-]", "select[name=output_activation]"],
  network: ["[data-testid^=ctl-units-minus]", "[data-testid^=ctl-units-plus]", "[data-testid=ctl-layers-plus]",
    "[data-testid=ctl-layers-minus]", "select[name=initializer]", "[name^=drop-]", "[name=net_seed]", "[data-testid=ctl-reinit]"],
  data: ["select[name=dataset]", "[name=noise]", "[name=train_ratio]", "[name=feature]", "[data-testid=ctl-regenerate]", "[name=data_seed]"],
  training: ["#btn-play", "#btn-step", "#btn-phase", "#btn-reset", "[data-testid=ctl-reset]"],
};

export function readDevice(code) {
  try {
    return JSON.parse(localStorage.getItem(deviceKey(code)) || "null");
  } catch {
    return null;
  }
}

function keepDevice(code, value) {
  try {
    localStorage.setItem(deviceKey(code), JSON.stringify(value));
  } catch {
    /* no storage: the nickname works, a reconnect starts a new copy */
  }
}

// the room's page opened for the projector (the teacher's dashboard links it): it only follows
export const isProjector = () => new URLSearchParams(location.search).get("view") === "projector";

export function startStudent(store, code) {
  if (isProjector()) return;
  const card = $("student-card");
  const form = $("nick-form");
  const input = $("nick-input");
  const error = $("nick-error");
  const who = $("nick-who");
  const lockNote = $("lock-note");
  let joined = null;

  function showJoined() {
    form.hidden = !!joined;
    who.hidden = !joined;
    if (joined) $("nick-name").textContent = joined.nickname;
  }

  async function join(fields) {
    const ack = await store.command("class_join", fields);
    joined = { nickname: ack.nickname, device: ack.device };
    keepDevice(code, joined);
    store.set({ classMe: ack.student });
    error.hidden = true;
    input.removeAttribute("aria-invalid");
    showJoined();
    return ack;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await join({ nickname: input.value });
    } catch (err) {
      const reply = err && err.reply;
      error.textContent = reply ? reply.message : "Not connected: try again in a moment.";
      error.hidden = false;
      input.setAttribute("aria-invalid", "true");
      input.focus();
    }
  });
  $("nick-change").addEventListener("click", () => {
    joined = null;
    showJoined();
    input.focus();
  });

  // every welcome (the first, and after a dropped connection): come back as the same student
  store.subscribe(["welcome"], (s) => {
    if (s.role !== "viewer") return;
    card.hidden = false;
    const kept = readDevice(code);
    if (!kept || !kept.device) {
      showJoined();
      return;
    }
    join({ device: kept.device })
      // unknown here (no copy was kept, the server restarted, the token expired): the same
      // name again, and if that fails too (taken meanwhile), the card asks for one
      .catch(() => (kept.nickname ? join({ nickname: kept.nickname }) : Promise.reject(new Error("no name"))))
      .catch(() => {
        joined = null;
        input.value = kept.nickname || "";
        showJoined();
      });
  });

  // ------------------------------------------------------------------ locks
  const controls = $("controls");
  const observer = new MutationObserver(() => applyLocks());

  function applyLocks() {
    observer.disconnect();
    const mine = store.get("roomMode") === "copy";
    const locks = mine ? store.get("classLocks") || [] : [];
    const locked = new Map(locks.map((l) => [l.control, l]));
    for (const el of document.querySelectorAll("[data-locked]")) {
      if (!locked.has(el.dataset.locked)) unlock(el);
    }
    for (const [control, lock] of locked) {
      for (const selector of TARGETS[control] || []) {
        for (const el of document.querySelectorAll(selector)) lockOne(el, control, lock);
      }
    }
    lockNote.hidden = !locks.length;
    clear(lockNote);
    if (locks.length) lockNote.append(lockIcon(), ` Locked by your teacher: ${locks.map((l) => l.label).join(", ")}`);
    observer.observe(controls, { childList: true, subtree: true });
  }

  function lockOne(el, control, lock) {
    if (el.dataset.locked === control) return;
    el.dataset.locked = control;
    el.disabled = true;
    el.setAttribute("aria-disabled", "true");
    el.dataset.title = el.getAttribute("title") || "";
    el.title = `${lock.label}: ${lock.reason}`;
    const id = `lock-${control}`;
    let label = document.getElementById(id);
    const anchor = el.closest("label, .layer-row, fieldset") || el;
    if (!label && anchor.closest("#controls")) {
      label = h("span", { class: "lock-label", id, "data-testid": `lock-${control}` }, lockIcon(), ` ${lock.reason}`);
      anchor.after(label);
    }
    const described = (el.getAttribute("aria-describedby") || "").split(" ").filter((x) => x && x !== "lock-note");
    el.setAttribute("aria-describedby", [...described, label ? id : "lock-note"].join(" "));
  }

  function unlock(el) {
    const control = el.dataset.locked;
    delete el.dataset.locked;
    el.disabled = false;
    el.removeAttribute("aria-disabled");
    el.title = el.dataset.title || "";
    const described = (el.getAttribute("aria-describedby") || "").split(" ")
      .filter((x) => x && x !== `lock-${control}` && x !== "lock-note");
    if (described.length) el.setAttribute("aria-describedby", described.join(" "));
    else el.removeAttribute("aria-describedby");
    const label = document.getElementById(`lock-${control}`);
    if (label && !document.querySelector(`[data-locked=${control}]`)) label.remove();
  }

  // after main.js set the transport buttons for this state (it subscribes after us)
  store.subscribe(["classLocks", "roomMode", "readOnly", "runs", "spec"], () => queueMicrotask(applyLocks));
  store.subscribe(["status"], (s) => {
    if (s.status && s.status.reason === "teacher_pause") {
      store.set({ notice: { message: "Your teacher paused everyone's training." } });
    }
  });
  applyLocks();
}
