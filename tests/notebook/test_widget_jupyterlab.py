"""`propscope.show(trainer)` in a real JupyterLab, driven by Chromium: a cell runs, the widget
paints the network — dense, convolutional or recurrent, with the page's own views — and stepping
from Python moves it. No Propscope server runs."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from app.devserver import free_port
from tests.notebook.browser_thread import CHROMIUM_ARGS, run_apart

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

CHROMIUM = os.environ.get("PROPSCOPE_CHROMIUM", "/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-artifacts" / "screenshots"

CELLS = [
    "import propscope as ps\n"
    "trainer = ps.make_trainer(data={'dataset': 'xor'}, network={'hidden': [{'units': 5}]})\n"
    "widget = ps.show(trainer, height=320)\n"
    "widget",
    "import json\nwidget.step()\n"
    "print(json.dumps(trainer.network.layers[0].weight.ravel().tolist()))",
    "print(widget.phase())",
]
# a small CNN on the 8×8 digits, and an RNN over 12-step sequences: the page's layer views
CNN_CELLS = [
    "import json\nimport propscope as ps\n"
    "trainer = ps.make_trainer({'data': {'dataset': 'digits'}, 'network': {'layers': ["
    "{'type': 'conv2d', 'filters': 4, 'kernel': 3, 'activation': 'relu'},"
    " {'type': 'maxpool', 'size': 2}, {'type': 'flatten'}], 'output_activation': 'softmax'},"
    " 'training': {'loss': 'cce', 'batch_size': 16,"
    " 'optimizer': {'name': 'adam', 'learning_rate': 0.05}}})\n"
    "widget = ps.show(trainer)\n"
    "widget",
    "widget.step()\nprint(json.dumps(trainer.network.layers[0].kernel.ravel().tolist()))",
    "print(widget.phase())",
    "widget.train(20)\nprint(trainer.step_count)",
]
RNN_CELLS = [
    "import json\nimport propscope as ps\n"
    "trainer = ps.make_trainer({'data': {'dataset': 'recall', 'sequence_length': 12},"
    " 'network': {'layers': [{'type': 'rnn', 'units': 6}], 'output_activation': 'softmax'},"
    " 'training': {'loss': 'cce', 'batch_size': 16,"
    " 'optimizer': {'name': 'adam', 'learning_rate': 0.05}}})\n"
    "widget = ps.show(trainer)\n"
    "widget",
    "widget.step()\nprint(json.dumps(trainer.network.layers[0].weight_hh.ravel().tolist()))",
    "print(widget.phase())",
    "widget.train(20)\nprint(trainer.step_count)",
]
NOTEBOOKS = {"widget.ipynb": CELLS, "cnn.ipynb": CNN_CELLS, "rnn.ipynb": RNN_CELLS}


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    pytest.importorskip("jupyterlab")
    pytest.importorskip("anywidget")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium not found at {CHROMIUM}")
    folder = tmp_path_factory.mktemp("lab")
    for name, cells in NOTEBOOKS.items():
        nbformat.write(new_notebook(cells=[new_code_cell(c) for c in cells], metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}),
            folder / name)
    token, port = secrets.token_hex(16), free_port()
    log = open(folder / "lab.log", "wb")  # noqa: SIM115 - closed below
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(folder / "config"),
           "JUPYTER_RUNTIME_DIR": str(folder / "runtime"), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", "--allow-root",
         f"--port={port}", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={folder}",
         "--LabApp.news_url=",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        stdout=log, stderr=subprocess.STDOUT, env=env, cwd=folder)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2) as r:
                json.loads(r.read())
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                log.close()
                raise RuntimeError((folder / "lab.log").read_text(errors="replace")) from None
            time.sleep(0.3)
    try:
        yield base, token
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _wait(page, expression: str, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while True:
        value = page.evaluate(expression)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out: {expression}")
        time.sleep(0.2)


INKED = """(() => {
  const el = document.querySelector('.propscope-widget');
  if (!el) return 0;
  const c = el.querySelector('canvas');
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 0; i < d.length; i += 4) if (d[i] < 200 || d[i + 2] < 200) n++;
  return n;
})()"""

# The layer views' maps (heatmap.js canvases): how many are painted with the engine's values —
# orange or blue pixels (|r − b| > 40), not the grey of an empty map — and a digest of all
# their pixels, which changes when any painted value does.
MAPS = """(() => {
  const el = document.querySelector('.propscope-widget');
  const canvases = el ? [...el.querySelectorAll('.layers-view .hm canvas')] : [];
  let painted = 0, digest = 0;
  for (const c of canvases) {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let coloured = 0;
    for (let i = 0; i < d.length; i += 4) {
      if (Math.abs(d[i] - d[i + 2]) > 40) coloured++;
      digest = (digest * 31 + d[i] + 7 * d[i + 1] + 13 * d[i + 2]) % 1000000007;
    }
    if (coloured > 0) painted++;
  }
  return {count: canvases.length, painted, digest};
})()"""

WIDGET = "document.querySelector('.propscope-widget')"


def _run_cell(page, index: int) -> None:
    cell = page.locator(".jp-Notebook .jp-Cell").nth(index)
    cell.locator(".cm-content").click()
    page.keyboard.press("Shift+Enter")


def _printed(page, index: int):
    output = page.locator(".jp-Notebook .jp-Cell").nth(index).locator(".jp-OutputArea-output")
    return json.loads(output.inner_text())


def _stepped(page, array: str):
    return page.evaluate(f"Array.from({WIDGET}.__propscope.store.get('stepFrame')"
                         f".arrays['{array}'].data)")


def _in_lab(base: str, token: str, notebook: str, check) -> list[str]:
    """Open the notebook in JupyterLab with Chromium, run its first cell (the widget) and hand
    the page to check; the console's lines come back."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        console: list[str] = []
        page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
        # a workspace of its own, reset: JupyterLab would reopen the notebooks of earlier tests
        workspace = notebook.removesuffix(".ipynb")
        page.goto(f"{base}/lab/workspaces/{workspace}/tree/{notebook}?reset&token={token}")
        page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=90_000)
        # the kernel is up once the status bar says so; a cell run before that is dropped
        _wait(page, "document.querySelector('.jp-StatusBar-Widget')"
                    " && document.body.innerText.includes('| Idle')", 90)
        _run_cell(page, 0)
        try:
            _wait(page, f"{WIDGET}?.dataset.step === '0'", 40)
        except AssertionError:
            SHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SHOTS / f"widget-failure-{notebook}.png"))
            raise AssertionError("\n".join(console[-30:])) from None
        check(page)
        browser.close()
    return console


def _errors(console: list[str]) -> list[str]:
    return [line for line in console if line.startswith(("pageerror", "error"))]


def test_the_widget_paints_and_moves_when_python_steps(lab):
    console = run_apart(_in_lab, *lab, "widget.ipynb", _check_dense)
    assert not _errors(console), console


def _check_dense(page) -> None:
    assert _wait(page, INKED) > 500  # links and neurons are drawn on the background canvas
    assert page.evaluate(f"{WIDGET}.dataset.family") == "dense"
    assert not page.locator(".propscope-widget .layers-legend").is_visible()
    before = _stepped(page, "weight.0")
    _run_cell(page, 1)
    _wait(page, f"{WIDGET}.dataset.step === '1'")
    after = _stepped(page, "weight.0")
    assert after != before  # the kernel's update reached the picture
    assert after == pytest.approx(_printed(page, 1), rel=1e-6, abs=1e-7)  # float32 on the wire
    _run_cell(page, 2)
    _wait(page, f"{WIDGET}.dataset.phase === 'Forward · layer 1'")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "widget-jupyterlab-1280.png"))


def test_a_cnn_widget_paints_its_maps_and_moves_when_python_steps(lab):
    console = run_apart(_in_lab, *lab, "cnn.ipynb", _check_cnn)
    assert not _errors(console), console


def _check_cnn(page) -> None:
    assert page.evaluate(f"{WIDGET}.dataset.family") == "conv"
    # input 1 + conv (a 4, δ 4, K 4) + pool (out 4, ∂L/∂in 4) + flatten (a, δ) = 23 maps
    start = _wait(page, f"(() => {{ const m = {MAPS}; return m.painted === 23 && m; }})()")
    assert start["count"] == 23
    assert page.locator(".propscope-widget .conv-view .band").count() == 5
    assert page.locator(".propscope-widget [data-testid=conv-probs] .cb").count() == 10
    legend = page.locator(".propscope-widget .layers-legend")
    assert legend.is_visible() and legend.locator(".conv-only").is_visible()  # ● pool winner
    before = _stepped(page, "kernel.0")
    _run_cell(page, 1)
    _wait(page, f"{WIDGET}.dataset.step === '1'")
    after = _stepped(page, "kernel.0")
    assert after == pytest.approx(_printed(page, 1), rel=1e-6, abs=1e-7) and after != before
    # the new kernels, feature maps and gradients are painted: the pixels changed
    _wait(page, f"{MAPS}.digest !== {start['digest']}", 10)
    assert "step 1 · loss" in page.locator(".propscope-widget-title").inner_text()
    _run_cell(page, 2)
    _wait(page, f"{WIDGET}.dataset.phase === 'Forward · layer 1 (convolution)'")
    # the band of the layer being computed is lit, as on the page
    _wait(page, "!!document.querySelector('.propscope-widget .band[data-layer=\"0\"].now-forward')")
    SHOTS.mkdir(parents=True, exist_ok=True)
    _trains(page)
    _draws(page)
    page.locator(".propscope-widget").screenshot(path=str(SHOTS / "widget-jupyterlab-cnn.png"))


def _draws(page) -> None:
    """A stroke on the drawing pad goes to the kernel as `probe`; its probe frame comes back and
    the CNN view draws the drawing going forward, with the network's answer to it."""
    canvas = page.locator(".propscope-widget [data-testid=pad-canvas] canvas")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    x = box["x"] + box["width"] * 0.5
    page.mouse.move(x, box["y"] + box["height"] * 0.15)
    page.mouse.down()
    for k in range(1, 8):
        page.mouse.move(x, box["y"] + box["height"] * (0.15 + 0.1 * k))
    page.mouse.up()
    _wait(page, f"!!{WIDGET}.__propscope.store.get('probeFrame')", 20)
    output = page.evaluate(f"{WIDGET}.__propscope.store.get('probeFrame').header.output")
    assert len(output) == 10 and sum(output) == pytest.approx(1.0, abs=1e-6)
    drawn = page.evaluate(f"Array.from({WIDGET}.__propscope.store.get('probeFrame')"
                          ".arrays['sample.activation.0'].data)")
    assert any(v > 0 for v in drawn)  # the drawing's own feature maps
    _wait(page, "document.querySelector('.propscope-widget .band-dense .bars-who')"
                "?.textContent === 'your drawing'", 10)
    assert page.locator(".propscope-widget [data-testid=pad-probs] .cb").count() == 10


def _trains(page) -> None:
    """`widget.train(20)` finishes the step begun by phases and takes 19 more (step 1 → 21): the
    picture shows where it ended, with no phase left in the title."""
    shown = page.evaluate(f"{MAPS}.digest")
    _run_cell(page, 3)
    _wait(page, f"{WIDGET}.dataset.step === '21'")
    assert _printed(page, 3) == 21
    assert page.evaluate(f"{WIDGET}.dataset.phase") == ""
    _wait(page, f"{MAPS}.digest !== {shown}", 10)


def test_an_rnn_widget_paints_its_time_steps_and_moves_when_python_steps(lab):
    console = run_apart(_in_lab, *lab, "rnn.ipynb", _check_rnn)
    assert not _errors(console), console


def _check_rnn(page) -> None:
    assert page.evaluate(f"{WIDGET}.dataset.family") == "rnn"
    # x_t, h_t, δ_t over time and the weights W_hh, W_ih = 5 maps
    start = _wait(page, f"(() => {{ const m = {MAPS}; return m.painted === 5 && m; }})()")
    assert start["count"] == 5
    assert page.evaluate("document.querySelector('.propscope-widget [data-testid=rnn-time-0]')"
                         ".dataset.steps") == "12"
    legend = page.locator(".propscope-widget .layers-legend")
    assert legend.is_visible() and not legend.locator(".conv-only").is_visible()  # no pooling
    # the gradient norm per time step is charted (time_chart.js draws its lines as paths)
    _wait(page, "document.querySelectorAll('.propscope-widget [data-testid=time-chart-0]"
                " path').length > 0")
    before = _stepped(page, "weight_hh.0")
    _run_cell(page, 1)
    _wait(page, f"{WIDGET}.dataset.step === '1'")
    after = _stepped(page, "weight_hh.0")
    assert after == pytest.approx(_printed(page, 1), rel=1e-6, abs=1e-7) and after != before
    _wait(page, f"{MAPS}.digest !== {start['digest']}", 10)
    _run_cell(page, 2)
    _wait(page, f"{WIDGET}.dataset.phase === 'Forward · layer 1 (recurrent)'")
    _wait(page, "!!document.querySelector('.propscope-widget .band[data-layer=\"0\"].now-forward')")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.locator(".propscope-widget").screenshot(path=str(SHOTS / "widget-jupyterlab-rnn.png"))
    _trains(page)
