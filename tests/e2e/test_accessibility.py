"""axe-core (npm, node_modules/axe-core) against every main state of the page: no violations.
The script is injected through the DevTools protocol (page.evaluate), so the server's
Content-Security-Policy stays as strict as in use and nothing comes from another host."""

from __future__ import annotations

import pytest

from tests.e2e.support import ROOT, spec_hash, wait_js, wait_spec

pytestmark = pytest.mark.e2e

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
XOR = {
    "data": {"dataset": "xor", "noise": 0.1},
    "network": {"hidden": [{"units": 4}, {"units": 3}]},
    "training": {"batch_size": 10},
}
READY = "spec.data.dataset === 'xor' && spec.network.hidden[1].units === 3"


def violations(page) -> list[str]:
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run `npm ci` (make test and .ci/run do)")
    if not page.evaluate("!!window.axe"):
        page.evaluate(AXE.read_text())
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']}: {v['help']} — " + "; ".join(n["target"][0] if isinstance(n["target"][0], str)
                                                 else str(n["target"]) for n in v["nodes"][:4])
        for v in result["violations"]
    ]


def opened(open_page, width=1280, height=720, touch=False):
    page, _ = open_page(spec_hash(XOR), width, height, touch=touch)
    wait_spec(page, READY)
    return page


def test_default_page_has_no_axe_violations(open_page):
    assert violations(opened(open_page)) == []


def test_playing_page_has_no_axe_violations(open_page):
    page = opened(open_page)
    page.select_option("[data-testid=speed]", "30")
    page.click("[data-testid=play]")
    wait_js(page, "Number(document.querySelector('#ro-step').dataset.value) > 5")
    assert violations(page) == []


def test_presenter_mode_has_no_axe_violations(open_page):
    page = opened(open_page)
    page.click("[data-testid=presenter]")
    wait_js(page, "document.body.classList.contains('presenter')")
    assert violations(page) == []


def test_room_dialog_has_no_axe_violations(open_page):
    page = opened(open_page)
    page.click("[data-testid=room]")
    page.locator("[data-testid=room-qr] svg").wait_for()
    assert violations(page) == []


def test_open_inspector_has_no_axe_violations(open_page):
    page = opened(open_page)
    page.click("[data-testid=step]")
    wait_js(page, "window.__propscope.store.get('stepFrame').step === 1")
    pt = page.evaluate("window.__propscope.network.linkPoint(0, 1, 2)")
    page.mouse.click(pt["x"], pt["y"])
    page.locator("[data-testid=ex-relerr]").wait_for()
    assert violations(page) == []


@pytest.mark.parametrize("drawer", [False, True])
def test_phone_page_has_no_axe_violations(open_page, drawer):
    page = opened(open_page, 390, 844, touch=True)
    if drawer:
        page.get_by_role("button", name="Setup", exact=True).tap()
        wait_js(page, "getComputedStyle(document.getElementById('setup')).visibility === 'visible'")
    assert violations(page) == []


def test_the_phase_shown_is_announced_to_screen_readers(open_page):
    page = opened(open_page)
    page.keyboard.press(".")
    wait_js(page, "(window.__propscope.store.get('phase') || {}).index === 1")
    live = page.locator("[data-testid=phase-live]")
    assert live.get_attribute("aria-live") == "polite"
    wait_js(page, "document.querySelector('[data-testid=phase-live]').textContent"
            ".includes('Forward · layer 1')")
    page.keyboard.press("p")  # presenter mode hides the header's phase label, not the announcement
    page.keyboard.press(".")
    wait_js(page, "document.querySelector('[data-testid=phase-live]').textContent"
            ".includes('Forward · layer 2')")
