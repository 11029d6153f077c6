"""`propscope.show(trainer)`: the page's live network picture in JupyterLab, driven by Python.

An anywidget whose front end loads the page's own ES modules (static/js — sent as text and
imported from blob URLs, so no Propscope server is needed) and feeds them what the server would:
its snapshot and PSF1 step, grid and phase frames, built in the kernel by the server's own view
functions (:mod:`propscope.widget_frames`). The picture is the page's for the network's family,
chosen as the page chooses it (layer_summary.js ``networkFamily``): network_view.js for dense
layers, conv_view.js for convolutions and pooling, rnn_view.js unrolled over time for recurrent
layers. ``widget.step()``, ``widget.phase()`` and ``widget.train(n)`` move the trainer and the
picture together.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import anywidget
import traitlets

from engine.trainer import Trainer
from propscope import widget_frames

log = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parent.parent / "static"
JS = STATIC / "js"
#: The page's modules the widget calls (their imports come along, see module_order).
ENTRY_MODULES = ("store.js", "frames.js", "animation.js", "layer_summary.js", "network_view.js",
                 "conv_view.js", "rnn_view.js", "draw_pad.js")
#: Rules of the page's main style sheet that the layer views' markup and legend rely on.
PAGE_RULES = (".hint", ".visually-hidden", ".num", ".legend", ".legend span", ".sw", ".sw.neg",
              ".sw.pos")
_LEGEND = re.compile(r'<div class="legend layers-legend"[^>]*>.*?</div>', re.S)
_IMPORT = re.compile(r'from "\./([a-z_]+\.js)"')


def module_order(entries: tuple[str, ...] = ENTRY_MODULES) -> list[str]:
    """The page modules the widget needs, each after the modules it imports (read from their
    own import lines, so a new import in the page never breaks the widget)."""
    order: list[str] = []

    def visit(name: str) -> None:
        if name in order:
            return
        for dependency in _IMPORT.findall((JS / name).read_text(encoding="utf-8")):
            visit(dependency)
        order.append(name)

    for entry in entries:
        visit(entry)
    return order


def layers_legend() -> str:
    """The page's legend of the layer maps (templates/index.html), as it stands there."""
    template = (STATIC.parent / "templates" / "index.html").read_text(encoding="utf-8")
    return _LEGEND.search(template).group(0)


def page_css() -> str:
    """The page's own styles for the layer views, confined to the widget: its colour variables
    (propscope.css ``:root``), the few general rules the views' markup uses, and layers.css whole,
    nested under ``.propscope-widget`` so that none of it reaches the rest of JupyterLab."""
    main = (STATIC / "css" / "propscope.css").read_text(encoding="utf-8")
    variables = re.search(r":root\s*\{([^}]*)\}", main).group(1)
    rules = [m.group(0) for selector in PAGE_RULES
             for m in re.finditer(rf"^{re.escape(selector)}\s*\{{[^}}]*\}}", main, re.M)]
    layers = (STATIC / "css" / "layers.css").read_text(encoding="utf-8")
    return ".propscope-widget {" + variables + "\n".join(rules) + "\n" + layers + "\n}\n"


_ESM = r"""
// Import the page's modules from blob URLs, each module's "./x.js" imports pointing at the
// blob of x (in dependency order, as listed by the kernel); the entries' exports, merged.
async function load(sources, order, entries) {
  const urls = {};
  for (const name of order) {
    const code = sources[name].replace(/from "\.\/([a-z_]+\.js)"/g,
      (m, dep) => `from "${urls[dep]}"`);
    urls[name] = URL.createObjectURL(new Blob([code], { type: "text/javascript" }));
  }
  const modules = await Promise.all(entries.map((n) => import(urls[n])));
  return Object.assign({}, ...modules);
}

function buffer(value) {
  if (!value) return null;
  if (value instanceof ArrayBuffer) return value;
  return value.buffer.slice(value.byteOffset, value.byteOffset + value.byteLength);
}

const HEIGHT = { dense: 380, conv: 600, rnn: 560 }; // px, when the kernel does not say

export default {
  async render({ model, el }) {
    const m = await load(model.get("modules"), model.get("order"), model.get("entries"));
    el.classList.add("propscope-widget");
    const title = document.createElement("div");
    title.className = "propscope-widget-title";
    // the dense picture: two stacked canvases, as on the page (#network-wrap)
    const wrap = document.createElement("div");
    wrap.className = "propscope-widget-canvas";
    const bg = document.createElement("canvas");
    const fg = document.createElement("canvas");
    wrap.append(bg, fg);
    // the layer pictures: the page's #layers-view with its #conv-view and #rnn-view
    const layers = document.createElement("div");
    layers.className = "layers-view";
    const conv = document.createElement("div");
    conv.className = "conv-view";
    const rnn = document.createElement("div");
    rnn.className = "rnn-view";
    layers.append(conv, rnn);
    // image data: the page's drawing pad beside the picture (its #draw-pad)
    const pad = document.createElement("div");
    pad.className = "draw-pad";
    const body = document.createElement("div");
    body.className = "propscope-widget-body";
    body.append(wrap, layers, pad);
    // the page's legend of the maps (shown for a CNN or an RNN, as on the page)
    const legend = document.createElement("div");
    legend.innerHTML = model.get("legend");
    el.append(title, body, ...legend.children);
    const store = m.createStore({ linkMode: model.get("link_mode"), scaleMode: "layer",
      presenter: false, speed: 1, selection: null, playing: false, anim: { mode: "idle" } });
    // the views' commands (the drawing pad's `probe`) go to the kernel, which answers with the
    // server's frame for them, as connection.js serves them from the server
    const pending = new Map();
    let nextId = 1;
    store.setCommandHandler((type, fields) => new Promise((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve, reject });
      model.send({ type, id, ...fields });
    }));
    model.on("msg:custom", (msg, buffers) => {
      const waiting = pending.get(msg.id);
      pending.delete(msg.id);
      if (msg.error) {
        console.warn(`propscope widget: ${msg.error}`); // eslint-disable-line no-console
        const err = Object.assign(new Error(msg.error), { reply: { message: msg.error } });
        if (waiting) waiting.reject(err);
        return;
      }
      if (buffers && buffers.length) store.set({ probeFrame: m.decodeFrame(buffer(buffers[0])) });
      if (waiting) waiting.resolve(msg);
    });
    m.startAnimation(store);
    // each view once its family is first shown (the page starts them all; a notebook cell
    // holds one network, so the others would only spin their animation loops)
    const views = {};
    let padView = null;
    const start = {
      dense: () => m.startNetworkView(store, fg, bg),
      conv: () => m.startConvView(store, conv),
      rnn: () => m.startRnnView(store, rnn),
    };
    let family = null;

    // which picture, as layers_view.js chooses it for the page
    const onSnapshot = () => {
      const snap = model.get("snapshot");
      family = m.networkFamily(snap.network.layers);
      el.dataset.family = family;
      const height = `${model.get("height") || HEIGHT[family]}px`;
      wrap.style.height = height;
      layers.style.height = height;
      wrap.hidden = family !== "dense";
      layers.hidden = family === "dense";
      conv.hidden = family !== "conv";
      rnn.hidden = family !== "rnn";
      if (!views[family]) views[family] = start[family]();
      for (const f of ["conv", "rnn"]) if (views[f] && f !== family) views[f].hide();
      // image data, for a CNN or a dense network over the pixels: the pad (layers_view.js's rule)
      const image = family !== "rnn" && m.dataFamily(snap) === "image";
      pad.hidden = !image;
      store.set({ snapshot: snap, spec: snap.spec, step: snap.state.step, phase: null,
        phaseFrame: null, gridFrame: null, lineFrame: null, pointsFrame: null, probeFrame: null,
        padInput: null });
      if (family !== "dense") views[family].show(snap);
      if (image && !padView) padView = m.startDrawPad(store, pad);
      if (padView) {
        if (image) padView.show(snap);
        else padView.hide();
      }
    };
    const repaint = () => {
      if (family !== "dense" && views[family]) views[family].repaint();
    };
    store.subscribe(["stepFrame", "probeFrame", "padInput", "linkMode", "scaleMode"], repaint);
    store.subscribe(["selection"], (s) => {
      if (family !== "dense" && views[family]) views[family].select(s.selection);
    });

    // the title: step, loss and, while stepping by phases, the phase (main.js's readouts)
    const show = () => {
      const f = store.get("stepFrame");
      const p = store.get("phase");
      el.dataset.step = f ? String(f.step) : "";
      el.dataset.phase = p ? p.title : "";
      const loss = f && f.header.loss;
      const known = loss !== null && loss !== undefined;
      title.textContent = `step ${f ? f.step : 0}` + (known ? ` · loss ${loss.toFixed(4)}` : "")
        + (p ? ` · ${p.title} (${p.index}/${p.count})` : "");
    };
    store.subscribe(["stepFrame", "phase"], show);

    const onStep = () => {
      const data = buffer(model.get("step_frame"));
      if (!data) return;
      if (model.get("sweep")) store.set({ stepRequested: performance.now() });
      const frame = m.decodeFrame(data);
      store.set({ stepFrame: frame, step: frame.step });
    };
    // routed by kind, as connection.js routes the server's frames
    const onGrid = () => {
      const data = buffer(model.get("grid_frame"));
      if (!data || !data.byteLength) return;
      const frame = m.decodeFrame(data);
      const key = { [m.KIND.GRID]: "gridFrame", [m.KIND.LINE]: "lineFrame",
        [m.KIND.POINTS]: "pointsFrame" }[frame.kind];
      if (key) store.set({ [key]: frame });
    };
    const onPhase = () => {
      const data = buffer(model.get("phase_frame"));
      if (!data || !data.byteLength) {
        store.set({ phase: null });
        return;
      }
      const frame = m.decodeFrame(data);
      store.set({ phaseFrame: frame, phase: frame.header.phase });
    };
    model.on("change:snapshot", onSnapshot);
    model.on("change:step_frame", onStep);
    model.on("change:phase_frame", onPhase);
    model.on("change:grid_frame", onGrid);
    model.on("change:link_mode", () => store.set({ linkMode: model.get("link_mode") }));
    onSnapshot();
    onGrid();
    onStep();
    el.__propscope = { store, views, family: () => family };
    // the cell's output cleared: the layer views stop painting (their loops find nothing to do)
    return () => {
      for (const f of ["conv", "rnn"]) if (views[f]) views[f].hide();
      if (padView) padView.hide();
    };
  },
};
"""

_CSS = """
.propscope-widget { font: 14px system-ui, sans-serif; background: #fff; color: #111; }
.propscope-widget-title { font-weight: 600; padding: 2px 4px; }
.propscope-widget-body { display: flex; gap: 10px; align-items: flex-start; }
.propscope-widget-canvas { position: relative; flex: 1 1 auto; min-width: 320px; }
.propscope-widget-canvas canvas { position: absolute; left: 0; top: 0; display: block; }
.propscope-widget .layers-view { flex: 1 1 auto; min-width: 320px; }
.propscope-widget .draw-pad { flex: 0 0 250px; }
.propscope-widget .draw-pad .hm.pad { width: 150px; }
.propscope-widget[data-family="conv"] .layers-legend,
.propscope-widget[data-family="rnn"] .layers-legend { display: flex; padding: 4px 4px 2px; }
.propscope-widget[data-family="rnn"] .layers-legend .conv-only { display: none; }
"""


class NetworkWidget(anywidget.AnyWidget):
    """The network picture of one trainer; its methods step the trainer and repaint."""

    _esm = _ESM
    _css = _CSS + page_css()
    modules = traitlets.Dict().tag(sync=True)
    order = traitlets.List().tag(sync=True)
    entries = traitlets.List().tag(sync=True)
    legend = traitlets.Unicode().tag(sync=True)
    snapshot = traitlets.Dict().tag(sync=True)
    step_frame = traitlets.Bytes().tag(sync=True)
    grid_frame = traitlets.Bytes(b"").tag(sync=True)
    phase_frame = traitlets.Bytes(b"").tag(sync=True)
    sweep = traitlets.Bool(False).tag(sync=True)
    link_mode = traitlets.Unicode("weights").tag(sync=True)
    height = traitlets.Int(0).tag(sync=True)  # px; 0: the family's (380 dense, 600 CNN, 560 RNN)

    def __init__(self, trainer: Trainer, height: int | None = None,
                 link_mode: str = "weights") -> None:
        modules = module_order()
        sources = {name: (JS / name).read_text(encoding="utf-8") for name in modules}
        self.trainer = trainer
        self.run = widget_frames.kernel_run(trainer)
        super().__init__(modules=sources, order=modules, entries=list(ENTRY_MODULES),
                         legend=layers_legend(),
                         height=height or 0, link_mode=link_mode,
                         snapshot=widget_frames.snapshot(self.run),
                         grid_frame=widget_frames.grid_frame(self.run),
                         step_frame=widget_frames.step_frame(self.run))
        self.on_msg(self._on_command)

    def _on_command(self, _widget: Any, content: dict, _buffers: list) -> None:
        """A command from the page's views (store.command): the drawing pad's `probe`, answered
        with the server's probe frame for the picture, under the command's id."""
        reply = {"id": content.get("id")}
        if content.get("type") != "probe":
            self.send({**reply, "error": f"the widget answers probe, not {content.get('type')}"})
            return
        try:
            frame = widget_frames.probe_frame(self.run, content.get("input", []))
        except ValueError as err:  # not a picture of this data's size: the pad is told why
            log.warning("propscope widget: probe refused: %s", err)
            self.send({**reply, "error": str(err)})
            return
        self.send({**reply, "ok": True}, buffers=[frame])

    def _send_step(self, sweep: bool) -> None:
        """The grid (its thumbnails change with the weights), then the step frame."""
        self.sweep = sweep
        self.grid_frame = widget_frames.grid_frame(self.run)
        self.step_frame = widget_frames.step_frame(self.run)

    def step(self, n: int = 1) -> None:
        """Train n whole steps; the picture sweeps forward and backward once with the values."""
        for _ in range(n):
            self.trainer.step()
        self.phase_frame = b""
        self._send_step(sweep=True)

    def train(self, n: int) -> str | None:
        """Train up to n steps (stop criteria apply) and show where it ended, without a sweep."""
        reason = self.trainer.train(n)
        self.phase_frame = b""
        self._send_step(sweep=False)
        return reason

    def phase(self) -> str:
        """Run one phase of the current step and show it; returns its title."""
        phase = self.trainer.next_phase()
        self.phase_frame = widget_frames.phase_frame(self.run, phase)
        if phase.kind == "update":
            self._send_step(sweep=False)
        return phase.title

    def reset_view(self) -> None:
        """Resend the whole state (after changing the trainer by hand)."""
        self.run.set_trainer(self.trainer)
        self.snapshot = widget_frames.snapshot(self.run)
        self.phase_frame = b""
        self._send_step(sweep=False)


def show(trainer: Trainer, height: int | None = None,
         link_mode: str = "weights") -> NetworkWidget:
    """A live picture of ``trainer`` as the page draws it — dense, convolutional or recurrent
    (display it as a cell's last expression)."""
    if link_mode not in ("weights", "gradients"):
        raise ValueError("link_mode must be 'weights' or 'gradients'")
    return NetworkWidget(trainer, height=height, link_mode=link_mode)
