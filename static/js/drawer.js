// The setup drawer of the compact layout (tablets and phones, below 1100 px): the header's
// Setup button opens and closes it, as do its ✕ button, a tap beside it and Esc. It only flips
// `drawerOpen` in the store and a class on <body>; the CSS decides whether the panel is a drawer
// (compact) or the left column (wide, where the button is not shown).

export function startDrawer(store, { toggle, close, panel, backdrop }) {
  function apply(open) {
    document.body.classList.toggle("drawer-open", open);
    toggle.setAttribute("aria-expanded", String(open));
    backdrop.hidden = !open;
  }

  function set(open) {
    if (open === !!store.get("drawerOpen")) return;
    store.set({ drawerOpen: open });
    if (open) {
      // the panel becomes visible with the class above; focus moves into it
      requestAnimationFrame(() => {
        const first = panel.querySelector("select, input, button:not(#setup-close)") || close;
        first.focus({ preventScroll: true });
      });
    } else if (panel.contains(document.activeElement)) toggle.focus();
  }

  store.subscribe(["drawerOpen"], (s) => apply(!!s.drawerOpen));
  toggle.addEventListener("click", () => set(!store.get("drawerOpen")));
  close.addEventListener("click", () => set(false));
  backdrop.addEventListener("click", () => set(false));
  panel.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    event.stopPropagation(); // Esc here closes the drawer, not the selection (shortcuts.js)
    set(false);
  });
  apply(!!store.get("drawerOpen"));
  return { set };
}
