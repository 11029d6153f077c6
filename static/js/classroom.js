// Classroom rooms (protocol §9.1), both sides.
//
// Presenter: the "Class" button (key o) opens a room (`room_open`, idempotent) and shows its
// panel: the join code large enough to read from the back of the room, the join URL, the QR
// code (an SVG string from the server, parsed as image/svg+xml, never as HTML), the live
// viewer count (`room_update`) and Hold / Hand out / Close. The presenter's selection (the
// inspector's target) is sent as `focus` whenever it changes while a room is open.
//
// Viewer (`/r/CODE`): connection.js joins with `?room=CODE` and keeps `readOnly` / `roomMode`
// in the store; here the badges, the hold marker, "Follow the teacher again" and the
// closed-room banner, and the teacher's `focus` applied to the local selection.
//
// Must be started before the inspector: the presenter's `focus` then leaves before the
// `explain` the inspector sends for the same selection, so viewers get them in that order.

import { startDashboard } from "./dashboard.js";
import { cleanLayerSelection } from "./layer_inspector.js";
import { startChallengeStudent, startChallengeTeacher } from "./challenge_view.js";
import { startStudent } from "./student.js";
import { clear, errorText, h, modal, svgNode } from "./ui.js";

const ROOM_KEY = "propscope.room";
const $ = (id) => document.getElementById(id);

// A join link on 127.0.0.1 / localhost opens on the teacher's computer only: no phone can use it.
export function onlyThisComputer(url) {
  let host = "";
  try {
    host = new URL(url).hostname;
  } catch {
    return false;
  }
  return host === "localhost" || host === "[::1]" || host === "::1" || /^127\./.test(host);
}

export function startClassroom(store) {
  const body = document.body;
  const dialog = modal($("room-dialog"));
  const roomBtn = $("btn-room");
  const status = $("room-status");
  let qrFor = null;
  // the class (protocol §9.8): the teacher's dashboard, or a student's nickname and locks
  const roomCode = body.dataset.roomCode || "";
  const dashboard = roomCode ? null : startDashboard(store);
  if (roomCode) startStudent(store, roomCode);
  if (roomCode) startChallengeStudent(store);
  else startChallengeTeacher(store);

  const isPresenter = () => store.get("role") !== "viewer";
  const presenterRoom = () => (isPresenter() ? store.get("room") : null);

  function report(err) {
    const reply = err && err.reply;
    if (reply && reply.local) return;
    store.set({ lastError: reply || { message: String(err && err.message) } });
  }

  // ------------------------------------------------------------------ presenter
  async function openRoom({ show = true } = {}) {
    if (!isPresenter()) return;
    if (store.get("replaying")) return;
    try {
      const ack = await store.command("room_open");
      store.set({ room: { ...ack, following: ack.viewers } });
      try {
        sessionStorage.setItem(ROOM_KEY, ack.code);
      } catch {
        /* no storage: a reload forgets the room (it stays open on the server) */
      }
      sendFocus();
      if (show) dialog.open();
    } catch (err) {
      report(err);
    }
  }

  function sendFocus() {
    if (!presenterRoom()) return;
    const sel = store.get("selection");
    store.command("focus", { focus: { selection: sel || null } }).catch(() => {});
  }

  function renderRoom() {
    const room = presenterRoom();
    body.classList.toggle("room-open", !!room);
    if (!room) {
      roomBtn.textContent = "Class";
      roomBtn.title = "Classroom: open a room, show its join code (o)";
      dialog.close();
      qrFor = null;
      return;
    }
    const n = room.viewers || 0;
    clear(roomBtn).append("Room ", h("span", { class: "wide-only" }, `${room.code} `), `· ${n}`);
    roomBtn.title = `Room ${room.code}: ${n} viewer${n === 1 ? "" : "s"} — show the join code (o)`;
    $("room-code").textContent = room.code;
    const joinUrl = room.join_url || `${location.origin}${room.join_path || ""}`;
    $("room-url").textContent = joinUrl;
    $("room-join-page").textContent = new URL("/join", joinUrl).href;
    $("room-local").hidden = !onlyThisComputer(joinUrl);
    $("room-viewers").textContent = String(n);
    $("room-viewers").dataset.value = String(n);
    $("room-viewers-word").textContent = n === 1 ? "viewer connected" : "viewers connected";
    const hold = $("room-hold");
    hold.setAttribute("aria-pressed", String(!!room.hold));
    hold.textContent = room.hold ? "Release hold" : "Hold phase";
    if (room.qr_svg && qrFor !== room.qr_svg) {
      const holder = clear($("room-qr"));
      const node = svgNode(room.qr_svg);
      if (node) {
        node.setAttribute("role", "img");
        node.setAttribute("aria-label", `QR code of ${room.join_url}`);
        // scale to the panel: keep the drawing's own coordinates as the viewBox
        const w = parseFloat(node.getAttribute("width"));
        const hh = parseFloat(node.getAttribute("height"));
        if (!node.getAttribute("viewBox") && w > 0 && hh > 0) node.setAttribute("viewBox", `0 0 ${w} ${hh}`);
        node.setAttribute("shape-rendering", "crispEdges");
        node.removeAttribute("width");
        node.removeAttribute("height");
        holder.append(node);
      }
      qrFor = room.qr_svg;
    }
  }

  roomBtn.addEventListener("click", () => {
    if (presenterRoom()) dialog.open();
    else openRoom();
  });
  $("room-hold").addEventListener("click", async () => {
    const room = presenterRoom();
    if (!room) return;
    try {
      const ack = await store.command("room_hold", { hold: !room.hold });
      store.set({ room: { ...presenterRoom(), hold: ack.hold } });
      status.textContent = ack.hold ? `Viewers are asked to hold at step ${ack.step}.` : "Hold released.";
    } catch (err) {
      report(err);
    }
  });
  $("room-handout").addEventListener("click", async () => {
    try {
      const ack = await store.command("room_handout");
      status.textContent = ack.viewers
        ? `Handed out: ${ack.viewers} viewer${ack.viewers === 1 ? " has" : "s have"} an own copy at step ${ack.step}.`
        : "Nobody is following right now: nothing handed out.";
      if (ack.viewers && dashboard) status.textContent += " Their copies are on the Class dashboard.";
    } catch (err) {
      report(err);
    }
  });
  $("room-close").addEventListener("click", async () => {
    try {
      await store.command("room_close");
    } catch (err) {
      if (!(err.reply && err.reply.code === "no_room")) report(err);
    }
    try {
      sessionStorage.removeItem(ROOM_KEY);
    } catch {
      /* ignore */
    }
    status.textContent = "";
    store.set({ room: null });
  });

  store.subscribe(["room", "role"], renderRoom);
  // the presenter's focus: selection changes (subscribed before the inspector, see above)
  store.subscribe(["selection"], () => {
    if (isPresenter()) sendFocus();
  });
  // a presenter page reloaded with resume: the room is still open on the server; fetch it
  store.subscribe(["welcome"], (s) => {
    if (s.role === "viewer") return;
    let code = null;
    try {
      code = sessionStorage.getItem(ROOM_KEY);
    } catch {
      code = null;
    }
    if (s.welcome.resumed && code) openRoom({ show: false });
    else if (!s.welcome.resumed && store.get("room")) store.set({ room: null });
  });

  // ------------------------------------------------------------------ viewer
  const badges = $("mode-badges");
  const banner = $("class-banner");
  function renderViewer() {
    const viewer = store.get("role") === "viewer";
    const mode = viewer ? store.get("roomMode") : "";
    const closed = store.get("roomClosed");
    body.classList.toggle("viewer", viewer);
    body.classList.toggle("following", viewer && mode !== "copy");
    body.classList.toggle("own-copy", viewer && mode === "copy");
    body.dataset.roomMode = mode || "";
    badges.hidden = !viewer;
    $("badge-follow").hidden = !(viewer && mode === "following");
    $("badge-hold").hidden = !(viewer && mode === "following" && store.get("roomHold"));
    $("badge-copy").hidden = !(viewer && mode === "copy");
    $("btn-follow").hidden = !(viewer && mode === "copy" && !closed);
    if (viewer && mode === "closed") {
      $("badge-follow").hidden = false;
      $("badge-follow").textContent = "Room closed";
    } else {
      const shown = store.get("roomProjecting");
      const whose = shown ? (shown.student ? `${shown.student}'s copy` : "a student's copy") : "the teacher";
      $("badge-follow").textContent = `Following ${whose} · read-only`;
    }
    if (closed) {
      const who = closed.reason === "presenter_left" ? "The teacher's session ended: the room was closed." : "The room was closed by the teacher.";
      banner.className = "banner bad big";
      banner.textContent = mode === "copy" ? `${who} You keep your own copy.` : `${who} Thank you for following!`;
      banner.hidden = false;
    } else banner.hidden = true;
  }
  store.subscribe(["role", "roomMode", "roomHold", "roomClosed", "roomProjecting"], renderViewer);

  store.subscribe(["remoteFocus"], (s) => {
    if (s.role !== "viewer" || s.roomMode === "copy") return;
    const f = s.remoteFocus;
    store.set({ selection: cleanSelection(f && f.selection) });
  });

  // the focus is opaque JSON from the server: keep only a well-formed selection of this network
  function cleanSelection(sel) {
    if (!sel || typeof sel !== "object") return null;
    const snap = store.get("snapshot");
    // a kernel or recurrent weight, a feature-map pixel, a hidden state (CNN and RNN pictures)
    if (sel.type === "param" || sel.type === "cell") return cleanLayerSelection(sel, snap);
    const sizes = snap ? snap.network.sizes : [];
    const int = (v, lo, hi) => Number.isInteger(v) && v >= lo && v < hi;
    if (sel.type === "link" && int(sel.layer, 0, sizes.length - 1)
      && int(sel.source, 0, sizes[sel.layer]) && int(sel.target, 0, sizes[sel.layer + 1])) {
      return { type: "link", layer: sel.layer, source: sel.source, target: sel.target };
    }
    if (sel.type === "neuron" && int(sel.col, 0, sizes.length) && int(sel.index, 0, sizes[sel.col])) {
      return { type: "neuron", col: sel.col, layer: sel.col - 1, index: sel.index };
    }
    return null;
  }

  $("btn-follow").addEventListener("click", async () => {
    store.set({ readOnly: true, roomMode: "following", roomHold: false });
    try {
      await store.command("room_follow");
    } catch (err) {
      store.set({ readOnly: true, roomMode: "closed", roomClosed: store.get("roomClosed") || { reason: "closed" } });
      store.set({ lastError: { message: `Could not follow again: ${errorText(err)}` } });
    }
  });

  renderRoom();
  renderViewer();
  return { openRoom, showPanel: () => (presenterRoom() ? dialog.open() : openRoom()) };
}

