// Small DOM helpers shared by the classroom, file and replay modules: an element builder that
// only ever sets text (never HTML), native <dialog> handling, header drop-down menus and
// downloads. No state lives here.

// h("button", {type: "button", class: "x", dataset: {testid: "y"}, onclick: fn}, "text", child…)
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "text") el.textContent = value;
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

// An SVG document string made by the server (the room's QR code) as a DOM node: parsed as
// image/svg+xml (no scripts run, no HTML parsing), scripts and event attributes dropped anyway.
export function svgNode(text) {
  if (!text) return null;
  let source = String(text).trim();
  // an inline <svg> (as in HTML) may omit the namespace; an SVG document needs it
  if (/^<svg\b/i.test(source) && !/^<svg\b[^>]*\sxmlns=/i.test(source)) {
    source = source.replace(/^<svg\b/i, '<svg xmlns="http://www.w3.org/2000/svg"');
  }
  const doc = new DOMParser().parseFromString(source, "image/svg+xml");
  const root = doc.documentElement;
  if (!root || root.nodeName.toLowerCase() !== "svg" || doc.getElementsByTagName("parsererror").length) return null;
  for (const bad of [...root.querySelectorAll("script, foreignObject")]) bad.remove();
  for (const el of [root, ...root.querySelectorAll("*")]) {
    for (const attr of [...el.attributes]) {
      if (/^on/i.test(attr.name) || /javascript:/i.test(attr.value)) el.removeAttribute(attr.name);
    }
  }
  return document.importNode(root, true);
}

// A native modal <dialog>; Esc and the close buttons ([data-close]) close it.
export function modal(dialog) {
  dialog.addEventListener("click", (event) => {
    if (event.target === dialog || event.target.closest("[data-close]")) dialog.close();
  });
  return {
    open() {
      if (!dialog.open) dialog.showModal();
    },
    close() {
      if (dialog.open) dialog.close();
    },
    get isOpen() {
      return dialog.open;
    },
  };
}

// A header menu: a button that toggles a list of items; a click on an item or outside closes it.
export function menu(button, list) {
  function set(open) {
    list.hidden = !open;
    button.setAttribute("aria-expanded", String(open));
    // on a short screen the list scrolls (CSS overflow) within what is left below its top
    if (open) list.style.maxHeight = `${Math.max(120, window.innerHeight - list.getBoundingClientRect().top - 8)}px`;
  }
  button.addEventListener("click", (event) => {
    event.stopPropagation();
    set(list.hidden);
    if (!list.hidden) {
      const first = list.querySelector("button:not([disabled]):not([hidden])");
      if (first) first.focus();
    }
  });
  list.addEventListener("click", (event) => {
    if (event.target.closest("button")) set(false);
  });
  document.addEventListener("click", (event) => {
    if (!list.hidden && !list.contains(event.target) && event.target !== button) set(false);
  });
  // the keys of a menu: ↑ ↓ move between its items (wrapping), Home / End to the first / last,
  // Esc closes it and gives the focus back to its button
  list.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      set(false);
      button.focus();
      event.stopPropagation();
      return;
    }
    const items = [...list.querySelectorAll("button:not([disabled]):not([hidden])")];
    const at = items.indexOf(document.activeElement);
    let next = null;
    if (event.key === "ArrowDown") next = (at + 1) % items.length;
    else if (event.key === "ArrowUp") next = (at - 1 + items.length) % items.length;
    else if (event.key === "Home") next = 0;
    else if (event.key === "End") next = items.length - 1;
    if (next === null || !items.length) return;
    event.preventDefault();
    event.stopPropagation(); // ← → ↑ ↓ are training shortcuts elsewhere
    items[next].focus();
  });
  set(false);
  return { close: () => set(false) };
}

// Start a download of a same-origin URL (the server answers with Content-Disposition).
export function download(url, filename) {
  const a = h("a", { href: url, download: filename || "", hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
}

export function errorText(err) {
  const reply = err && err.reply ? err.reply : err;
  return (reply && (reply.message || reply.code)) || String(err);
}

// A small padlock (inline SVG, drawn the same on every device: no emoji font needed).
export function lockIcon() {
  const NS = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(NS, "svg");
  for (const [k, v] of Object.entries({ viewBox: "0 0 12 14", class: "lock-icon", "aria-hidden": "true", focusable: "false" })) svg.setAttribute(k, v);
  const shackle = document.createElementNS(NS, "path");
  for (const [k, v] of Object.entries({ d: "M3 6.5V4.2a3 3 0 0 1 6 0v2.3", fill: "none", stroke: "currentColor", "stroke-width": "1.8" })) shackle.setAttribute(k, v);
  const body = document.createElementNS(NS, "rect");
  for (const [k, v] of Object.entries({ x: "1", y: "6", width: "10", height: "8", rx: "1.5", fill: "currentColor" })) body.setAttribute(k, v);
  svg.append(shackle, body);
  return svg;
}
