// The expand / collapse buttons of the network picture's strips (layer_strip.js): real buttons
// over the canvas, one under each wide layer, reachable with Tab and named for what they do
// ("Expand layer 2 (128 units)"). The same button element stays while its column does, so the
// keyboard focus survives a toggle and every redraw.

// entries: [{col, name, expanded, x, y}] in CSS px of the canvas; `onToggle(col)` on a press
export function syncStripButtons(wrap, entries, onToggle) {
  const existing = new Map();
  for (const b of wrap.querySelectorAll("button.strip-toggle")) existing.set(Number(b.dataset.col), b);
  const keep = new Set();
  for (const e of entries) {
    let b = existing.get(e.col);
    if (!b) {
      b = document.createElement("button");
      b.type = "button";
      b.className = "strip-toggle";
      b.dataset.col = String(e.col);
      b.dataset.testid = `strip-toggle-${e.col}`;
      b.addEventListener("click", () => onToggle(Number(b.dataset.col)));
      wrap.appendChild(b);
    }
    keep.add(e.col);
    const verb = e.expanded ? "Collapse" : "Expand";
    b.textContent = verb;
    b.setAttribute("aria-label", `${verb} ${e.name}`);
    b.setAttribute("aria-expanded", String(e.expanded));
    b.style.left = `${Math.round(e.x)}px`;
    b.style.top = `${Math.round(e.y)}px`;
  }
  for (const [col, b] of existing) if (!keep.has(col)) b.remove();
}
