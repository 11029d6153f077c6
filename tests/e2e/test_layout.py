"""The page on a phone, a tablet, a laptop and a projector: what comes first, what fits, what a
finger can do. Each size leaves screenshots in test-artifacts/screenshots/layout-*.png."""

from __future__ import annotations

import time

import pytest

from tests.e2e.support import ARTIFACTS, overlapping_text, spec_hash, wait_js, wait_spec

pytestmark = pytest.mark.e2e

XOR = {
    "data": {"dataset": "xor", "noise": 0.1},
    "network": {"hidden": [{"units": 8}, {"units": 8}]},
    "training": {"optimizer": {"name": "sgd", "learning_rate": 0.03}, "batch_size": 10},
}
SIZES = [(390, 844), (1024, 768), (1280, 720), (1920, 1080)]


def rect(page, selector: str) -> dict:
    return page.evaluate(
        f"(() => {{ const r = document.querySelector({selector!r}).getBoundingClientRect();"
        " return {left: r.left, top: r.top + scrollY, right: r.right, bottom: r.bottom + scrollY,"
        " width: r.width, height: r.height}; })()"
    )


def trained_page(open_page, width: int, height: int, touch: bool):
    """The XOR network a few hundred steps in, halfway through a step (phase 5: backward)."""
    page, watch = open_page(spec_hash(XOR), width, height, touch=touch)
    wait_spec(page, "spec.data.dataset === 'xor' && spec.network.hidden.length === 2")
    page.evaluate("window.__propscope.store.command('play', {speed: 500})")
    wait_js(page, "Number(document.querySelector('#ro-step').dataset.value) > 300")
    page.evaluate("window.__propscope.store.command('pause')")
    wait_js(page, "!document.body.classList.contains('is-playing')")
    for i in range(1, 6):
        page.evaluate("window.__propscope.store.command('phase')")
        wait_js(page, f"(window.__propscope.store.get('phase') || {{}}).index === {i}")
    return page, watch


def check_fits(page, name: str, touch: bool) -> None:
    if not touch:
        page.mouse.move(1, 1)  # no hover label in the picture
    time.sleep(0.9)  # the phase animation and the charts settle for the picture
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(ARTIFACTS / f"layout-{name}.png"))
    page.screenshot(path=str(ARTIFACTS / f"layout-{name}-full.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    overlaps = overlapping_text(page)
    assert not overlaps, f"text boxes that intersect: {overlaps[:8]}"


@pytest.mark.parametrize("width,height", SIZES)
def test_every_size_fits_its_width_and_no_texts_collide(open_page, width, height):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    touch = width < 1100
    page, _ = trained_page(open_page, width, height, touch)
    # the inspector open on a link, tapped with a finger on the touch sizes
    pt = page.evaluate("window.__propscope.network.linkPoint(1, 2, 3)")
    if touch:
        page.touchscreen.tap(pt["x"], pt["y"])
    else:
        page.mouse.click(pt["x"], pt["y"])
    page.locator("[data-testid=ex-relerr]").wait_for()
    check_fits(page, f"{width}x{height}", touch)
    if width >= 1024:
        page.keyboard.press("p")
        wait_js(page, "document.body.classList.contains('presenter')")
        check_fits(page, f"{width}x{height}-presenter", touch)


@pytest.mark.parametrize("width,height", [(390, 844), (1024, 768)])
def test_compact_layout_puts_the_network_first_across_the_width(open_page, width, height):
    page, _ = open_page(spec_hash(XOR), width, height, touch=True)
    wait_spec(page, "spec.data.dataset === 'xor'")
    net = rect(page, "[data-testid=network]")
    header = rect(page, "#topbar")
    # first under the header, (nearly) the whole width, and the larger part of the first screen
    assert net["top"] - header["bottom"] < 80
    assert net["width"] >= width - 4
    assert net["height"] >= 0.4 * (height - header["bottom"])
    # the data plane, the inspector and the charts come below it, inside the width
    for sel in ("[data-testid=data-view]", "[data-testid=inspector]", "[data-testid=chart-loss]"):
        r = rect(page, sel)
        assert r["top"] >= net["bottom"] - 1, sel
        assert r["right"] <= width + 0.5, sel
    if width < 700:  # a phone: one column, the inspector under the data plane, charts under it
        inspector = rect(page, "[data-testid=inspector]")
        assert inspector["top"] >= rect(page, "#data-panel")["bottom"] - 1
        assert rect(page, "[data-testid=chart-loss]")["top"] >= inspector["bottom"] - 1
    # the setup is not on the page until the drawer opens
    setup = page.evaluate("getComputedStyle(document.getElementById('setup')).visibility")
    assert setup == "hidden"


def test_setup_drawer_opens_and_closes_by_button_and_escape(open_page):
    page, _ = open_page(spec_hash(XOR), 390, 844, touch=True)
    wait_spec(page, "spec.data.dataset === 'xor'")
    toggle = page.get_by_role("button", name="Setup", exact=True)
    assert toggle.get_attribute("aria-expanded") == "false"
    toggle.tap()
    wait_js(page, "getComputedStyle(document.getElementById('setup')).visibility === 'visible'")
    assert toggle.get_attribute("aria-expanded") == "true"
    # the drawer's controls work: a third hidden layer
    page.get_by_role("button", name="add a hidden layer").tap()
    wait_spec(page, "spec.network.hidden.length === 3")
    panel = rect(page, "#setup")
    assert panel["left"] >= 0 and panel["right"] <= 390
    page.get_by_role("button", name="close the setup").tap()
    wait_js(page, "getComputedStyle(document.getElementById('setup')).visibility === 'hidden'")
    toggle.tap()
    wait_js(page, "document.activeElement && document.getElementById('setup')"
            ".contains(document.activeElement)")
    page.keyboard.press("Escape")
    wait_js(page, "!document.body.classList.contains('drawer-open')")
    assert page.evaluate("document.activeElement.id") == "btn-setup"


def test_a_tap_on_a_neuron_and_on_a_link_opens_the_inspector(open_page):
    page, _ = open_page(spec_hash(XOR), 390, 844, touch=True)
    wait_spec(page, "spec.data.dataset === 'xor'")
    node = page.evaluate("window.__propscope.network.nodePoint(2, 1)")
    page.touchscreen.tap(node["x"], node["y"])
    wait_js(page, "(window.__propscope.store.get('selection') || {}).type === 'neuron'")
    assert page.evaluate("window.__propscope.store.get('selection')")["index"] == 1
    page.locator("[data-testid=insp-delta]").wait_for()
    pt = page.evaluate("window.__propscope.network.linkPoint(0, 1, 4)")
    page.touchscreen.tap(pt["x"], pt["y"])
    wait_js(page, "(window.__propscope.store.get('selection') || {}).type === 'link'")
    sel = page.evaluate("window.__propscope.store.get('selection')")
    assert (sel["layer"], sel["source"], sel["target"]) == (0, 1, 4)
    page.locator("[data-testid=ex-sample-grad]").wait_for()


def test_a_student_on_a_phone_sees_the_teachers_picture_and_numbers(open_page):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    teacher, _ = trained_page(open_page, 1280, 720, touch=False)
    teacher.keyboard.press("o")
    teacher.locator("[data-testid=room-panel]").wait_for(state="visible")
    wait_js(teacher, "!!(window.__propscope.store.get('room') || {}).code")
    code = teacher.evaluate("window.__propscope.store.get('room').code")
    teacher.keyboard.press("Escape")
    student, _ = open_page(path=f"/r/{code}", width=390, height=844, touch=True)
    wait_js(student, "document.body.dataset.roomMode === 'following'")
    pt = teacher.evaluate("window.__propscope.network.linkPoint(1, 2, 3)")
    teacher.mouse.click(pt["x"], pt["y"])
    teacher.locator("[data-testid=ex-relerr]").wait_for()
    step = teacher.evaluate("window.__propscope.store.get('stepFrame').step")
    wait_js(student, f"document.querySelector('#ro-step').dataset.value === '{step}'")
    student.locator("[data-testid=insp-chain]").wait_for()
    assert student.locator("[data-testid=badge-follow]").is_visible()
    # the charts show the run so far, not only what happened since the student joined
    wait_js(student, "Number(document.getElementById('chart-grad').dataset.points) > 10")
    # the teacher's numbers, in type a phone can show legibly (≥ 16 px), inside the width
    for sel in ("#ro-step", "#ro-test", "[data-testid=ex-sample-grad]"):
        size = student.evaluate(f"parseFloat(getComputedStyle(document.querySelector({sel!r}))"
                                ".fontSize)")
        assert size >= 16, sel
    net = rect(student, "[data-testid=network]")
    assert net["width"] >= 386 and net["height"] >= 340
    boxes = student.evaluate("window.__propscope.network.textBoxes()")
    assert {"Input", "Output"} <= {b["text"] for b in boxes}
    check_fits(student, "390x844-student", touch=True)
