// The network picture by keyboard: with the picture focused (Tab), the arrow keys walk its
// neurons and links, and what they land on is selected (so the inspector shows it, as a click
// would). `sizes` are the units per column, input first (the snapshot's network.sizes).
//   a neuron:  ↑ ↓ the neuron above / below · ← → the same row in the previous / next column
//              (the input column included) · Shift+→ its first outgoing link
//   a link:    ↑ ↓ the next / previous target · Shift+↑ ↓ the next / previous source
//              ← its source neuron · → its target neuron
//   nothing selected: any arrow selects the first neuron of the first hidden layer

const clamp = (v, lo, hi) => Math.max(lo, Math.min(hi, v));

function neuron(col, index) {
  return col === 0
    ? { type: "neuron", col: 0, layer: -1, index }
    : { type: "neuron", col, layer: col - 1, index };
}

export function moveSelection(sel, key, shift, sizes) {
  const cols = sizes.length;
  if (!cols) return null;
  const arrows = ["ArrowUp", "ArrowDown", "ArrowLeft", "ArrowRight"];
  if (!arrows.includes(key)) return null;
  if (!sel || (sel.type !== "neuron" && sel.type !== "link")) return neuron(Math.min(1, cols - 1), 0);
  const dy = key === "ArrowDown" ? 1 : key === "ArrowUp" ? -1 : 0;
  if (sel.type === "neuron") {
    const col = sel.col;
    if (shift && key === "ArrowRight" && col < cols - 1) {
      return { type: "link", layer: col, source: sel.index, target: 0 };
    }
    if (dy) return neuron(col, clamp(sel.index + dy, 0, sizes[col] - 1));
    const next = clamp(col + (key === "ArrowRight" ? 1 : -1), 0, cols - 1);
    return neuron(next, clamp(sel.index, 0, sizes[next] - 1));
  }
  const { layer, source, target } = sel;
  if (key === "ArrowLeft") return neuron(layer, source);
  if (key === "ArrowRight") return neuron(layer + 1, target);
  if (shift) return { type: "link", layer, source: clamp(source + dy, 0, sizes[layer] - 1), target };
  return { type: "link", layer, source, target: clamp(target + dy, 0, sizes[layer + 1] - 1) };
}
