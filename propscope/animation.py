"""Training as an animation for slides: an animated GIF, an MP4 (H.264) or a WebM (VP9).

A run becomes a list of :class:`Scene` — what one picture shows, taken from the engine's own
numbers — and each scene is drawn with Pillow in the page's colours (orange −, blue +, links as
wide as |value| allows, gold for the forward signal, magenta for the backward error):

* :func:`scenes_from_trainer` steps a live trainer phase by phase (forward through each layer,
  loss, backward through each layer, update) or whole steps, exactly as ``Trainer.next_phase``
  and ``Trainer.step`` compute them;
* :func:`scenes_from_recording` reads a ``.psrec`` recording of the page (docs/protocol.md §9.4)
  and takes one scene per recorded step frame.

:func:`save_animation` writes them at a chosen size and speed (seconds per scene; videos at
``fps`` frames per second). Nothing here needs a browser or a network: Pillow draws, the ffmpeg
that the imageio-ffmpeg wheel ships encodes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.trainer import Trainer
from propscope import map_animation, palette
from propscope.map_animation import (
    MapScene,
    drawn_as_maps,
    maps_needed,
    render_map_scene,
    scene_from_frame,
)

FORMATS = {".gif": "gif", ".mp4": "mp4", ".webm": "webm"}
_CODECS = {"mp4": "libx264", "webm": "libvpx-vp9"}
_FORWARD_GLOW = (255, 196, 0)
_BACKWARD = (194, 0, 122)


@dataclass(frozen=True)
class Scene:
    """One picture of a run: which step and phase, and the numbers it shows."""

    step: int  # the step this scene belongs to (1-based; 0 before any step)
    kind: str  # "forward" | "loss" | "backward" | "update" | "step"
    layer: int | None  # 0-based layer of a forward/backward phase
    title: str
    links: list[np.ndarray]  # per layer (fan_in, units): what the links show
    link_kind: list[str]  # per layer: "w" or "∂L/∂w"
    columns: list[np.ndarray | None]  # per column (inputs first): one sample's values, or None
    activations: list[str]  # activation name per layer (how its neurons are scaled)
    loss: float | None = None  # the batch's total loss once known
    labels: list[str] = field(default_factory=list)  # input names


def scenes_from_trainer(
    trainer: Trainer, steps: int = 1, phases: bool = True
) -> list[Scene | MapScene]:
    """Run ``steps`` steps on ``trainer`` and describe them: one scene per phase, or (with
    ``phases=False``) one per whole step. The trainer really trains. Convolutional, recurrent,
    image, sequence and wide networks are drawn as maps (:mod:`propscope.map_animation`)."""
    if steps < 1:
        raise ValueError("steps must be at least 1")
    if drawn_as_maps(trainer):
        return map_animation.scenes_from_trainer(trainer, steps, phases)
    trainer.discard_pending()
    scenes = []
    for _ in range(steps):
        if not phases:
            record = trainer.step()
            scenes.append(_step_scene(trainer, record))
            continue
        while True:
            phase = trainer.next_phase()
            scenes.append(_phase_scene(trainer, phase))
            if phase.kind == "update":
                break
    return scenes


def _activation_names(trainer: Trainer) -> list[str]:
    return [layer.activation.name for layer in trainer.network.layers]


def _phase_scene(trainer: Trainer, phase) -> Scene:
    record = phase.record
    n = len(trainer.network.layers)
    traces = record.layers
    done_forward = len(traces)
    columns: list[np.ndarray | None] = [record.inputs[0]]
    columns += [traces[k].activation[0] if k < done_forward else None for k in range(n)]
    links, kinds = [], []
    for k in range(n):
        grad = traces[k].weight_grad if k < done_forward else None
        if phase.kind == "update":
            links.append(trainer.network.layers[k].weight)  # the weights after the update
            kinds.append("w")
        elif grad is not None and phase.kind == "backward":
            links.append(grad)
            kinds.append("∂L/∂w")
        else:
            links.append(traces[k].weight if k < done_forward else trainer.network.layers[k].weight)
            kinds.append("w")
    loss = record.total_loss if phase.kind in ("loss", "backward", "update") else None
    return Scene(record.step, phase.kind, phase.layer, f"Step {record.step} · {phase.title}",
                 links, kinds, columns, _activation_names(trainer), loss,
                 list(trainer.problem.input_labels))


def _step_scene(trainer: Trainer, record) -> Scene:
    columns = [record.inputs[0]] + [trace.activation[0] for trace in record.layers]
    links = [layer.weight for layer in trainer.network.layers]
    return Scene(record.step, "step", None, f"Step {record.step}", links,
                 ["w"] * len(links), columns, _activation_names(trainer), record.total_loss,
                 list(trainer.problem.input_labels))


def scenes_from_recording(data: bytes) -> list[Scene | MapScene]:
    """One scene per step frame of a ``.psrec`` recording (the weights and the traced sample
    the page showed at that step), drawn as the page drew that network: neurons and links,
    or maps (the network as the recording's latest snapshot describes it)."""
    import struct

    from app.frames import KIND_STEP, decode_frame
    from app.recording import decode

    try:
        _, items = decode(data)
    except (struct.error, UnicodeDecodeError) as err:
        raise ValueError(f"not a Propscope recording (.psrec): {err}") from None
    network = _Recorded()
    scenes: list[Scene | MapScene] = []
    for _, item in items:
        if isinstance(item, str):
            network = _network_of(item, network)
            continue
        try:
            header, arrays = decode_frame(item)
        except (struct.error, ValueError, KeyError) as err:
            raise ValueError(f"a damaged frame in the recording: {err}") from None
        if header["kind"] != KIND_STEP:
            continue
        if network.maps:
            scenes.append(scene_from_frame(header, arrays, network.layers, network.class_names))
            continue
        n = sum(1 for name in arrays if name.startswith("weight."))
        links = [arrays[f"weight.{k}"] for k in range(n)]
        columns = [arrays.get("sample.input.0")]
        columns += [arrays.get(f"sample.activation.{k}") for k in range(n)]
        names = network.activations if len(network.activations) == n else ["linear"] * n
        scenes.append(Scene(header["step"], "step", None, f"Step {header['step']}", links,
                            ["w"] * n, columns, names, header.get("loss"), network.labels))
    if not scenes:
        raise ValueError("the recording holds no step frames to draw")
    return scenes


@dataclass(frozen=True)
class _Recorded:
    """What a recording's latest snapshot says about the network its frames show."""

    layers: list[dict] = field(default_factory=list)
    activations: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    class_names: list[str] = field(default_factory=list)
    maps: bool = False


def _network_of(text: str, before: _Recorded) -> _Recorded:
    """The network of a recorded snapshot (kept until the next one); other texts change
    nothing."""
    import json

    try:
        message = json.loads(text)
    except ValueError:
        return before
    if not isinstance(message, dict) or message.get("type") != "snapshot":
        return before
    network = message.get("network") or {}
    data = message.get("data") or {}
    layers = [layer for layer in network.get("layers") or [] if isinstance(layer, dict)]
    kinds = [str(layer.get("kind", "dense")) for layer in layers]
    family = str((data.get("dataset") or {}).get("family", "plane"))
    widths = [int(w) for w in network.get("sizes") or [] if isinstance(w, int)]
    return _Recorded(
        layers=layers,
        activations=[str(layer.get("activation", "linear")) for layer in layers],
        labels=[str(label) for label in data.get("input_labels") or before.labels],
        class_names=[str(name) for name in data.get("class_names") or []],
        maps=maps_needed(kinds, family, widths),
    )


# --- drawing -----------------------------------------------------------------------------------


# A font with ∂, −, ∝ and subscripts (Debian's fonts-dejavu-core); Pillow's built-in one lacks
# them, so without DejaVu the text falls back to ASCII spellings.
_FONT_FILES = ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "DejaVuSans.ttf")
_ASCII = str.maketrans({"∂": "d", "−": "-", "∝": "~", "₁": "1", "₂": "2", "·": "-", "—": "-",
                        "²": "^2"})


def _font(size: int):
    """(font, whether it draws the mathematical signs)."""
    from PIL import ImageFont

    for name in _FONT_FILES:
        try:
            return ImageFont.truetype(name, max(8, size)), True
        except OSError:
            continue
    return ImageFont.load_default(size=max(8, size)), False


def font_and_text(size: int):
    """(font, text) where text(s) spells s in what the font can draw (ASCII without DejaVu)."""
    font, unicode_ok = _font(size)
    return font, (lambda value: value if unicode_ok else value.translate(_ASCII))


def _scale_of(values: np.ndarray | None, activation: str | None) -> float:
    if activation in ("tanh", "sigmoid", "softmax"):
        return 1.0
    if values is None:
        return 1.0
    finite = np.abs(values[np.isfinite(values)])
    return float(finite.max()) if finite.size and finite.max() > 0 else 1.0


def _rgba(value: float, scale: float, floor: float) -> tuple[int, int, int, int]:
    r, g, b, a = palette.sign_rgba(float(value), scale, floor)
    return (r, g, b, round(255 * a))


def render_scene(scene: Scene, width: int = 960, height: int = 540):
    """The scene as a Pillow RGB image of exactly width × height pixels."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image, "RGBA")
    unit = height / 540
    sizes = [scene.links[0].shape[0]] + [m.shape[1] for m in scene.links]
    top, bottom = 96 * unit, height - 46 * unit
    left, right = 0.10 * width, 0.76 * width
    tallest = max(sizes)
    node = max(6.0, min(0.7 * (bottom - top) / tallest, 0.5 * (right - left) / len(sizes),
                        46 * unit))
    xs = [left + (right - left) * c / max(1, len(sizes) - 1) for c in range(len(sizes))]

    def ys(n: int) -> list[float]:
        gap = (bottom - top) / tallest
        mid = (top + bottom) / 2
        return [mid + (i - (n - 1) / 2) * gap for i in range(n)]

    positions = [[(x, y) for y in ys(n)] for x, n in zip(xs, sizes, strict=True)]
    max_width = max(1.0, 8 * unit)
    active = scene.layer
    for k, matrix in enumerate(scene.links):
        finite = np.abs(matrix[np.isfinite(matrix)])
        scale = float(finite.max()) if finite.size else 0.0
        order = np.argsort(np.where(np.isfinite(matrix), np.abs(matrix), np.inf), axis=None)
        for flat in order:
            i, j = divmod(int(flat), matrix.shape[1])
            value = float(matrix[i, j])
            (x0, y0), (x1, y1) = positions[k][i], positions[k + 1][j]
            w = max(1, round(palette.link_width(value, scale, max_width)))
            draw.line([(x0 + node / 2, y0), (x1 - node / 2, y1)],
                      fill=_rgba(value, scale, palette.LINK_ALPHA_FLOOR), width=w)
        if k == active and scene.kind in ("forward", "backward"):
            glow = _FORWARD_GLOW if scene.kind == "forward" else _BACKWARD
            for (x0, y0) in positions[k]:
                for (x1, y1) in positions[k + 1]:
                    draw.line([(x0 + node / 2, y0), (x1 - node / 2, y1)], fill=(*glow, 70),
                              width=max(1, round(2 * unit)))
    for c, column in enumerate(positions):
        values = scene.columns[c] if c < len(scene.columns) else None
        act = None if c == 0 else scene.activations[c - 1]
        scale = _scale_of(values, act)
        highlight = active is not None and c == active + 1 and scene.kind in ("forward",
                                                                              "backward")
        for i, (x, y) in enumerate(column):
            box = [x - node / 2, y - node / 2, x + node / 2, y + node / 2]
            fill = (238, 238, 238, 255) if values is None else _rgba(values[i], scale, 0.1)
            draw.rectangle(box, fill=(255, 255, 255, 255))
            draw.rectangle(box, fill=fill)
            outline = (_FORWARD_GLOW if scene.kind == "forward" else _BACKWARD) if highlight \
                else (85, 85, 85)
            draw.rectangle(box, outline=outline, width=max(1, round((3 if highlight else 1.5)
                                                                      * unit)))
    (font, text), (small, _) = font_and_text(round(26 * unit)), font_and_text(round(16 * unit))
    for i, (x, y) in enumerate(positions[0]):
        if i < len(scene.labels):
            draw.text((x - node / 2 - 6 * unit, y), text(scene.labels[i]), fill=(17, 17, 17),
                      font=small, anchor="rm")
    for c, x in enumerate(xs):
        name = "Input" if c == 0 else ("Output" if c == len(xs) - 1 else f"Layer {c}")
        draw.text((x, top - 28 * unit), name, fill=(17, 17, 17), font=small, anchor="mm")
    color = _BACKWARD if scene.kind in ("backward", "loss") else (17, 17, 17)
    draw.text((16 * unit, 14 * unit), text(scene.title), fill=color, font=font)
    box = [0.80 * width, height / 2 - 36 * unit, width - 14 * unit, height / 2 + 36 * unit]
    draw.rectangle(box, fill=(246, 246, 244), outline=_BACKWARD if scene.kind == "loss"
                   else (102, 102, 102), width=max(1, round((3 if scene.kind == "loss" else 1)
                                                            * unit)))
    loss = "—" if scene.loss is None or not math.isfinite(scene.loss) else f"{scene.loss:.4f}"
    draw.text(((box[0] + box[2]) / 2, height / 2 - 12 * unit), "Loss", fill=(17, 17, 17),
              font=small, anchor="mm")
    draw.text(((box[0] + box[2]) / 2, height / 2 + 14 * unit), loss, fill=(17, 17, 17),
              font=small, anchor="mm")
    if len(set(scene.link_kind)) > 1:
        legend = "orange −, blue +; width ∝ |∂L/∂w| where the backward pass has reached, |w| before"
    else:
        legend = f"orange −, blue +; width ∝ |{scene.link_kind[0]}| (each layer to its largest)"
    draw.text((16 * unit, height - 22 * unit), text(legend), fill=(68, 68, 68), font=small,
              anchor="lm")
    return image


def render(scene: Scene | MapScene, width: int = 960, height: int = 540):
    """Either kind of scene as a Pillow RGB image of width × height pixels."""
    if isinstance(scene, MapScene):
        return render_map_scene(scene, width, height)
    return render_scene(scene, width, height)


# --- writing -----------------------------------------------------------------------------------


def save_animation(
    scenes: Sequence[Scene | MapScene],
    path: str | Path,
    width: int = 960,
    height: int = 540,
    seconds_per_scene: float = 0.5,
    fps: int = 30,
) -> Path:
    """Write the scenes to ``path`` (.gif, .mp4 or .webm), each shown ``seconds_per_scene``.

    A GIF holds one frame per scene (its duration is the speed); a video holds
    ``round(seconds_per_scene · fps)`` identical frames per scene (videos have one frame rate).
    Videos need an even width and height (the yuv420p pixels every player decodes)."""
    path = Path(path)
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise ValueError(f"choose a file ending in {', '.join(FORMATS)}, not {path.name!r}")
    if not scenes:
        raise ValueError("no scenes to write")
    if not (16 <= width <= 3840 and 16 <= height <= 2160):
        raise ValueError("width and height must be between 16×16 and 3840×2160")
    if seconds_per_scene <= 0 or not 1 <= fps <= 60:
        raise ValueError("seconds_per_scene must be above 0 and fps between 1 and 60")
    images = (render(scene, width, height) for scene in scenes)
    if kind == "gif":
        _write_gif(images, path, seconds_per_scene)
    else:
        if width % 2 or height % 2:
            raise ValueError(f"a video needs an even width and height, not {width}×{height}")
        repeat = max(1, round(seconds_per_scene * fps))
        _write_video(images, path, width, height, fps, repeat, _CODECS[kind])
    return path


def animate(
    trainer: Trainer,
    path: str | Path,
    steps: int = 1,
    phases: bool = True,
    width: int = 960,
    height: int = 540,
    seconds_per_scene: float = 0.5,
    fps: int = 30,
) -> Path:
    """Train ``steps`` more steps and write them as an animation (see :func:`save_animation`)."""
    scenes = scenes_from_trainer(trainer, steps, phases)
    return save_animation(scenes, path, width, height, seconds_per_scene, fps)


def frames_in_video(scenes: int, seconds_per_scene: float, fps: int) -> int:
    """How many frames :func:`save_animation` writes for a video of that many scenes."""
    return scenes * max(1, round(seconds_per_scene * fps))


def _write_gif(images: Iterable, path: Path, seconds: float) -> None:
    first, *rest = list(images)
    # one palette per frame, no frame merging: each scene stays its own frame
    first.save(path, save_all=True, append_images=rest, duration=round(seconds * 1000),
               loop=0, optimize=False, disposal=1)


def _write_video(images: Iterable, path: Path, width: int, height: int, fps: int,
                 repeat: int, codec: str) -> None:
    import imageio_ffmpeg

    writer = imageio_ffmpeg.write_frames(
        str(path), (width, height), fps=fps, codec=codec, pix_fmt_out="yuv420p",
        macro_block_size=1, quality=None, bitrate="2M" if codec == "libvpx-vp9" else None,
        output_params=["-crf", "20"] if codec == "libx264" else
        ["-deadline", "realtime", "-cpu-used", "8"],
    )
    writer.send(None)
    try:
        for image in images:
            data = np.asarray(image.convert("RGB"), dtype=np.uint8).tobytes()
            for _ in range(repeat):
                writer.send(data)
    finally:
        writer.close()
