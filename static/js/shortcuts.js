// Keyboard shortcuts and the `?` overlay that lists them. Actions are store commands or
// store keys; nothing here draws.

export const SHORTCUTS = [
  ["Space", "play / pause"],
  ["s  or  →", "one training step (forward, loss, backward, update)"],
  [".", "one phase: forward layer k, loss, backward layer k, update"],
  ["r", "reset to step 0 (same initial weights)"],
  ["n", "new random weights (reset)"],
  ["g", "links show weights ↔ gradients ∂L/∂w"],
  ["l", "colour scale per layer ↔ global"],
  ["+  /  −", "faster / slower"],
  ["p", "presenter mode"],
  ["c", "presenter mode: show / hide the ‖∂L/∂W‖ chart beside the loss"],
  ["h", "presenter mode: show / hide the weight and gradient histograms"],
  ["o", "classroom: open a room / show its join code and QR code"],
  ["L  (Shift+l)", "lessons: open the menu of ready-made lessons"],
  ["Esc", "close this help / clear the selection"],
  ["?", "this help"],
];

export function startShortcuts(store, overlay, actions) {
  const list = overlay.querySelector("dl");
  list.innerHTML = SHORTCUTS.map(([k, d]) => `<dt><kbd>${k}</kbd></dt><dd>${d}</dd>`).join("");

  function setHelp(open) {
    overlay.hidden = !open;
    store.set({ helpOpen: open });
    if (open) overlay.querySelector("button").focus();
  }
  overlay.addEventListener("click", (e) => {
    if (e.target === overlay || e.target.closest("button.close")) setHelp(false);
  });

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (document.querySelector("dialog[open]")) return; // a dialog has the keyboard (Esc closes it)
    const t = event.target;
    const typing = t && (t.tagName === "INPUT" || t.tagName === "SELECT" || t.tagName === "TEXTAREA");
    if (typing && event.key !== "Escape") return;
    // Space and Enter on a focused button press that button (the browser's own behaviour)
    const pressable = t && t.closest && t.closest("button, a[href], summary, [role=button], [role=menuitem]");
    if (pressable && (event.key === " " || event.key === "Enter")) return;
    const key = event.key;
    let handled = true;
    if (key === "?") setHelp(overlay.hidden);
    else if (key === "Escape") {
      if (!overlay.hidden) setHelp(false);
      else store.set({ selection: null });
      if (typing) t.blur();
    } else if (key === " " || key === "Spacebar") actions.togglePlay();
    else if (key === "s" || key === "ArrowRight") actions.step();
    else if (key === ".") actions.phase();
    else if (key === "r") actions.reset(false);
    else if (key === "n") actions.reset(true);
    else if (key === "g") store.set({ linkMode: store.get("linkMode") === "gradients" ? "weights" : "gradients" });
    else if (key === "l") store.set({ scaleMode: store.get("scaleMode") === "global" ? "layer" : "global" });
    else if (key === "p") store.set({ presenter: !store.get("presenter") });
    else if (key === "c") store.set({ showGrad: !store.get("showGrad") });
    else if (key === "h") store.set({ showHist: !store.get("showHist") });
    else if (key === "o" && actions.room) actions.room();
    else if (key === "L" && actions.lessons) actions.lessons();
    else if (key === "+" || key === "=") actions.speed(1);
    else if (key === "-" || key === "_") actions.speed(-1);
    else handled = false;
    if (handled) event.preventDefault();
  });

  return { setHelp };
}
