"""Training as an animation for networks drawn as maps: convolutional and recurrent networks,
and dense ones whose inputs are images or sequences or whose layers are too wide for a link
apiece.

Where :mod:`propscope.animation` draws neurons in columns and a link per weight, a map scene
draws each layer as what one sample makes of it — a conv layer's feature maps, a pool's pooled
maps, a recurrent layer's hidden states unrolled over time (one column per time step), a dense
layer's units as a strip — in two bands: the forward band fills left to right with each layer's
output, the backward band right to left with its ∂L/∂z (a pool's ∂L/∂output), exactly as the
engine's phases compute them. The numbers are the trace's own (its cache is the telemetry);
nothing is recomputed to be shown.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from engine.trainer import Trainer
from propscope import palette

#: Which trace field each band shows, by layer kind (flatten only reshapes: not drawn).
FORWARD_FIELD = {"conv2d": "activation", "maxpool": "output", "avgpool": "output",
                 "dense": "activation", "rnn": "activation", "lstm": "activation"}
BACKWARD_FIELD = {"conv2d": "delta", "maxpool": "grad_output", "avgpool": "grad_output",
                  "dense": "delta", "rnn": "delta", "lstm": "delta"}
BOUNDED = frozenset({"tanh", "sigmoid", "softmax"})
WIDEST_LINKED = 24  # a dense layer wider than this is drawn as a strip, not a link apiece
_FORWARD_GLOW = (255, 196, 0)
_BACKWARD = (194, 0, 122)
_EMPTY = (238, 238, 238, 255)
_MAX_TILES = 16  # feature maps drawn per band; more are counted in the panel's title


@dataclass(frozen=True)
class Panel:
    """One drawn layer (or the input): one sample's values in each band, None until known."""

    title: str
    forward: np.ndarray | None
    backward: np.ndarray | None
    layer: int | None  # the engine's 0-based layer index (None: the input)
    names: list[str] = field(default_factory=list)  # unit names (the output's classes)
    bounded: bool = False  # forward values within ±1 (tanh, sigmoid, softmax): coloured so


@dataclass(frozen=True)
class MapScene:
    """One picture of a run drawn as maps: which step and phase, and every panel's numbers."""

    step: int
    kind: str  # "forward" | "loss" | "backward" | "update" | "step"
    layer: int | None  # 0-based layer of a forward/backward phase
    title: str
    panels: list[Panel]
    loss: float | None = None
    predicted: str | None = None  # the class the network gives the traced sample
    target: str | None = None  # the class it should give


def drawn_as_maps(trainer: Trainer) -> bool:
    """Whether the run is drawn as maps rather than as neurons and links."""
    return maps_needed([layer.kind for layer in trainer.network.layers],
                       trainer.dataset.info.family, list(trainer.network.sizes))


def maps_needed(kinds: list[str], family: str, widths: list[int]) -> bool:
    """Maps for any layer but dense, for images and sequences, and for a dense layer (or
    input) wider than WIDEST_LINKED — a link apiece would be a grey blur on a slide."""
    if any(kind != "dense" for kind in kinds) or family in ("image", "sequence"):
        return True
    return max(widths, default=0) > WIDEST_LINKED


def layer_title(described: dict) -> str:
    """A layer in a few words, as a panel's heading: 'conv 4×3×3 relu', 'max-pool 2', …"""
    kind = described["kind"]
    if kind == "conv2d":
        k = described["kernel"]
        return f"conv {described['filters']}×{k}×{k} {described['activation']}"
    if kind in ("maxpool", "avgpool"):
        return f"{'max' if kind == 'maxpool' else 'avg'}-pool {described['size']}"
    if kind in ("rnn", "lstm"):
        return f"{'RNN' if kind == 'rnn' else 'LSTM'} {described['units']}"
    return f"dense {described['units']} {described['activation']}"


# --- scenes from a live trainer ---------------------------------------------------------------


def scenes_from_trainer(trainer: Trainer, steps: int = 1, phases: bool = True) -> list[MapScene]:
    """Run ``steps`` steps on ``trainer``: one scene per phase, or one per whole step."""
    trainer.discard_pending()
    scenes = []
    for _ in range(steps):
        if not phases:
            record = trainer.step()
            scenes.append(_scene(trainer, record, "step", None, f"Step {record.step}"))
            continue
        while True:
            phase = trainer.next_phase()
            scenes.append(_scene(trainer, phase.record, phase.kind, phase.layer,
                                 f"Step {phase.record.step} · {phase.title}"))
            if phase.kind == "update":
                break
    return scenes


def _scene(trainer: Trainer, record, kind: str, layer: int | None, title: str) -> MapScene:
    described = [layer_.describe() for layer_ in trainer.network.layers]
    class_names = list(trainer.dataset.class_names)
    panels = [Panel("Input", record.inputs[0], None, None)]
    for k, trace in enumerate(record.layers):
        if trace.kind == "flatten":
            continue
        forward = getattr(trace, FORWARD_FIELD[trace.kind])
        backward = getattr(trace, BACKWARD_FIELD[trace.kind])
        last = k == len(described) - 1
        names = class_names if last and len(class_names) == described[k].get("units") else []
        panels.append(Panel(layer_title(described[k]), forward[0],
                            None if backward is None else backward[0], k, names,
                            described[k].get("activation") in BOUNDED))
    for k in range(len(record.layers), len(described)):  # not reached yet this step
        if described[k]["kind"] != "flatten":
            panels.append(Panel(layer_title(described[k]), None, None, k,
                                bounded=described[k].get("activation") in BOUNDED))
    known = kind in ("loss", "backward", "update", "step")
    predicted = target = None
    if known and trainer.problem.is_classification and len(record.layers) == len(described):
        out = record.layers[-1].activation[:1]
        predicted = class_names[int(trainer.problem.predicted_classes(out.reshape(1, -1))[0])]
        target = class_names[int(trainer.problem.predicted_classes(
            record.targets[:1].reshape(1, -1))[0])]
    return MapScene(record.step, kind, layer, title, panels,
                    record.total_loss if known else None, predicted, target)


# --- scenes from a recording ------------------------------------------------------------------


def scene_from_frame(header: dict, arrays: dict[str, np.ndarray], layers: list[dict],
                     class_names: list[str]) -> MapScene:
    """A recorded step frame (its traced sample through every layer) as one whole-step scene;
    ``layers`` and ``class_names`` come from the recording's latest snapshot."""
    panels = [Panel("Input", arrays.get("sample.input.0"), None, None)]
    for k, described in enumerate(layers):
        kind = described["kind"]
        if kind == "flatten":
            continue
        last = k == len(layers) - 1
        names = class_names if last and len(class_names) == described.get("units") else []
        panels.append(Panel(layer_title(described),
                            arrays.get(f"sample.{FORWARD_FIELD[kind]}.{k}"),
                            arrays.get(f"sample.{BACKWARD_FIELD[kind]}.{k}"), k, names,
                            described.get("activation") in BOUNDED))
    sample = header.get("sample") or {}
    predicted = sample.get("predicted")
    named = class_names[predicted] if isinstance(predicted, int) and 0 <= predicted < len(
        class_names) else None
    return MapScene(header["step"], "step", None, f"Step {header['step']}", panels,
                    header.get("loss"), named)


# --- drawing ----------------------------------------------------------------------------------


def render_map_scene(scene: MapScene, width: int = 960, height: int = 540):
    """The scene as a Pillow RGB image of exactly width × height pixels."""
    from PIL import Image, ImageDraw

    from propscope.animation import font_and_text

    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image, "RGBA")
    unit = height / 540
    (font, text), (small, _) = font_and_text(round(26 * unit)), font_and_text(round(15 * unit))
    left, right = 104 * unit, width - 16 * unit
    top, bottom = 104 * unit, height - 44 * unit
    gap = 14 * unit
    bands = [(top, (top + bottom) / 2 - gap / 2), ((top + bottom) / 2 + gap / 2, bottom)]
    n = len(scene.panels)
    col_w = (right - left) / n
    for b, (label, (y0, y1)) in enumerate(zip(("forward", "backward"), bands, strict=True)):
        color = (17, 17, 17) if b == 0 else _BACKWARD
        draw.text((16 * unit, (y0 + y1) / 2 - 10 * unit), label, fill=color, font=small,
                  anchor="lm")
        draw.text((16 * unit, (y0 + y1) / 2 + 10 * unit), "output" if b == 0 else text("∂L/∂z"),
                  fill=color, font=small, anchor="lm")
    for c, panel in enumerate(scene.panels):
        x0, x1 = left + c * col_w + 6 * unit, left + (c + 1) * col_w - 6 * unit
        draw.text(((x0 + x1) / 2, top - 14 * unit), text(_heading(panel)), fill=(17, 17, 17),
                  font=small, anchor="mm")
        for b, values in enumerate((panel.forward, panel.backward)):
            y0, y1 = bands[b]
            box = (x0, y0, x1, y1)
            if panel.layer is None and b == 1:
                continue  # the input has no gradient to show
            _draw_values(draw, box, values, unit, 1.0 if b == 0 and panel.bounded else None)
            if panel.names and values is not None and b == 0:
                _draw_names(draw, box, panel.names, small, text, unit)
            active = panel.layer is not None and panel.layer == scene.layer and (
                (b == 0 and scene.kind == "forward") or (b == 1 and scene.kind == "backward"))
            draw.rectangle(box, outline=(_FORWARD_GLOW if b == 0 else _BACKWARD) if active
                           else (150, 150, 150), width=max(1, round((3 if active else 1) * unit)))
    color = _BACKWARD if scene.kind in ("backward", "loss") else (17, 17, 17)
    draw.text((16 * unit, 14 * unit), text(scene.title), fill=color, font=font)
    loss = "—" if scene.loss is None or not math.isfinite(scene.loss) else f"{scene.loss:.4f}"
    facts = [f"loss {loss}"]
    if scene.predicted is not None:
        facts.append(f"predicted {scene.predicted}")
    if scene.target is not None:
        facts.append(f"target {scene.target}")
    draw.text((width - 16 * unit, 30 * unit), text("   ".join(facts)), fill=color, font=small,
              anchor="rm")
    legend = ("orange −, blue +, each map to its largest |value| (tanh, sigmoid, softmax "
              "outputs to 1); forward fills left to right, backward right to left")
    draw.text((16 * unit, height - 22 * unit), text(legend), fill=(68, 68, 68), font=small,
              anchor="lm")
    return image


def _heading(panel: Panel) -> str:
    values = panel.forward if panel.forward is not None else panel.backward
    if values is not None and values.ndim == 3 and values.shape[0] > _MAX_TILES:
        return f"{panel.title} (first {_MAX_TILES} of {values.shape[0]})"
    if values is not None and values.ndim == 2:
        return f"{panel.title} · time →"
    return panel.title


def _draw_values(draw, box: tuple[float, ...], values: np.ndarray | None, unit: float,
                 scale: float | None = None) -> None:
    """One sample's values in a band's box: maps in a grid (C, H, W), time across (T, n), or
    units (n,) in a column (up to 16) or a grid; grey while not yet computed. Coloured to
    ``scale``, or to the largest |value| when None."""
    x0, y0, x1, y1 = box
    if values is None:
        draw.rectangle(box, fill=_EMPTY)
        return
    values = np.asarray(values, dtype=np.float64)
    if scale is None:
        finite = np.abs(values[np.isfinite(values)])
        scale = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    pad = 4 * unit
    if values.ndim == 3:
        maps = values[:_MAX_TILES]
        count, h, w = maps.shape
        cols, size = _grid(count, h, w, x1 - x0 - 2 * pad, y1 - y0 - 2 * pad, pad)
        for m in range(count):
            r, c = divmod(m, cols)
            _cells(draw, maps[m], x0 + pad + c * (size * w + pad), y0 + pad + r * (size * h + pad),
                   size, scale)
        return
    empty = None
    if values.ndim == 1:
        n = len(values)
        if n <= 16:
            values = values[:, None]  # a column, one unit a row (class names fit beside it)
        else:  # wide: units row by row in the grid that makes them largest
            cols, _ = _grid(n, 1, 1, x1 - x0 - 2 * pad, y1 - y0 - 2 * pad, 0.0)
            rows = math.ceil(n / cols)
            grid = np.full(rows * cols, np.nan)
            grid[:n] = values
            values, empty = grid.reshape(rows, cols), n
    else:
        values = values.T  # (T, n) → one row per feature or unit, time across
    rows, cols = values.shape
    size = min((x1 - x0 - 2 * pad) / cols, (y1 - y0 - 2 * pad) / rows, 28 * unit)
    ox = x0 + (x1 - x0 - size * cols) / 2
    oy = y0 + (y1 - y0 - size * rows) / 2
    _cells(draw, values, ox, oy, size, scale, empty)


def _grid(count: int, h: int, w: int, width: float, height: float, pad: float):
    """Columns and cell size that fit ``count`` maps of h × w into width × height largest."""
    best = (1, 0.0)
    for cols in range(1, count + 1):
        rows = math.ceil(count / cols)
        size = min((width - (cols - 1) * pad) / (cols * w),
                   (height - (rows - 1) * pad) / (rows * h))
        if size > best[1]:
            best = (cols, size)
    return best


def _cells(draw, values: np.ndarray, x: float, y: float, size: float, scale: float,
           count: int | None = None) -> None:
    rows, cols = values.shape
    for i in range(rows):
        for j in range(cols):
            if count is not None and i * cols + j >= count:
                continue  # past the last unit of a wide layer's grid
            v = float(values[i, j])
            r, g, b, a = palette.sign_rgba(v, scale, 0.04)
            box = (x + j * size, y + i * size, x + (j + 1) * size - 0.5, y + (i + 1) * size - 0.5)
            draw.rectangle(box, fill=(255, 255, 255, 255))
            draw.rectangle(box, fill=(r, g, b, round(255 * a)))


def _draw_names(draw, box, names: list[str], font, text, unit: float) -> None:
    """Class names beside the output's strip (one name per unit, when they fit)."""
    x0, y0, x1, y1 = box
    n = len(names)
    size = min(x1 - x0 - 8 * unit, (y1 - y0 - 8 * unit) / n, 28 * unit)  # as _draw_values
    if size < 11 * unit or n > 16:
        return
    for i, name in enumerate(names):
        yc = y0 + (y1 - y0 - size * n) / 2 + (i + 0.5) * size
        draw.text(((x0 + x1) / 2 + size / 2 + 4 * unit, yc), text(name), fill=(17, 17, 17),
                  font=font, anchor="lm")
