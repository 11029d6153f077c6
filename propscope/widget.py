"""`propscope.show(trainer)`: the page's network picture live in JupyterLab, driven by Python.

An anywidget whose front end loads the page's own ES modules (static/js/store.js, colors.js,
frames.js, animation.js, network_view.js — sent as text and imported from blob URLs, so no
Propscope server is needed) and feeds them what the server would: a snapshot and PSF1 step and
phase frames built in the kernel (:mod:`propscope.widget_frames`). ``widget.step()``,
``widget.phase()`` and ``widget.train(n)`` move the trainer and the picture together.
"""

from __future__ import annotations

import re
from pathlib import Path

import anywidget
import traitlets

from engine.trainer import Trainer
from propscope import widget_frames

STATIC = Path(__file__).resolve().parent.parent / "static" / "js"
ENTRY_MODULES = ("store.js", "frames.js", "animation.js", "network_view.js")
_IMPORT = re.compile(r'from "\./([a-z_]+\.js)"')


def module_order(entries: tuple[str, ...] = ENTRY_MODULES) -> list[str]:
    """The page modules the widget needs, each after the modules it imports (read from their
    own import lines, so a new import in the page never breaks the widget)."""
    order: list[str] = []

    def visit(name: str) -> None:
        if name in order:
            return
        for dependency in _IMPORT.findall((STATIC / name).read_text(encoding="utf-8")):
            visit(dependency)
        order.append(name)

    for entry in entries:
        visit(entry)
    return order

_ESM = r"""
// Import the page's modules from blob URLs, each module's "./x.js" imports pointing at the
// blob of x (in dependency order, as listed by the kernel).
async function load(sources, order) {
  const urls = {};
  for (const name of order) {
    const code = sources[name].replace(/from "\.\/([a-z_]+\.js)"/g,
      (m, dep) => `from "${urls[dep]}"`);
    urls[name] = URL.createObjectURL(new Blob([code], { type: "text/javascript" }));
  }
  const [store, frames, animation, view] = await Promise.all(
    ["store.js", "frames.js", "animation.js", "network_view.js"].map((n) => import(urls[n])));
  return { ...store, ...frames, ...animation, ...view };
}

function buffer(value) {
  if (!value) return null;
  if (value instanceof ArrayBuffer) return value;
  return value.buffer.slice(value.byteOffset, value.byteOffset + value.byteLength);
}

export default {
  async render({ model, el }) {
    const m = await load(model.get("modules"), model.get("order"));
    el.classList.add("propscope-widget");
    const title = document.createElement("div");
    title.className = "propscope-widget-title";
    const wrap = document.createElement("div");
    wrap.className = "propscope-widget-canvas";
    wrap.style.height = `${model.get("height")}px`;
    const bg = document.createElement("canvas");
    const fg = document.createElement("canvas");
    wrap.append(bg, fg);
    el.append(title, wrap);
    const store = m.createStore({ linkMode: model.get("link_mode"), scaleMode: "layer",
      presenter: false, speed: 1, selection: null, playing: false, anim: { mode: "idle" } });
    m.startAnimation(store);
    const view = m.startNetworkView(store, fg, bg);
    const show = () => {
      const f = store.get("stepFrame");
      el.dataset.step = f ? String(f.step) : "";
      const loss = f && f.header.loss;
      const known = loss !== null && loss !== undefined;
      title.textContent = `step ${f ? f.step : 0}` + (known ? ` · loss ${loss.toFixed(4)}` : "");
    };
    const onSnapshot = () => store.set({ snapshot: model.get("snapshot") });
    const onStep = () => {
      const data = buffer(model.get("step_frame"));
      if (!data) return;
      if (model.get("sweep")) store.set({ stepRequested: performance.now() });
      const frame = m.decodeFrame(data);
      store.set({ stepFrame: frame, step: frame.step });
      show();
    };
    const onPlane = () => {
      const data = buffer(model.get("plane_frame"));
      if (!data || !data.byteLength) return;
      const frame = m.decodeFrame(data);
      store.set(frame.kind === m.KIND.GRID ? { gridFrame: frame } : { lineFrame: frame });
    };
    const onPhase = () => {
      const data = buffer(model.get("phase_frame"));
      if (!data || !data.byteLength) return;
      const frame = m.decodeFrame(data);
      store.set({ phaseFrame: frame, phase: frame.header.phase });
      el.dataset.phase = store.get("phase") ? store.get("phase").title : "";
    };
    model.on("change:snapshot", onSnapshot);
    model.on("change:step_frame", onStep);
    model.on("change:phase_frame", onPhase);
    model.on("change:plane_frame", onPlane);
    model.on("change:link_mode", () => store.set({ linkMode: model.get("link_mode") }));
    onSnapshot();
    onPlane();
    onStep();
    el.__propscope = { store, view };
  },
};
"""

_CSS = """
.propscope-widget { font: 14px system-ui, sans-serif; }
.propscope-widget-title { font-weight: 600; padding: 2px 4px; }
.propscope-widget-canvas { position: relative; width: 100%; min-width: 320px; }
.propscope-widget-canvas canvas { position: absolute; left: 0; top: 0; display: block; }
"""


class NetworkWidget(anywidget.AnyWidget):
    """The network picture of one trainer; its methods step the trainer and repaint."""

    _esm = _ESM
    _css = _CSS
    modules = traitlets.Dict().tag(sync=True)
    order = traitlets.List().tag(sync=True)
    snapshot = traitlets.Dict().tag(sync=True)
    step_frame = traitlets.Bytes().tag(sync=True)
    plane_frame = traitlets.Bytes(b"").tag(sync=True)
    phase_frame = traitlets.Bytes(b"").tag(sync=True)
    sweep = traitlets.Bool(False).tag(sync=True)
    link_mode = traitlets.Unicode("weights").tag(sync=True)
    height = traitlets.Int(380).tag(sync=True)

    def __init__(self, trainer: Trainer, height: int = 380, link_mode: str = "weights") -> None:
        modules = module_order()
        sources = {name: (STATIC / name).read_text(encoding="utf-8") for name in modules}
        self.trainer = trainer
        self._seq = 0
        plane = widget_frames.plane_frame(trainer, 1)
        self._seq = 2
        super().__init__(modules=sources, order=modules, height=height,
                         link_mode=link_mode, snapshot=widget_frames.snapshot(trainer),
                         plane_frame=plane or b"",
                         step_frame=widget_frames.step_frame(trainer, 2))

    def _frame(self) -> bytes:
        """The step frame, after refreshing the thumbnails (they change with the weights)."""
        self._seq += 1
        plane = widget_frames.plane_frame(self.trainer, self._seq)
        if plane is not None:
            self.plane_frame = plane
        self._seq += 1
        return widget_frames.step_frame(self.trainer, self._seq)

    def step(self, n: int = 1) -> None:
        """Train n whole steps; the picture sweeps forward and backward once with the values."""
        for _ in range(n):
            self.trainer.step()
        self.sweep = True
        self.step_frame = self._frame()

    def train(self, n: int) -> str | None:
        """Train up to n steps (stop criteria apply) and show where it ended, without a sweep."""
        reason = self.trainer.train(n)
        self.sweep = False
        self.step_frame = self._frame()
        return reason

    def phase(self) -> str:
        """Run one phase of the current step and show it; returns its title."""
        phase = self.trainer.next_phase()
        self._seq += 1
        self.phase_frame = widget_frames.phase_frame(self.trainer, phase, self._seq)
        if phase.kind == "update":
            self.sweep = False
            self.step_frame = self._frame()
        return phase.title

    def reset_view(self) -> None:
        """Resend the whole state (after changing the trainer by hand)."""
        self.snapshot = widget_frames.snapshot(self.trainer)
        self.sweep = False
        self.step_frame = self._frame()


def show(trainer: Trainer, height: int = 380, link_mode: str = "weights") -> NetworkWidget:
    """A live network picture of ``trainer`` (display it as a cell's last expression)."""
    if link_mode not in ("weights", "gradients"):
        raise ValueError("link_mode must be 'weights' or 'gradients'")
    kinds = sorted({layer.kind for layer in trainer.network.layers} - {"dense"})
    if kinds:
        raise ValueError(
            f"the live widget draws fully connected networks, and this one has {', '.join(kinds)}"
            " layers; see it with ps.feature_maps_figure(trainer, layer) or as an animation of"
            " its maps with ps.animate(trainer, 'step.gif'), or train it on the page")
    return NetworkWidget(trainer, height=height, link_mode=link_mode)
