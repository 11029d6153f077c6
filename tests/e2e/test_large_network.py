"""A large dense network stays readable (issue 13, item 8): 64-128-64-10 over the 8×8 digits
(flatten, then dense layers: about 17 000 links) is drawn as a dense network whose wide layers
are strips labelled with their unit count, each with a real expand button; expanded, every unit
has its own row and links; a click on a unit or a link opens the inspector with the step frame's
own number. Nothing collides or overflows at 1280×720 and 390×844 (screenshots in
test-artifacts/screenshots/large-*.png)."""

from __future__ import annotations

import time

import pytest

from tests.e2e.support import ARTIFACTS, overlapping_text, spec_hash, wait_js, wait_spec
from tests.e2e.test_accessibility import violations

pytestmark = pytest.mark.e2e

STORE = "window.__propscope.store"
NET = "window.__propscope.network"
DIGITS_DENSE = {
    "data": {"dataset": "digits"},
    "network": {
        "hidden": [],
        "layers": [
            {"type": "flatten"},
            {"type": "dense", "units": 128, "activation": "relu"},
            {"type": "dense", "units": 64, "activation": "relu"},
        ],
        "output_activation": "softmax",
    },
    "training": {"loss": "cce", "batch_size": 16},
}
SIZES = [(1280, 720), (390, 844)]


def opened(open_page, width: int, height: int):
    """The digits network after one step (gradients exist), its picture drawn."""
    touch = width < 600
    page, _ = open_page(spec_hash(DIGITS_DENSE), width, height, touch=touch)
    wait_spec(page, "spec.data.dataset === 'digits' && spec.network.layers.length === 3")
    page.evaluate(f"{STORE}.command('step')")
    wait_js(page, f"{STORE}.get('stepFrame').step >= 1"
                  f" && {STORE}.get('stepFrame').arrays['weight_grad.1']")
    wait_js(page, f"{NET}.strip(2) && document.querySelector('[data-testid=strip-toggle-2]')")
    settled(page)
    return page


def settled(page) -> None:
    """The step's sweep through its phases is over: the picture shows the frame's own weights."""
    wait_js(page, f"(() => {{ const a = {STORE}.get('anim');"
                  " return !a || a.mode === 'idle' || (a.mode === 'sweep'"
                  " && performance.now() - a.start > a.duration + 300); })()")


def toggle(page, col: int):
    return page.locator(f"[data-testid=strip-toggle-{col}]")


def expand(page, col: int) -> None:
    toggle(page, col).click()
    wait_js(page, f"{NET}.strip({col}) && !{NET}.strip({col}).collapsed")


def canvas_texts(page) -> list[str]:
    return [b["text"] for b in page.evaluate(f"{NET}.textBoxes()")]


def check_fits(page, name: str) -> None:
    page.mouse.move(1, 1)
    time.sleep(0.5)  # the background redraw after the last change
    page.evaluate("window.scrollTo(0, 0)")
    page.locator("#network-wrap").screenshot(path=str(ARTIFACTS / f"large-{name}.png"))
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    overlaps = overlapping_text(page)
    assert not overlaps, f"text boxes that intersect: {overlaps[:8]}"


def test_the_digits_network_is_drawn_as_a_dense_network_with_its_wide_layers_collapsed(open_page):
    page = opened(open_page, 1280, 720)
    assert page.evaluate("document.body.classList.contains('net-dense')")
    units = [page.evaluate(f"{NET}.strip({c}) && {NET}.strip({c}).units") for c in range(4)]
    assert units == [64, 128, 64, None]  # the 10 outputs fit as nodes
    assert all(page.evaluate(f"{NET}.strip({c}).collapsed") for c in range(3))
    texts = canvas_texts(page)
    assert "128 units" in texts and "64 units" in texts and "8×8 pixels" in texts
    button = toggle(page, 1)
    assert button.get_attribute("aria-label") == "Expand layer 2 (128 units)"
    assert button.get_attribute("aria-expanded") == "false"


def test_the_expand_button_is_reached_by_keyboard_and_shows_every_unit(open_page):
    page = opened(open_page, 1280, 720)
    toggle(page, 1).focus()
    page.keyboard.press("Enter")
    wait_js(page, f"!{NET}.strip(1).collapsed")
    # the buttons follow the new layout on the next animation frame
    wait_js(page, "document.querySelector('[data-testid=strip-toggle-1]')"
                  ".getAttribute('aria-expanded') === 'true'")
    strip = page.evaluate(f"{NET}.strip(1)")
    assert toggle(page, 1).inner_text() == "Collapse"
    # one row per unit: the first and last units sit at the strip's two ends
    first = page.evaluate(f"{NET}.nodePoint(1, 0)")
    last = page.evaluate(f"{NET}.nodePoint(1, 127)")
    row = strip["h"] / 128
    assert first["y"] == pytest.approx(strip["y"] + row / 2, abs=0.5)
    assert last["y"] == pytest.approx(strip["y"] + strip["h"] - row / 2, abs=0.5)
    # the state survives new frames
    page.evaluate(f"{STORE}.command('step')")
    wait_js(page, f"{STORE}.get('stepFrame').step >= 2")
    assert page.evaluate(f"!{NET}.strip(1).collapsed")
    assert page.evaluate(f"{NET}.strip(2).collapsed")


def test_a_click_on_a_collapsed_strip_inspects_the_unit_under_the_pointer(open_page):
    page = opened(open_page, 1280, 720)
    p = page.evaluate(f"{NET}.nodePoint(1, 37)")
    page.mouse.click(p["x"], p["y"])
    wait_js(page, f"({STORE}.get('selection') || {{}}).type === 'neuron'")
    sel = page.evaluate(f"{STORE}.get('selection')")
    assert (sel["col"], sel["layer"], sel["index"]) == (1, 1, 37)
    page.locator("#inspector [data-testid=insp-a]").wait_for()
    shown = float(page.get_attribute("#inspector [data-testid=insp-a]", "data-value"))
    frame = page.evaluate(f"{STORE}.get('stepFrame').arrays['sample.activation.1'].data[37]")
    assert shown == pytest.approx(frame, rel=1e-6)


def test_a_click_on_an_expanded_link_inspects_that_links_weight(open_page):
    page = opened(open_page, 1280, 720)
    expand(page, 1)
    expand(page, 2)
    p = page.evaluate(f"{NET}.linkPoint(2, 5, 9)")
    page.mouse.click(p["x"], p["y"])
    wait_js(page, f"({STORE}.get('selection') || {{}}).type === 'link'")
    sel = page.evaluate(f"{STORE}.get('selection')")
    # 8 192 links: the one nearest the pointer, of the engine's layer 2 (128 → 64)
    assert sel["layer"] == 2 and 0 <= sel["source"] < 128 and 0 <= sel["target"] < 64
    page.locator("#inspector [data-testid=insp-w]").wait_for()
    shown = float(page.get_attribute("#inspector [data-testid=insp-w]", "data-value"))
    flat = sel["source"] * 64 + sel["target"]
    frame = page.evaluate(f"{STORE}.get('stepFrame').arrays['weight.2'].data[{flat}]")
    assert shown == pytest.approx(frame, rel=1e-6)
    page.locator("#inspector [data-testid=ex-sample-grad]").wait_for()


def test_a_click_on_a_bundle_inspects_its_strongest_link(open_page):
    page = opened(open_page, 1280, 720)
    p = page.evaluate(f"{NET}.linkPoint(2, 0, 0)")  # rows of 8 units → rows of 4 units
    page.mouse.click(p["x"], p["y"])
    wait_js(page, f"({STORE}.get('selection') || {{}}).type === 'link'")
    sel = page.evaluate(f"{STORE}.get('selection')")
    assert sel["layer"] == 2
    W = page.evaluate(f"Array.from({STORE}.get('stepFrame').arrays['weight.2'].data)")
    # the strongest link between the two rows the bundle joins
    src_row = [i for i in range(128) if i // 8 == sel["source"] // 8]
    dst_row = [j for j in range(64) if j // 4 == sel["target"] // 4]
    strongest = max(abs(W[i * 64 + j]) for i in src_row for j in dst_row)
    assert abs(W[sel["source"] * 64 + sel["target"]]) == strongest
    page.locator("#inspector [data-testid=insp-w]").wait_for()
    shown = float(page.get_attribute("#inspector [data-testid=insp-w]", "data-value"))
    assert shown == pytest.approx(W[sel["source"] * 64 + sel["target"]], rel=1e-6)


@pytest.mark.parametrize("width,height", SIZES)
def test_collapsed_and_expanded_the_picture_fits_and_no_texts_collide(open_page, width, height):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = opened(open_page, width, height)
    check_fits(page, f"collapsed-{width}x{height}")
    for col in range(3):
        expand(page, col)
    check_fits(page, f"expanded-{width}x{height}")


def test_the_large_network_page_has_no_axe_violations(open_page):
    page = opened(open_page, 1280, 720)
    assert violations(page) == []
    expand(page, 1)
    assert violations(page) == []


def test_the_arrow_keys_walk_the_strips_by_the_engines_layer_numbers(open_page):
    page = opened(open_page, 1280, 720)
    page.focus("[data-testid=network]")
    page.keyboard.press("ArrowDown")  # nothing selected: the first unit of the first dense layer
    sel = page.evaluate(f"{STORE}.get('selection')")
    assert (sel["col"], sel["layer"], sel["index"]) == (1, 1, 0)
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Shift+ArrowRight")  # its first outgoing link: engine layer 2
    sel = page.evaluate(f"{STORE}.get('selection')")
    assert (sel["type"], sel["layer"], sel["source"], sel["target"]) == ("link", 2, 1, 0)
    page.locator("#inspector [data-testid=insp-w]").wait_for()
    shown = float(page.get_attribute("#inspector [data-testid=insp-w]", "data-value"))
    frame = page.evaluate(f"{STORE}.get('stepFrame').arrays['weight.2'].data[64]")
    assert shown == pytest.approx(frame, rel=1e-6)
