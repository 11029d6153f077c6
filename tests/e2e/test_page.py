"""Browser tests: a real server, a real Chromium, the page as a learner uses it."""

from __future__ import annotations

import math
import re
import time

import pytest

from tests.e2e.support import ARTIFACTS, spec_hash, wait_js, wait_spec

pytestmark = pytest.mark.e2e

XOR = {
    "data": {"dataset": "xor", "noise": 0.1},
    "network": {"hidden": [{"units": 8}, {"units": 8}]},
    "training": {"optimizer": {"name": "sgd", "learning_rate": 0.03}, "batch_size": 10},
}
SMALL = {"data": {"dataset": "xor"}, "network": {"hidden": [{"units": 4}, {"units": 3}]}}


def store_get(page, key: str):
    return page.evaluate(f"window.__propscope.store.get({key!r})")


def step_count(page) -> int:
    return int(page.get_attribute("#ro-step", "data-value") or 0)


def test_play_advances_step_counter_and_loss_chart_and_xor_learns(open_page):
    page, _ = open_page(spec_hash(XOR))
    wait_spec(page, "spec.data.dataset === 'xor' && spec.network.hidden.length === 2")
    first = page.evaluate("window.__propscope.store.get('snapshot').state.metrics.test_loss")
    page.select_option("[data-testid=speed]", "max")
    page.click("[data-testid=play]")
    wait_js(page, "document.body.classList.contains('is-playing')")
    wait_js(page, "Number(document.querySelector('#ro-step').dataset.value) > 500")
    wait_js(
        page,
        "Number(document.querySelector('[data-testid=chart-loss]').dataset.points || 0) > 10"
    )
    a = step_count(page)
    wait_js(page, f"Number(document.querySelector('#ro-step').dataset.value) > {a}")
    # the test loss falls well below where it started (xor is learnt in ~3000 steps)
    wait_js(
        page,
        f"Number(document.querySelector('#ro-test').dataset.value) < {first} * 0.3",
        timeout=30_000,
    )
    page.keyboard.press("Space")
    wait_js(page, "!document.body.classList.contains('is-playing')")
    chart_test = float(page.get_attribute("[data-testid=chart-loss]", "data-last-test-loss"))
    assert chart_test < first


def test_phase_by_phase_names_every_phase_in_order(open_page):
    page, _ = open_page(spec_hash(SMALL))
    wait_spec(page, "spec.network.hidden.length === 2 && spec.network.hidden[1].units === 3")
    start = step_count(page)
    expected = [
        "Forward · layer 1", "Forward · layer 2", "Forward · layer 3", "Loss",
        "Backward · layer 3", "Backward · layer 2", "Backward · layer 1", "Update",
    ]
    seen = []
    for i, title in enumerate(expected, start=1):
        page.keyboard.press(".")
        wait_js(page, f"(window.__propscope.store.get('phase') || {{}}).index === {i}")
        phase = store_get(page, "phase")
        seen.append(phase["title"])
        assert phase["count"] == 8
        # named on screen (the header label; the canvas paints the same title large)
        wait_js(
        page,
            f"document.querySelector('[data-testid=phase-name]').textContent.includes({title!r})"
        )
    assert seen == expected
    wait_js(page, f"Number(document.querySelector('#ro-step').dataset.value) === {start + 1}")


def test_inspector_gradient_equals_latest_frame_and_weight_edit(open_page):
    page, _ = open_page(spec_hash(SMALL))
    wait_spec(page, "spec.network.hidden.length === 2 && spec.network.hidden[1].units === 3")
    page.keyboard.press("s")
    wait_js(
        page,
        "(() => { const f = window.__propscope.store.get('stepFrame'); return f && f.step >= 1"
        " && f.arrays['weight_grad.1']; })()"
    )
    layer, source, target = 1, 2, 1
    pt = page.evaluate(f"window.__propscope.network.linkPoint({layer}, {source}, {target})")
    page.mouse.click(pt["x"], pt["y"])
    sel = store_get(page, "selection")
    assert sel == {"type": "link", "layer": layer, "source": source, "target": target}
    grad_el = page.locator("[data-testid=insp-frame-grad]")
    grad_el.wait_for()
    shown = float(grad_el.get_attribute("data-value"))
    frame = page.evaluate(
        "(() => { const e = window.__propscope.store.get('stepFrame')"
        f".arrays['weight_grad.{layer}'];"
        f" return e.data[{source} * e.shape[1] + {target}]; }})()"
    )
    assert shown == frame
    # the chain rule from the engine, checked by finite differences
    page.locator("[data-testid=ex-relerr]").wait_for()
    rel = float(page.get_attribute("[data-testid=ex-relerr]", "data-value"))
    assert rel < 1e-4
    # the chain rule is of the latest step, at the weights it used: its batch mean is the very
    # gradient the update applied (the frame carries it as float32)
    batch_mean = float(page.get_attribute("[data-testid=ex-batch-grad]", "data-value"))
    assert math.isclose(batch_mean, frame, rel_tol=1e-6, abs_tol=1e-9)
    a_i = float(page.get_attribute("[data-testid=ex-upstream]", "data-value"))
    delta = float(page.get_attribute("[data-testid=ex-delta]", "data-value"))
    product = float(page.get_attribute("[data-testid=ex-sample-grad]", "data-value"))
    assert math.isclose(a_i * delta, product, rel_tol=1e-9, abs_tol=1e-15)

    # edit the weight by hand: the frame carries it at once and the loss responds
    before = page.evaluate("window.__propscope.store.get('stepFrame').header.sample.loss")
    box = page.locator("[data-testid=insp-edit-input]")
    box.fill("2.5")
    box.press("Enter")
    wait_js(
        page,
        f"(() => {{ const e = window.__propscope.store.get('stepFrame').arrays['weight.{layer}'];"
        f" return e.data[{source} * e.shape[1] + {target}] === 2.5; }})()"
    )
    after = page.evaluate("window.__propscope.store.get('stepFrame').header.sample.loss")
    assert after != before
    wait_js(page, "Number(document.querySelector('[data-testid=insp-w]').dataset.value) === 2.5")


def test_learning_rate_changes_live_without_reset(open_page):
    page, _ = open_page(spec_hash(SMALL))
    wait_spec(page, "spec.network.hidden.length === 2")
    page.evaluate(
        "window.__propscope.snapshots = 0;"
        " window.__propscope.store.subscribe(['snapshot'], () => window.__propscope.snapshots++)"
    )
    page.evaluate("window.__propscope.store.set({speed: 300})")
    page.keyboard.press("Space")
    wait_js(page, "Number(document.querySelector('#ro-step').dataset.value) > 30")
    before = step_count(page)
    page.select_option("[data-testid=ctl-learning_rate]", "0.1")
    wait_js(
        page,
        "window.__propscope.store.get('stepFrame').header.learning_rate === 0.1"
    )
    wait_js(
        page,
        f"Number(document.querySelector('#ro-step').dataset.value) > {before + 30}"
    )
    assert page.evaluate("window.__propscope.snapshots") == 0
    assert store_get(page, "playing") is True
    assert "learning_rate%22%3A0.1" in page.evaluate("location.hash")
    page.keyboard.press("Space")


def test_url_round_trips_the_setup_and_presenter_toggles(open_page):
    spec = {
        "data": {"dataset": "spiral", "noise": 0.2},
        "network": {"hidden": [{"units": 5, "activation": "relu"}] * 3},
        "training": {"optimizer": {"name": "adam", "learning_rate": 0.01}, "batch_size": 16},
    }
    page, _ = open_page(spec_hash(spec))
    wait_spec(page, "spec.data.dataset === 'spiral' && spec.network.hidden.length === 3")
    snap = store_get(page, "snapshot")
    assert snap["network"]["sizes"] == [2, 5, 5, 5, 1]
    assert snap["spec"]["training"]["optimizer"]["name"] == "adam"
    assert page.input_value("[data-testid=ctl-dataset]") == "spiral"
    assert page.text_content("[data-testid=ctl-layers]") == "3"
    assert page.input_value("[data-testid=ctl-act-0]") == "relu"
    assert page.input_value("[data-testid=ctl-learning_rate]") == "0.01"
    assert page.input_value("[data-testid=ctl-optimizer]") == "adam"
    assert page.input_value("[data-testid=ctl-batch]") == "16"
    # a structural change rewrites the hash; opening that hash rebuilds the same setup
    page.click("[data-testid=ctl-layers-plus]")
    wait_spec(page, "spec.network.hidden.length === 4")
    link = page.evaluate("location.hash")
    page2, _ = open_page(link)
    wait_spec(page2, "spec.network.hidden.length === 4 && spec.data.dataset === 'spiral'")
    assert store_get(page2, "snapshot")["spec"] == store_get(page, "snapshot")["spec"]

    # presenter mode: key p and the button; advanced controls hidden; kept in the URL
    page.keyboard.press("p")
    wait_js(page, "document.body.classList.contains('presenter')")
    assert not page.is_visible("[data-testid=controls]")
    assert "presenter=1" in page.evaluate("location.hash")
    size = page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)")
    assert size >= 24
    page.click("[data-testid=presenter]")
    wait_js(page, "!document.body.classList.contains('presenter')")
    assert page.is_visible("[data-testid=controls]")


def test_help_overlay_and_gradient_mode_keys(open_page):
    page, _ = open_page(spec_hash(SMALL))
    page.keyboard.press("?")
    page.wait_for_selector("[data-testid=help]", state="visible")
    assert "presenter" in page.text_content("[data-testid=help]")
    page.keyboard.press("Escape")
    page.wait_for_selector("[data-testid=help]", state="hidden")
    page.keyboard.press("g")
    assert store_get(page, "linkMode") == "gradients"
    assert page.get_attribute("[data-testid=mode-gradients]", "aria-pressed") == "true"
    page.keyboard.press("l")
    assert store_get(page, "scaleMode") == "global"


def test_lost_connection_shows_banner_and_resumes_session(open_page):
    page, _ = open_page(spec_hash(SMALL))
    wait_spec(page, "spec.network.hidden.length === 2")
    page.keyboard.press("s")
    wait_js(page, "Number(document.querySelector('#ro-step').dataset.value) >= 1")
    step = step_count(page)
    token = page.evaluate("window.__propscope.store.get('welcome').token")
    page.evaluate("window.__propscope.connection.drop()")
    page.wait_for_selector("[data-testid=banner]", state="visible")
    assert "reconnecting" in page.text_content("[data-testid=banner]")
    wait_js(
        page,
        "(() => { const w = window.__propscope.store.get('welcome');"
        " const c = window.__propscope.store.get('connection');"
        " return c.state === 'open' && w.resumed === true; })()"
    )
    assert page.evaluate("window.__propscope.store.get('welcome').token") == token
    assert store_get(page, "snapshot")["reason"] == "resume"
    assert step_count(page) == step
    page.wait_for_selector("[data-testid=banner]", state="hidden")


def test_divergence_pauses_and_says_so(open_page):
    spec = {
        "data": {"dataset": "plane"},
        "network": {"hidden": [{"units": 8, "activation": "relu"}] * 3,
                    "output_activation": "linear"},
        "training": {"optimizer": {"name": "sgd", "learning_rate": 10}, "batch_size": 1},
    }
    page, _ = open_page(spec_hash(spec))
    wait_spec(page, "spec.data.dataset === 'plane' && spec.training.optimizer.learning_rate === 10")
    page.select_option("[data-testid=speed]", "max")
    page.click("[data-testid=play]")
    wait_js(page, "window.__propscope.store.get('diverged')")
    page.wait_for_selector("[data-testid=banner]", state="visible")
    text = page.text_content("[data-testid=banner]")
    assert re.search(r"Diverged at step \d+", text)
    wait_js(page, "!document.body.classList.contains('is-playing')")


def test_charts_are_local_plotly_throttled_and_export_png(open_page):
    page, watch = open_page(spec_hash(XOR), 1920, 1080)
    wait_spec(page, "spec.data.dataset === 'xor'")
    assert page.evaluate("document.querySelector('script[src$=\"plotly.min.js\"]').src").endswith(
        "/vendor/plotly.min.js"
    )
    for sel in ("chart-loss", "chart-grad", "chart-hist"):
        wait_js(page, f"document.querySelector('[data-testid={sel}]')"
                ".classList.contains('js-plotly-plot')")
    # while playing, each chart redraws at most about once a second (histograms every 2 s)
    page.evaluate("window.__propscope.store.set({speed: 'max'})")
    page.keyboard.press("Space")
    wait_js(page, "Number(document.querySelector('#ro-step').dataset.value) > 200")
    before = page.evaluate("window.__propscope.charts.renders()")
    time.sleep(4)
    after = page.evaluate("window.__propscope.charts.renders()")
    assert after["loss"] - before["loss"] <= 5 and after["grad"] - before["grad"] <= 5
    assert after["hist"] - before["hist"] <= 3
    assert after["loss"] > before["loss"]
    page.keyboard.press("Space")
    wait_js(page, "!document.body.classList.contains('is-playing')")
    # paused: the loss chart shows the final evaluation at once; every trace ≤ 600 points
    step = page.evaluate("window.__propscope.store.get('step')")
    wait_js(page, f"document.querySelector('[data-testid=chart-loss]').dataset.lastStep == {step}")
    sizes = page.evaluate(
        "['chart-loss', 'chart-grad', 'chart-hist'].flatMap(id =>"
        " document.getElementById(id).data.map(t => t.x.length))"
    )
    assert max(sizes) <= 600
    traces = page.evaluate("document.getElementById('chart-grad').data.length")
    assert traces == 3  # one line per layer
    # log toggle
    assert page.evaluate("document.getElementById('chart-loss')._fullLayout.yaxis.type") == "log"
    page.click("#log-loss")
    wait_js(page, "document.getElementById('chart-loss')._fullLayout.yaxis.type === 'linear'")
    # plotly's own "download plot as PNG" in the modebar
    page.hover("[data-testid=chart-loss]")
    button = page.locator("#chart-loss .modebar-btn[data-title='Download plot as a PNG']")
    button.wait_for()
    with page.expect_download() as info:
        button.click()
    assert info.value.suggested_filename == "propscope-loss-xor.png"
    # presenter mode: chart ticks at least 18 px
    page.keyboard.press("p")
    wait_js(page, "document.body.classList.contains('presenter')")
    wait_js(page, "parseFloat(getComputedStyle(document.querySelector("
            "'#chart-loss .xtick text')).fontSize) >= 18")
    assert watch.foreign == []


@pytest.mark.parametrize("width,height", [(1280, 720), (1920, 1080)])
def test_screenshots_fit_the_screen(open_page, width, height):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page, _ = open_page(spec_hash(XOR), width, height)
    wait_spec(page, "spec.data.dataset === 'xor'")
    page.evaluate("window.__propscope.store.set({speed: 200})")
    page.keyboard.press("Space")
    wait_js(page, "Number(document.querySelector('#ro-step').dataset.value) > 300")
    page.keyboard.press("Space")
    wait_js(page, "!document.body.classList.contains('is-playing')")
    page.keyboard.press("s")
    for _ in range(5):
        page.keyboard.press(".")
    wait_js(page, "(window.__propscope.store.get('phase') || {}).index === 5")
    pt = page.evaluate("window.__propscope.network.linkPoint(1, 2, 3)")
    page.mouse.click(pt["x"], pt["y"])
    page.locator("[data-testid=ex-relerr]").wait_for()
    for presenter in (False, True):
        if presenter:
            page.keyboard.press("p")
            wait_js(page, "document.body.classList.contains('presenter')")
        page.mouse.move(2, height - 2)
        time.sleep(0.9)  # let the phase animation and the charts settle for the picture
        name = f"{'presenter' if presenter else 'normal'}-{width}.png"
        page.screenshot(path=str(ARTIFACTS / name))
        # nothing spills out of the window: no page scrollbars, header items inside the width
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        assert page.evaluate("document.documentElement.scrollHeight <= window.innerHeight")
        right = page.evaluate(
            "Math.max(...[...document.querySelectorAll('#topbar > *')]"
            ".map(e => e.getBoundingClientRect().right))"
        )
        assert right <= width
        if presenter:
            # the whole chain rule is on screen, its numbers large; the data plane and the loss
            # chart are visible beside it
            box = page.evaluate(
                "(() => { const r = document.querySelector('[data-testid=insp-chain]')"
                ".getBoundingClientRect(); return [r.top, r.bottom, r.left, r.right]; })()"
            )
            assert box[0] >= 0 and box[1] <= height and box[3] <= width
            size = page.evaluate(
                "parseFloat(getComputedStyle(document.querySelector("
                "'[data-testid=ex-sample-grad]')).fontSize)"
            )
            assert size >= 24
            for sel in ("[data-testid=data-view]", "[data-testid=chart-loss]"):
                r = page.evaluate(
                    f"(() => {{ const r = document.querySelector('{sel}')"
                    ".getBoundingClientRect(); return [r.width, r.bottom]; })()"
                )
                assert r[0] > 100 and r[1] <= height
