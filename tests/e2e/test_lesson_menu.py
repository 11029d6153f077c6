"""Browser tests of the Lessons menu: a lesson configures its setup, shows its card and lives in
the URL, so a teacher can share a link that opens the lesson with its card."""

from __future__ import annotations

import time

import pytest

from tests.e2e.support import ARTIFACTS, wait_js, wait_spec

pytestmark = pytest.mark.e2e

SIX_SIGMOIDS = (
    "spec.network.hidden.length === 6"
    " && spec.network.hidden.every(l => l.activation === 'sigmoid')"
)


def js(page, expression: str):
    return page.evaluate(expression)


def lesson(page, name: str) -> dict:
    return js(
        page,
        f"window.__propscope.store.get('catalog').lessons.find(l => l.name === {name!r})",
    )


def box(page, selector: str) -> dict:
    return js(
        page,
        f"(() => {{ const r = document.querySelector({selector!r}).getBoundingClientRect();"
        " return {top: r.top, bottom: r.bottom, left: r.left, right: r.right,"
        " width: r.width, height: r.height}; })()",
    )


def overlaps(a: dict, b: dict) -> bool:
    return not (a["right"] <= b["left"] or b["right"] <= a["left"]
                or a["bottom"] <= b["top"] or b["bottom"] <= a["top"])


def assert_card_fits(page, width: int, height: int) -> None:
    """The card is inside the window, covers neither the network, the header nor the toolbar."""
    card = box(page, "[data-testid=lesson-card]")
    assert card["top"] >= box(page, "#topbar")["bottom"] - 0.5
    assert card["right"] <= width and card["bottom"] <= height and card["left"] >= 0
    for sel in ("[data-testid=network]", ".net-toolbar", "#inspector", "#charts"):
        if js(page, f"getComputedStyle(document.querySelector({sel!r})).display !== 'none'"):
            assert not overlaps(card, box(page, sel)), sel
    assert box(page, "[data-testid=network]")["height"] > 150  # the network keeps its room
    assert js(page, "document.documentElement.scrollWidth <= window.innerWidth")
    assert js(page, "document.documentElement.scrollHeight <= window.innerHeight")
    right = js(page, "Math.max(...[...document.querySelectorAll('#topbar > *')]"
                     ".map(e => e.getBoundingClientRect().right))")
    assert right <= width


def test_lesson_menu_configures_shows_card_and_shares_by_url(open_page):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page, _ = open_page()
    wanted = lesson(page, "vanishing_gradients")
    assert wanted["title"] == "Vanishing gradients"

    # the menu (key L = Shift+l opens it too) lists every lesson of the catalog
    page.keyboard.press("Shift+L")
    page.locator("#lessons-menu").wait_for(state="visible")
    count = js(page, "window.__propscope.store.get('catalog').lessons.length")
    assert page.locator("#lessons-menu [data-lesson]").count() == count >= 13
    # the convolutional and recurrent lessons too (conv_view.js, rnn_view.js draw them)
    assert page.locator("#lessons-menu [data-lesson=cnn_filters]").count() == 1
    assert page.locator("#lessons-menu [data-lesson=vanishing_through_time]").count() == 1
    page.keyboard.press("Escape")
    page.locator("#lessons-menu").wait_for(state="hidden")
    page.keyboard.press("?")  # the key is listed in the help overlay
    page.wait_for_selector("[data-testid=help]", state="visible")
    assert "Shift+l" in page.text_content("[data-testid=help]")
    page.keyboard.press("Escape")
    page.wait_for_selector("[data-testid=help]", state="hidden")

    page.click("[data-testid=lessons-menu]")
    page.click("[data-testid=lesson-vanishing_gradients]")
    wait_spec(page, SIX_SIGMOIDS)
    snap = js(page, "window.__propscope.store.get('snapshot')")
    assert snap["spec"] == wanted["spec"]
    assert [layer["activation"] for layer in snap["network"]["layers"][:-1]] == ["sigmoid"] * 6
    # the controls show it, the card says what to look for, the URL carries the lesson
    assert page.text_content("[data-testid=ctl-layers]") == "6"
    assert page.input_value("[data-testid=ctl-act-5]") == "sigmoid"
    page.locator("[data-testid=lesson-card]").wait_for(state="visible")
    assert page.text_content("[data-testid=lesson-title]") == "Vanishing gradients"
    assert page.text_content("[data-testid=lesson-look]") == wanted["look_for"]
    # the lesson plays at its own speed, the one its claim is tested at
    wait_js(page, f"window.__propscope.store.get('speed') === {wanted['speed']!r}")
    assert page.input_value("#speed") == str(wanted["speed"]).removesuffix(".0")
    wait_js(page, "location.hash.includes('lesson=vanishing_gradients')")
    assert "spec=" in js(page, "location.hash")
    assert_card_fits(page, 1280, 720)
    time.sleep(0.4)
    page.screenshot(path=str(ARTIFACTS / "lesson-normal-1280.png"))

    # presenter mode: large type, still nothing covered
    page.keyboard.press("p")
    wait_js(page, "document.body.classList.contains('presenter')")
    assert page.is_visible("[data-testid=lessons-menu]")  # the teacher keeps the menu
    size = js(page, "parseFloat(getComputedStyle(document.querySelector("
                    "'[data-testid=lesson-look]')).fontSize)")
    assert size >= 24
    assert_card_fits(page, 1280, 720)
    time.sleep(0.6)
    page.screenshot(path=str(ARTIFACTS / "lesson-presenter-1280.png"))

    # the shared link opens the same lesson: same spec, same card
    link = js(page, "location.hash")
    assert "lesson=vanishing_gradients" in link
    page2, _ = open_page(link)
    wait_spec(page2, SIX_SIGMOIDS)
    assert js(page2, "window.__propscope.store.get('snapshot').spec") == wanted["spec"]
    page2.locator("[data-testid=lesson-card]").wait_for(state="visible")
    assert page2.text_content("[data-testid=lesson-look]") == wanted["look_for"]
    assert js(page2, "document.body.classList.contains('presenter')")

    # a link with only the lesson configures the lesson's spec
    page3, _ = open_page("#lesson=vanishing_gradients")
    wait_spec(page3, SIX_SIGMOIDS)
    assert js(page3, "window.__propscope.store.get('snapshot').spec") == wanted["spec"]
    assert page3.text_content("[data-testid=lesson-title]") == "Vanishing gradients"

    # changing the setup by hand keeps the card (advice, not state); reload keeps it; close drops
    # it from the URL but keeps the setup
    page.keyboard.press("p")
    wait_js(page, "!document.body.classList.contains('presenter')")
    page.click("[data-testid=ctl-layers-minus]")
    wait_spec(page, "spec.network.hidden.length === 5")
    assert page.is_visible("[data-testid=lesson-card]")
    wait_js(page, "location.hash.includes('lesson=vanishing_gradients')"
                  " && location.hash.includes('spec=')")
    page.reload()
    wait_js(page, "window.__propscope && window.__propscope.store.get('stepFrame')")
    wait_spec(page, "spec.network.hidden.length === 5")
    page.locator("[data-testid=lesson-card]").wait_for(state="visible")
    page.click("[data-testid=lesson-close]")
    page.locator("[data-testid=lesson-card]").wait_for(state="hidden")
    wait_js(page, "!location.hash.includes('lesson=')")
    assert js(page, "window.__propscope.store.get('spec').network.hidden.length") == 5


def test_viewers_get_no_lesson_menu_but_the_lessons_network_and_card(open_page):
    teacher, _ = open_page()
    teacher.keyboard.press("o")
    teacher.locator("[data-testid=room-panel]").wait_for(state="visible")
    code = teacher.text_content("[data-testid=room-code]")
    teacher.click("[data-testid=room-hide]")
    viewer, _ = open_page(path=f"/r/{code}")
    wait_js(viewer, "document.body.dataset.roomMode === 'following'")
    assert not viewer.is_visible("[data-testid=lessons-menu]")
    viewer.keyboard.press("Shift+L")
    assert not viewer.is_visible("#lessons-menu")

    teacher.click("[data-testid=lessons-menu]")
    teacher.click("[data-testid=lesson-overfitting]")
    teacher.locator("[data-testid=lesson-card]").wait_for(state="visible")
    wanted = lesson(teacher, "overfitting")
    wait_spec(viewer, "spec.data.dataset === 'xor' && spec.network.hidden.length === 3")
    assert js(viewer, "window.__propscope.store.get('snapshot').spec") == wanted["spec"]
    # the lesson is part of the state (configure {lesson}): the class sees the teacher's card
    viewer.locator("[data-testid=lesson-card]").wait_for(state="visible")
    assert viewer.get_attribute("[data-testid=lesson-card]", "data-lesson") == "overfitting"
    assert js(viewer, "window.__propscope.store.get('snapshot').state.lesson") == "overfitting"


def test_a_lesson_with_a_genetic_algorithm_opens_it_beside_the_backprop_run(open_page):
    page, _ = open_page()
    wanted = lesson(page, "backprop_vs_evolution")
    assert wanted["compare"][0]["trainer"] == "evolution"
    page.click("[data-testid=lessons-menu]")
    page.click("[data-testid=lesson-backprop_vs_evolution]")
    wait_js(page, "(window.__propscope.store.get('runs') || []).length === 2")
    runs = js(page, "window.__propscope.store.get('runs')")
    assert [r["trainer"] for r in runs] == ["backprop", "evolution"]
    assert runs[1]["label"] == "genetic algorithm"
    page.locator("[data-testid=lesson-card]").wait_for(state="visible")
    assert page.text_content("[data-testid=lesson-title]") == wanted["title"]
