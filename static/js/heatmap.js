// One small picture of a 2-D array of the engine's numbers: a feature map, a kernel, an input
// image, the hidden states h_t over time. Each value is a cell coloured by colors.js (orange −,
// blue +, grey 0, the dense view's scale); the element is sized by CSS (its width), and a click,
// a tap or the arrow keys pick a cell. The numbers are only mapped to pixels here; `values` are
// the frame's Float32Array views as they are.
//
// heatmap({rows, cols, label, testid, pick}) → {el, paint(values, centre, half, marks),
//   select(cell | null), cellAt(event)}; `pick([i, j])` is called with the chosen cell.

import { BACKWARD, paintPlane } from "./colors.js";

const CELL = 8; // canvas pixels per cell (the canvas is then scaled by CSS, pixelated)

export function heatmap({ rows, cols, label, testid, pick = null, describe = null, className = "" }) {
  const el = document.createElement("div");
  el.className = `hm ${className}`.trim();
  el.style.setProperty("--rows", String(rows));
  el.style.setProperty("--cols", String(cols));
  const canvas = document.createElement("canvas");
  canvas.width = cols * CELL;
  canvas.height = rows * CELL;
  canvas.setAttribute("aria-label", label);
  canvas.setAttribute("role", "img");
  if (testid) el.dataset.testid = testid;
  el.append(canvas);
  const g = canvas.getContext("2d");
  const small = document.createElement("canvas");
  small.width = cols;
  small.height = rows;
  const sg = small.getContext("2d");
  const image = sg.createImageData(cols, rows);
  let selected = null;
  let last = null; // [values, centre, half, marks] of the last paint

  if (pick) {
    // a picture one can pick from: a button for the keyboard (arrows move the picked cell)
    canvas.tabIndex = 0;
    canvas.setAttribute("role", "button");
    canvas.addEventListener("click", (event) => {
      const cell = cellAt(event);
      if (cell) pick(cell);
    });
    canvas.addEventListener("keydown", (event) => {
      const [i, j] = selected || [0, 0];
      const moves = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] };
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        event.stopPropagation();
        pick([i, j]);
        return;
      }
      const m = moves[event.key];
      if (!m || event.ctrlKey || event.metaKey || event.altKey) return;
      event.preventDefault();
      event.stopPropagation();
      pick([Math.max(0, Math.min(rows - 1, i + m[0])), Math.max(0, Math.min(cols - 1, j + m[1]))]);
    });
  }
  if (describe) {
    // the mouse's hover names the cell and its number (a tooltip, from the values painted)
    canvas.addEventListener("pointermove", (event) => {
      if (event.pointerType !== "mouse") return;
      const cell = cellAt(event);
      canvas.title = cell ? describe(cell) : "";
    });
  }

  // the cell under a pointer event, or null
  function cellAt(event) {
    const r = canvas.getBoundingClientRect();
    if (!r.width || !r.height) return null;
    const j = Math.floor(((event.clientX - r.left) / r.width) * cols);
    const i = Math.floor(((event.clientY - r.top) / r.height) * rows);
    return i >= 0 && i < rows && j >= 0 && j < cols ? [i, j] : null;
  }

  // values: rows·cols numbers row-major; colour v ↦ (v − centre) / half on the diverging scale;
  // marks: [[i, j], …] cells to ring (a max-pool's winners)
  function paint(values, centre, half, marks = null) {
    last = [values, centre, half, marks];
    g.clearRect(0, 0, canvas.width, canvas.height);
    if (!values) {
      g.fillStyle = "#f4f4f4";
      g.fillRect(0, 0, canvas.width, canvas.height);
    } else {
      paintPlane(image, values, centre, half);
      sg.putImageData(image, 0, 0);
      g.imageSmoothingEnabled = false;
      g.drawImage(small, 0, 0, canvas.width, canvas.height);
    }
    if (marks) {
      g.fillStyle = "#111";
      for (const [i, j] of marks) {
        g.beginPath();
        g.arc((j + 0.5) * CELL, (i + 0.5) * CELL, CELL * 0.22, 0, Math.PI * 2);
        g.fill();
      }
    }
    if (selected) {
      const [i, j] = selected;
      g.lineWidth = 2;
      g.strokeStyle = "#111";
      g.strokeRect(j * CELL + 1, i * CELL + 1, CELL - 2, CELL - 2);
      g.strokeStyle = BACKWARD;
      g.lineWidth = 1;
      g.strokeRect(j * CELL + 2.5, i * CELL + 2.5, CELL - 5, CELL - 5);
    }
  }

  function select(cell) {
    selected = cell;
    el.classList.toggle("picked", !!cell);
    if (last) paint(...last);
    else paint(null, 0, 1);
  }

  paint(null, 0, 1);
  return { el, canvas, paint, select, cellAt };
}
