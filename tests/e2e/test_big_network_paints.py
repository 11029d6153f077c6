"""The largest dense network the spec accepts (2-352-352-352-1, 249 921 parameters) plays in
the page: new step frames keep being painted while it trains at max speed, the 352×352 gaps
arrive quantised (drawn only) and the inspector prints none of their numbers then — the
selected weight comes from its explanation — and once paused, the frame's exact float32 value."""

from __future__ import annotations

import time

import pytest

from tests.e2e.support import spec_hash, wait_js, wait_spec

pytestmark = pytest.mark.e2e

STORE = "window.__propscope.store"
NET = "window.__propscope.network"
BIG = {"data": {"dataset": "circle"}, "network": {"hidden": [{"units": 352}] * 3}}


def opened(open_page):
    page, _ = open_page(spec_hash(BIG), 1280, 720)
    wait_spec(page, "spec.network.hidden.length === 3 && spec.network.hidden[0].units === 352")
    wait_js(page, f"{STORE}.get('snapshot').network.parameter_count === 249921"
                  f" && {STORE}.get('gridFrame')")
    return page


def play(page) -> None:
    page.evaluate(f"{STORE}.set({{speed: 'max'}})")
    page.evaluate("document.activeElement && document.activeElement.blur()")
    page.keyboard.press("Space")
    wait_js(page, f"{STORE}.get('playing') === true")


def test_a_playing_big_network_keeps_painting_new_step_frames(open_page):
    page = opened(open_page)
    play(page)
    wait_js(page, f"{STORE}.get('stepFrame').arrays['weight.1'].approx === true")
    before = page.evaluate(f"[{NET}.stats.latencies.length, {STORE}.get('step')]")
    time.sleep(4)
    after = page.evaluate(f"[{NET}.stats.latencies.length, {STORE}.get('step')]")
    assert after[0] - before[0] >= 4, f"painted {after[0] - before[0]} step frames in 4 s"
    assert after[1] > before[1]
    page.keyboard.press("Space")


def test_while_playing_the_inspector_prints_no_quantised_weight_and_exact_ones_when_paused(
    open_page,
):
    page = opened(open_page)
    page.evaluate(f"{STORE}.set({{selection: {{type: 'link', layer: 1, source: 3, target: 5}}}})")
    play(page)
    wait_js(page, f"{STORE}.get('stepFrame').arrays['weight.1'].approx === true")
    note = page.locator("[data-testid=insp-drawn-only]")
    note.wait_for()
    # the weight shown is the explanation's (exact, of the step it names), never a uint8 level
    wait_js(page, f"(() => {{ const e = {STORE}.get('explanation');"
                  " return e && e.weights === 'step' && e.layer === 1; })()")
    wait_js(page, "(() => { const n = document.querySelector('[data-testid=insp-w]');"
                  f" const e = {STORE}.get('explanation');"
                  " return n && n.dataset.value !== '' && e"
                  " && Number(n.dataset.value) === e.weight; })()")
    assert page.locator("[data-testid=insp-frame-grad]").inner_text() == "—"
    page.keyboard.press("Space")
    wait_js(page, f"{STORE}.get('playing') === false"
                  f" && {STORE}.get('stepFrame').arrays['weight.1'].approx !== true")
    wait_js(page, "document.querySelector('[data-testid=insp-drawn-only]') === null")
    frame_w = page.evaluate(f"{STORE}.get('stepFrame').arrays['weight.1'].data[3 * 352 + 5]")
    wait_js(page, f"Number(document.querySelector('[data-testid=insp-w]').dataset.value)"
                  f" === {frame_w!r}")
    grad = page.evaluate(f"{STORE}.get('stepFrame').arrays['weight_grad.1'].data[3 * 352 + 5]")
    assert float(page.locator("[data-testid=insp-frame-grad]").get_attribute("data-value")) \
        == grad
