"""The File menu downloads the current run as a NumPy or PyTorch script and its next step as a
GIF, from a real page in Chromium — by keyboard on a desktop, by touch on a phone."""

from __future__ import annotations

import subprocess
import sys

from PIL import Image

from tests.e2e.support import ARTIFACTS, spec_hash, wait_js, wait_spec

SPEC = {"data": {"dataset": "xor", "n_samples": 60},
        "network": {"hidden": [{"units": 3, "activation": "tanh"}]}}
ITEMS = ("file-code-numpy", "file-code-pytorch", "file-anim-gif", "file-anim-mp4")


def _stepped(page, steps: int = 3) -> None:
    wait_spec(page, "spec.data.dataset === 'xor'")
    for _ in range(steps):
        page.click("#btn-step")
    wait_js(page, f"window.__propscope.store.get('step') === {steps}")


def _focus_item(page, testid: str) -> None:
    """Open the File menu from the keyboard and walk to one item with the arrow keys."""
    page.focus("[data-testid=file-menu]")
    page.keyboard.press("Enter")
    wait_js(page, "!document.getElementById('file-menu').hidden")
    for _ in range(20):
        if page.evaluate("document.activeElement.dataset.testid") == testid:
            return
        page.keyboard.press("ArrowDown")
    raise AssertionError(f"{testid} is not reachable with the arrow keys")


def test_the_run_downloads_as_a_script_that_continues_from_its_step(open_page, tmp_path):
    page, _ = open_page(spec_hash(SPEC))
    _stepped(page)
    _focus_item(page, "file-code-numpy")
    assert page.get_attribute("[data-testid=file-code-numpy]", "role") == "menuitem"
    with page.expect_download() as info:
        page.keyboard.press("Enter")
    download = info.value
    assert download.suggested_filename == "propscope-xor-step3-numpy.py"
    script = tmp_path / download.suggested_filename
    download.save_as(script)
    text = script.read_text()
    assert "at step 3" in text and "layers 2 → 3 → 1 (tanh, tanh)" in text
    result = subprocess.run([sys.executable, "-I", str(script), "--steps", "2"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert [line.split()[1] for line in result.stdout.splitlines()] == ["4", "5"]

    page.click("[data-testid=file-menu]")
    with page.expect_download() as info:
        page.click("[data-testid=file-code-pytorch]")
    torch_text = info.value.path().read_text()
    assert info.value.suggested_filename == "propscope-xor-step3-torch.py"
    assert "import torch" in torch_text and "layers 2 → 3 → 1" in torch_text


def test_the_next_step_downloads_as_a_gif_of_its_phases(open_page, tmp_path):
    page, _ = open_page(spec_hash(SPEC))
    _stepped(page, 2)
    page.click("[data-testid=file-menu]")
    with page.expect_download(timeout=60_000) as info:
        page.click("[data-testid=file-anim-gif]")
    assert info.value.suggested_filename == "propscope-xor-step2-next-step.gif"
    with Image.open(info.value.path()) as gif:
        assert gif.format == "GIF" and gif.size == (960, 540)
        assert gif.n_frames == 6  # forward ×2, loss, backward ×2, update
    # drawing the next step did not take it: the page is still at step 2
    assert page.evaluate("window.__propscope.store.get('step')") == 2


def test_the_export_items_fit_a_phone_and_a_laptop_screen(open_page):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for width, height, touch in ((390, 844, True), (1280, 720, False)):
        page, _ = open_page(spec_hash(SPEC), width, height, touch=touch)
        wait_spec(page, "spec.data.dataset === 'xor'")
        if touch:
            page.tap("[data-testid=file-menu]")
        else:
            page.click("[data-testid=file-menu]")
        wait_js(page, "!document.getElementById('file-menu').hidden")
        for testid in ITEMS:
            item = page.locator(f"[data-testid={testid}]")
            item.scroll_into_view_if_needed()
            box = item.bounding_box()
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= width, (testid, box)
            assert box["y"] >= 0 and box["y"] + box["height"] <= height, (testid, box)
            assert box["height"] >= 36, (testid, box)  # a finger-sized target
            assert item.inner_text().startswith("Download")
        page.screenshot(path=str(ARTIFACTS / f"file-menu-export-{width}x{height}.png"))
        if touch:
            with page.expect_download() as info:
                page.tap("[data-testid=file-code-pytorch]")
            assert info.value.suggested_filename.endswith("-torch.py")
        page.close()
