"""Runs side by side and events, in the page (issue 10's page side, issue 13 item 3).

A fork is made with the setup panel's "Compare…", both runs step in lockstep and are shown in
the strip of run cards and the loss-per-run chart, while the main view keeps drawing the first
run only; promote and close work from the cards; a room viewer sees the runs and, through
`event` messages, the teacher's settings and lesson; a replay's setup panel shows the settings
that produced its numbers. Screenshots with two runs at four sizes go to /tmp/shots-front/
(and test-artifacts/screenshots/), and axe-core finds no violations with two runs.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.e2e.support import ARTIFACTS, overlapping_text, spec_hash, wait_js, wait_spec
from tests.e2e.test_accessibility import violations

pytestmark = pytest.mark.e2e

SHOTS = Path("/tmp/shots-front")
XOR = {
    "data": {"dataset": "xor", "noise": 0.1},
    "network": {"hidden": [{"units": 4, "activation": "tanh"}, {"units": 3, "activation": "tanh"}]},
    "training": {"optimizer": {"name": "sgd", "learning_rate": 0.03}, "batch_size": 10},
}
READY = "spec.data.dataset === 'xor' && spec.network.hidden[1].units === 3"
SIZES = [(390, 844), (1024, 768), (1280, 720), (1920, 1080)]


def js(page, expression: str):
    return page.evaluate(expression)


def store(page, key: str):
    return js(page, f"window.__propscope.store.get({key!r})")


def run_ids(page) -> list[str]:
    return js(page, "(window.__propscope.store.get('runs') || []).map((r) => r.id)")


def record(page, run: str, field: str):
    return js(page, f"(() => {{ const r = window.__propscope.store.get('runData').get({run!r});"
                    f" return r ? r[{field!r}] : null; }})()")


def opened(open_page, width=1280, height=720, touch=False, spec=XOR):
    page, _ = open_page(spec_hash(spec), width, height, touch=touch)
    wait_spec(page, READY)
    return page


def watch_main_view(page) -> None:
    """Remember the run of every frame, metrics message and snapshot the main view is given."""
    js(page, """(() => { const st = window.__propscope.store; window.__main = [];
      const seen = (what, run) => window.__main.push([what, run]);
      st.subscribe(['stepFrame', 'gridFrame', 'metrics', 'snapshot'], (s, keys) => {
        if (keys.includes('stepFrame') && s.stepFrame) seen('step', s.stepFrame.header.run);
        if (keys.includes('gridFrame') && s.gridFrame) seen('grid', s.gridFrame.header.run);
        if (keys.includes('metrics') && s.metrics) seen('metrics', s.metrics.run);
        if (keys.includes('snapshot') && s.snapshot) seen('snapshot', s.snapshot.run);
      }); })()""")


def main_runs_seen(page) -> set[str]:
    return {run for _, run in js(page, "window.__main")}


def open_setup(page, touch: bool) -> None:
    if js(page, "getComputedStyle(document.getElementById('btn-setup')).display") != "none":
        toggle = page.locator("[data-testid=setup-toggle]")
        toggle.tap() if touch else toggle.click()
        wait_js(page, "getComputedStyle(document.getElementById('setup')).visibility === 'visible'")


def fork(page, touch: bool = False, learning_rate: str = "3") -> None:
    """Compare… → learning rate → Start, with the pointer (or a finger)."""
    open_setup(page, touch)
    press = (lambda sel: page.locator(sel).tap()) if touch else (lambda sel: page.click(sel))
    press("[data-testid=compare]")
    page.locator("[data-testid=compare-draft]").wait_for()
    page.select_option("[data-testid=ctl-learning_rate]", learning_rate)
    wait_js(page, "document.querySelector('[data-testid=compare-label]')")
    press("[data-testid=compare-start]")
    wait_js(page, "(window.__propscope.store.get('runs') || []).length === 2")
    page.locator("[data-testid=runs-panel]").wait_for(state="visible")
    wait_js(page, "!document.body.classList.contains('drawer-open')")


def step_both(page, n: int) -> int:
    for _ in range(n):
        before = js(page, "window.__propscope.store.get('stepFrame').step")
        page.click("[data-testid=step]")
        wait_js(page, f"window.__propscope.store.get('stepFrame').step === {before + 1}")
    return js(page, "window.__propscope.store.get('stepFrame').step")


def wait_cards_at(page, step: int, runs=("r0", "r1")) -> None:
    for r in runs:
        cell = f"document.querySelector('[data-testid=run-step-{r}]')"
        wait_js(page, f"{cell} && {cell}.dataset.value === '{step}'")


def test_a_fork_from_the_setup_panel_runs_in_lockstep_beside_the_main_run(open_page):
    page = opened(open_page)
    step_both(page, 2)
    watch_main_view(page)
    fork(page)
    assert run_ids(page) == ["r0", "r1"]
    # the learning rate forks from the present state: the main run goes on, the fork beside it
    assert store(page, "spec")["training"]["optimizer"]["learning_rate"] == 0.03
    assert page.input_value("[data-testid=ctl-learning_rate]") == "0.03"
    assert record(page, "r1", "spec")["training"]["optimizer"]["learning_rate"] == 3
    assert page.text_content("[data-testid=run-label-r0]") == "η 0.03"
    assert page.text_content("[data-testid=run-label-r1]") == "η 3"
    assert page.locator("[data-testid=run-r0] .run-main-badge").is_visible()
    wait_cards_at(page, 2)

    step = step_both(page, 3)
    assert step == 5
    wait_cards_at(page, 5)
    assert record(page, "r1", "stepFrame")["step"] == 5
    # both runs' losses, on the cards and in the chart of every run
    for r in ("r0", "r1"):
        wait_js(page, f"Number.isFinite(Number(document.querySelector('[data-testid=run-test-{r}]')"
                      ".dataset.value))")
    wait_js(page, "document.getElementById('chart-runs').dataset.runs === '2'")
    points = js(page, "document.getElementById('chart-runs').dataset.points").split(",")
    assert all(int(p) >= 2 for p in points), points  # the fork inherits the parent's past
    assert page.locator("[data-testid=chart-runs] .scatterlayer .trace").count() >= 2
    train = [float(page.get_attribute(f"[data-testid=run-train-{r}]", "data-value"))
             for r in ("r0", "r1")]
    assert train[0] != train[1]  # η 3 and η 0.03 are different runs

    # playing: both runs advance together; the main view never shows the fork's numbers
    page.select_option("[data-testid=speed]", "30")
    page.click("[data-testid=play]")
    wait_js(page, "window.__propscope.store.get('stepFrame').step > 20")
    page.click("[data-testid=play]")
    wait_js(page, "!window.__propscope.store.get('playing')")
    time.sleep(0.3)
    final = js(page, "window.__propscope.store.get('stepFrame').step")
    wait_cards_at(page, final)
    assert record(page, "r1", "step") == final
    assert main_runs_seen(page) == {"r0"}
    assert page.is_disabled("[data-testid=phase]")  # phase by phase is for one run

    # promote: the fork becomes the main run — the main view, the setup panel, the charts
    page.click("[data-testid=run-promote-r1]")
    wait_js(page, "window.__propscope.store.get('mainRun') === 'r1'")
    assert run_ids(page) == ["r1", "r0"]
    wait_js(page, "window.__propscope.store.get('spec').training.optimizer.learning_rate === 3")
    assert page.input_value("[data-testid=ctl-learning_rate]") == "3"
    assert store(page, "stepFrame")["header"]["run"] == "r1"
    assert int(page.get_attribute("[data-testid=chart-loss]", "data-points") or 0) > 5
    assert page.locator("[data-testid=run-r1] .run-main-badge").is_visible()
    step_both(page, 1)
    assert main_runs_seen(page) == {"r0", "r1"}
    js(page, "window.__main = []")
    step_both(page, 1)
    assert main_runs_seen(page) == {"r1"}

    # close the other run: one run again, no strip, phase by phase is back
    page.click("[data-testid=run-close-r0]")
    wait_js(page, "(window.__propscope.store.get('runs') || []).length === 1")
    page.locator("[data-testid=runs-panel]").wait_for(state="hidden")
    assert not js(page, "document.body.classList.contains('comparing')")
    assert not page.is_disabled("[data-testid=phase]")
    assert record(page, "r0", "id") is None


def test_sigmoid_against_relu_restarts_both_runs_at_step_0(open_page):
    page = opened(open_page)
    step_both(page, 3)
    page.click("[data-testid=compare]")
    for k in (0, 1):
        page.select_option(f"[data-testid=ctl-act-{k}]", "relu")
    # the draft marks what it changes, and says what starting it will do
    assert page.locator("#controls .layer-row.changed").count() == 2
    assert "step 0" in page.text_content("[data-testid=compare-draft]")
    assert "ReLU" in page.text_content("[data-testid=compare-label]")
    assert page.is_disabled("[data-testid=ctl-dataset]")  # the data is shared
    assert store(page, "spec")["network"]["hidden"][0]["activation"] == "tanh"
    page.click("[data-testid=compare-start]")
    wait_js(page, "(window.__propscope.store.get('runs') || []).length === 2")
    wait_cards_at(page, 0)
    assert store(page, "stepFrame")["step"] == 0
    assert "tanh" in page.text_content("[data-testid=run-label-r0]")
    assert "ReLU" in page.text_content("[data-testid=run-label-r1]")
    assert record(page, "r1", "snapshot")["network"]["layers"][0]["activation"] == "relu"
    # the main view is the tanh network still
    assert store(page, "snapshot")["network"]["layers"][0]["activation"] == "tanh"
    step_both(page, 2)
    wait_cards_at(page, 2)
    # Cancel leaves the main run alone
    page.click("[data-testid=compare]")
    page.select_option("[data-testid=ctl-learning_rate]", "1")
    page.click("[data-testid=compare-cancel]")
    wait_js(page, "!window.__propscope.store.get('compareDraft')")
    assert store(page, "spec")["training"]["optimizer"]["learning_rate"] == 0.03
    assert run_ids(page) == ["r0", "r1"]


def test_the_compare_control_works_with_the_keyboard(open_page):
    page = opened(open_page)
    page.focus("[data-testid=compare]")
    page.keyboard.press("Enter")
    page.locator("[data-testid=compare-draft]").wait_for()
    page.focus("[data-testid=ctl-batch]")
    page.fill("[data-testid=ctl-batch]", "40")
    page.keyboard.press("Tab")
    wait_js(page, "(document.querySelector('[data-testid=compare-label]') || {}).textContent"
                  " === 'batch 40'")
    page.focus("[data-testid=compare-start]")
    page.keyboard.press("Enter")
    wait_js(page, "(window.__propscope.store.get('runs') || []).length === 2")
    page.focus("[data-testid=run-promote-r1]")
    page.keyboard.press("Enter")
    wait_js(page, "window.__propscope.store.get('mainRun') === 'r1'")
    assert store(page, "spec")["training"]["batch_size"] == 40


def test_a_viewer_sees_the_runs_and_the_teachers_settings_and_lesson(open_page):
    teacher = opened(open_page)
    teacher.keyboard.press("o")
    teacher.locator("[data-testid=room-panel]").wait_for(state="visible")
    wait_js(teacher, "!!(window.__propscope.store.get('room') || {}).code")
    code = js(teacher, "window.__propscope.store.get('room').code")
    teacher.keyboard.press("Escape")
    viewer, _ = open_page(path=f"/r/{code}")
    wait_js(viewer, "document.body.dataset.roomMode === 'following'")
    wait_spec(viewer, READY)

    # settings: the teacher changes the learning rate; the viewer's setup panel shows it
    teacher.select_option("[data-testid=ctl-learning_rate]", "0.3")
    wait_js(viewer, "window.__propscope.store.get('spec').training.optimizer.learning_rate === 0.3")
    wait_js(viewer, "document.querySelector('[data-testid=ctl-learning_rate]').value === '0.3'")
    assert store(viewer, "snapshot")["spec"]["training"]["optimizer"]["learning_rate"] == 0.03

    # runs side by side: the viewer gets the strip, read-only, and follows the steps
    fork(teacher, learning_rate="3")
    viewer.locator("[data-testid=runs-panel]").wait_for(state="visible")
    wait_js(viewer, "(window.__propscope.store.get('runs') || []).length === 2")
    assert viewer.text_content("[data-testid=run-label-r1]") == "η 3"
    assert viewer.text_content("[data-testid=run-label-r0]") == "η 0.3"
    assert viewer.locator("[data-testid=run-promote-r1]").count() == 0
    assert viewer.locator("[data-testid=run-close-r1]").count() == 0
    step = step_both(teacher, 2)
    wait_cards_at(viewer, step)
    assert store(viewer, "stepFrame")["header"]["run"] == "r0"
    teacher.click("[data-testid=run-promote-r1]")
    wait_js(viewer, "window.__propscope.store.get('mainRun') === 'r1'")
    wait_js(viewer, "window.__propscope.store.get('spec').training.optimizer.learning_rate === 3")
    teacher.click("[data-testid=run-close-r0]")
    viewer.locator("[data-testid=runs-panel]").wait_for(state="hidden")

    # the lesson: the teacher's card is shown to the class
    teacher.click("[data-testid=lessons-menu]")
    teacher.click("[data-testid=lesson-overfitting]")
    teacher.locator("[data-testid=lesson-card]").wait_for(state="visible")
    viewer.locator("[data-testid=lesson-card]").wait_for(state="visible")
    assert viewer.text_content("[data-testid=lesson-title]") == \
        teacher.text_content("[data-testid=lesson-title]")
    assert store(viewer, "snapshot")["state"]["lesson"] == "overfitting"


def test_a_replay_shows_the_settings_that_produced_its_numbers(open_page, tmp_path):
    page = opened(open_page)
    page.click("[data-testid=file-menu]")
    page.click("[data-testid=file-record]")
    page.locator("[data-testid=rec-indicator]").wait_for(state="visible")
    step_both(page, 1)
    page.select_option("[data-testid=ctl-learning_rate]", "0.3")
    wait_js(page, "window.__propscope.store.get('spec').training.optimizer.learning_rate === 0.3")
    step_both(page, 1)
    time.sleep(0.2)
    with page.expect_download() as info:
        page.click("[data-testid=rec-indicator]")
    path = tmp_path / info.value.suggested_filename
    info.value.save_as(path)

    other = opened(open_page)
    other.set_input_files("[data-testid=replay-file]", str(path))
    wait_js(other, "document.querySelector('[data-testid=replay-bar]').dataset.done === 'true'",
            timeout=15_000)
    assert other.input_value("[data-testid=ctl-learning_rate]") == "0.3"
    other.click("[data-testid=replay-exit]")
    wait_js(other, "window.__propscope.store.get('snapshot').reason === 'request'")
    wait_js(other, "document.querySelector('[data-testid=ctl-learning_rate]').value === '0.03'")


@pytest.mark.parametrize("width,height", SIZES)
def test_two_runs_fit_every_size(open_page, width, height):
    SHOTS.mkdir(parents=True, exist_ok=True)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    touch = width < 1100
    page = opened(open_page, width, height, touch=touch)
    fork(page, touch=touch)
    js(page, "window.__propscope.store.command('play', {speed: 300})")
    wait_js(page, "window.__propscope.store.get('stepFrame').step > 150")
    js(page, "window.__propscope.store.command('pause')")
    wait_js(page, "!window.__propscope.store.get('playing')")
    step = js(page, "window.__propscope.store.get('stepFrame').step")
    wait_cards_at(page, step)
    if not touch:
        page.mouse.move(1, 1)
    js(page, "document.querySelector('[data-testid=toast]').hidden = true")  # "Side by side: …"
    time.sleep(1.2)  # the charts and thumbnails settle
    page.evaluate("window.scrollTo(0, 0)")
    name = f"side-by-side-{width}x{height}"
    page.screenshot(path=str(SHOTS / f"{name}.png"))
    page.screenshot(path=str(SHOTS / f"{name}-full.png"), full_page=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    overlaps = overlapping_text(page)
    assert not overlaps, f"text boxes that intersect: {overlaps[:8]}"
    # the strip, the cards' buttons and the chart are inside the width and big enough to use
    for sel in ("[data-testid=runs-panel]", "[data-testid=run-r1]", "[data-testid=chart-runs]"):
        box = page.locator(sel).bounding_box()
        assert box and box["x"] >= -0.5 and box["x"] + box["width"] <= width + 0.5, sel
    for sel in ("[data-testid=run-promote-r1]", "[data-testid=run-close-r1]"):
        box = page.locator(sel).bounding_box()
        assert box["height"] >= 30 and box["width"] >= 30, sel
    assert page.locator("[data-testid=chart-runs]").bounding_box()["height"] >= 150
    if width >= 1024:
        page.keyboard.press("p")
        wait_js(page, "document.body.classList.contains('presenter')")
        time.sleep(1.0)
        page.screenshot(path=str(SHOTS / f"{name}-presenter.png"))
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        overlaps = overlapping_text(page)
        assert not overlaps, f"presenter: text boxes that intersect: {overlaps[:8]}"


@pytest.mark.parametrize("width,height", [(1280, 720), (390, 844)])
def test_two_runs_have_no_axe_violations(open_page, width, height):
    touch = width < 1100
    page = opened(open_page, width, height, touch=touch)
    fork(page, touch=touch)
    step_both(page, 2)
    wait_cards_at(page, 2)
    assert violations(page) == []
    open_setup(page, touch)
    page.locator("[data-testid=compare]").click()
    page.select_option("[data-testid=ctl-act-0]", "relu")
    page.locator("[data-testid=compare-draft]").wait_for()
    assert violations(page) == []
