"""`propscope.show(trainer)` in a real JupyterLab, driven by Chromium: a cell runs, the widget
paints the network, and stepping from Python moves it. No Propscope server runs."""

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


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    pytest.importorskip("jupyterlab")
    pytest.importorskip("anywidget")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium not found at {CHROMIUM}")
    folder = tmp_path_factory.mktemp("lab")
    nbformat.write(new_notebook(cells=[new_code_cell(c) for c in CELLS], metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}),
        folder / "widget.ipynb")
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


def _run_cell(page, index: int) -> None:
    cell = page.locator(".jp-Notebook .jp-Cell").nth(index)
    cell.locator(".cm-content").click()
    page.keyboard.press("Shift+Enter")


def test_the_widget_paints_and_moves_when_python_steps(lab):
    console = run_apart(_drive_lab, *lab)
    assert not [line for line in console if line.startswith(("pageerror", "error"))], console


def _drive_lab(base: str, token: str) -> list[str]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        console: list[str] = []
        page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
        page.goto(f"{base}/lab/tree/widget.ipynb?token={token}")
        page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=90_000)
        # the kernel is up once the status bar says so; a cell run before that is dropped
        _wait(page, "document.querySelector('.jp-StatusBar-Widget')"
                    " && document.body.innerText.includes('| Idle')", 90)
        _run_cell(page, 0)
        try:
            _wait(page, "document.querySelector('.propscope-widget')?.dataset.step === '0'", 40)
        except AssertionError:
            SHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SHOTS / "widget-failure.png"))
            raise AssertionError("\n".join(console[-30:])) from None
        assert _wait(page, INKED) > 500  # links and neurons are drawn on the background canvas
        before = page.evaluate("Array.from(document.querySelector('.propscope-widget')"
                               ".__propscope.store.get('stepFrame').arrays['weight.0'].data)")
        _run_cell(page, 1)
        _wait(page, "document.querySelector('.propscope-widget').dataset.step === '1'")
        after = page.evaluate("Array.from(document.querySelector('.propscope-widget')"
                              ".__propscope.store.get('stepFrame').arrays['weight.0'].data)")
        assert after != before  # the kernel's update reached the picture
        printed = page.locator(".jp-Notebook .jp-Cell").nth(1).locator(".jp-OutputArea-output")
        kernel = json.loads(printed.inner_text())
        assert after == pytest.approx(kernel, rel=1e-6, abs=1e-7)  # float32 on the wire
        _run_cell(page, 2)
        _wait(page, "document.querySelector('.propscope-widget').dataset.phase"
                    " === 'Forward · layer 1'")
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "widget-jupyterlab-1280.png"))
        browser.close()
    return console
