// A layer too wide for a node per unit (64 pixels, 128 hidden units): drawn as a strip. Collapsed,
// the units are the cells of a small heat map (an image's pixels keep the image's shape, a
// hidden layer fills 16 rows), each cell coloured by the unit's activation, and links to it are
// bundled per row. Expanded, each unit is a thin bar of its own, one row each, with its own
// links. Either way every unit has a place, so a click picks the unit under the pointer.
// Geometry and painting only: the values are the step frame's (network_view.js passes them).
// Once the backward pass reaches the layer, each cell's right half shows the unit's δ.

const MAX_ROWS = 16;
const MAX_CELL = 24;

// Rows × columns of a collapsed strip: an image input keeps its height × width (channels
// stacked), anything else fills up to 16 rows.
export function gridShape(units, imageShape) {
  if (imageShape && imageShape.length >= 2) {
    const w = imageShape[imageShape.length - 1];
    if (w > 0 && units % w === 0) return { rows: units / w, cols: w };
  }
  const rows = Math.min(MAX_ROWS, units);
  return { rows, cols: Math.ceil(units / rows) };
}

// The strip of a column centred at x within [top, top + height]: collapsed (a heat map of cells)
// or expanded (one row per unit). `ports` are where links attach: one per unit when expanded,
// one per row of cells (a bundle) when collapsed.
export function stripLayout(x, units, top, height, maxW, collapsed, imageShape) {
  if (collapsed) {
    const { rows, cols } = gridShape(units, imageShape);
    const cell = Math.max(2, Math.min(maxW / cols, height / rows, MAX_CELL));
    const w = cell * cols;
    const h = cell * rows;
    const y0 = top + (height - h) / 2;
    const ports = [];
    for (let r = 0; r < rows; r++) {
      const first = r * cols;
      if (first >= units) break;
      const list = [];
      for (let i = first; i < Math.min(units, first + cols); i++) list.push(i);
      ports.push({ y: y0 + (r + 0.5) * cell, units: list });
    }
    return { collapsed, units, rows, cols, cell, x0: x - w / 2, y0, w, h, ports,
      xIn: x - w / 2 - 3, xOut: x + w / 2 + 3 };
  }
  const w = Math.min(maxW, 44);
  const spacing = height / units;
  const ports = [];
  for (let i = 0; i < units; i++) ports.push({ y: top + (i + 0.5) * spacing, units: [i] });
  return { collapsed, units, rows: units, cols: 1, cell: spacing, x0: x - w / 2, y0: top, w, h: height,
    ports, xIn: x - w / 2 - 3, xOut: x + w / 2 + 3 };
}

// The rectangle unit i's colour fills (a cell, or an expanded strip's row)
export function cellBox(strip, i, gap = 0) {
  if (strip.collapsed) {
    const r = Math.floor(i / strip.cols);
    const c = i % strip.cols;
    return { x: strip.x0 + c * strip.cell, y: strip.y0 + r * strip.cell, w: strip.cell - gap, h: strip.cell - gap };
  }
  return { x: strip.x0, y: strip.y0 + i * strip.cell, w: strip.w, h: Math.max(0.8, strip.cell - gap) };
}

// Where unit i sits: the centre of its cell (collapsed) or of its bar (expanded)
export function unitCentre(strip, i) {
  if (strip.collapsed) {
    const r = Math.floor(i / strip.cols);
    const c = i % strip.cols;
    return { x: strip.x0 + (c + 0.5) * strip.cell, y: strip.y0 + (r + 0.5) * strip.cell };
  }
  return { x: strip.x0 + strip.w / 2, y: strip.y0 + (i + 0.5) * strip.cell };
}

// The port (row of cells, or the unit's own row) a unit's links attach to
export function portOf(strip, i) {
  return strip.collapsed ? Math.floor(i / strip.cols) : i;
}

// The unit under (x, y), or null: `slack` px around the strip still count (a finger)
export function unitAt(strip, x, y, slack = 0) {
  if (x < strip.x0 - slack || x > strip.x0 + strip.w + slack) return null;
  if (y < strip.y0 - slack || y > strip.y0 + strip.h + slack) return null;
  const clamp = (v, hi) => Math.max(0, Math.min(hi, v));
  if (strip.collapsed) {
    const c = clamp(Math.floor((x - strip.x0) / strip.cell), strip.cols - 1);
    const r = clamp(Math.floor((y - strip.y0) / strip.cell), strip.rows - 1);
    const i = r * strip.cols + c;
    return i < strip.units ? i : null;
  }
  return clamp(Math.floor((y - strip.y0) / strip.cell), strip.units - 1);
}

// Paint the strip: every unit's cell in `colorOf(i)` (the activation's colour) — and, once the
// backward pass has reached the layer (`deltaOf` given), its right half in `deltaOf(i)` (δ's
// colour) inside a magenta frame, as a node shows its a and δ bars — a frame round the strip
// and the selected unit outlined.
export function paintStrip(g, strip, colorOf, selected, deltaOf = null, frame = "#555") {
  g.fillStyle = "#f2f2f2";
  g.fillRect(strip.x0, strip.y0, strip.w, strip.h);
  const gap = strip.cell > 5 ? 1 : 0;
  for (let i = 0; i < strip.units; i++) {
    const box = cellBox(strip, i, gap);
    g.fillStyle = colorOf(i);
    g.fillRect(box.x, box.y, box.w, box.h);
    if (deltaOf) {
      g.fillStyle = deltaOf(i);
      g.fillRect(box.x + box.w / 2, box.y, box.w / 2, box.h);
    }
  }
  g.strokeStyle = deltaOf ? frame : "#555";
  g.lineWidth = deltaOf ? 2 : 1.5;
  g.strokeRect(strip.x0 - 0.5, strip.y0 - 0.5, strip.w + 1, strip.h + 1);
  if (selected !== null && selected !== undefined && selected < strip.units) {
    const p = unitCentre(strip, selected);
    const half = strip.collapsed ? strip.cell / 2 : Math.max(2, strip.cell / 2);
    const w = strip.collapsed ? strip.cell : strip.w;
    g.strokeStyle = "#000";
    g.lineWidth = 3;
    g.strokeRect(p.x - w / 2 - 1.5, p.y - half - 1.5, w + 3, 2 * half + 3);
  }
}
