"""A student with a phone types the room code shown on the projector: /join opens the room,
a wrong code is explained on the same page, and the room panel names that page."""

from __future__ import annotations

import pytest

from tests.e2e.support import ARTIFACTS, overlapping_text, wait_js
from tests.e2e.test_accessibility import violations

pytestmark = pytest.mark.e2e


def phone(browser, server):
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True,
                              is_mobile=True)
    page = ctx.new_page()
    page.set_default_timeout(20_000)
    page.goto(f"{server}/join")
    return ctx, page


def open_room(open_page) -> tuple[object, str]:
    teacher, _ = open_page()
    teacher.keyboard.press("o")
    teacher.locator("[data-testid=room-panel]").wait_for(state="visible")
    wait_js(teacher, "!!(window.__propscope.store.get('room') || {}).code")
    return teacher, teacher.text_content("[data-testid=room-code]")


def test_the_room_panel_names_the_page_to_type_the_code_at(open_page, server):
    teacher, _ = open_room(open_page)
    assert teacher.text_content("[data-testid=room-join-page]") == f"{server}/join"


def test_a_student_types_the_code_on_a_phone_and_follows_the_room(open_page, browser, server):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    _, code = open_room(open_page)
    ctx, student = phone(browser, server)
    try:
        student.screenshot(path=str(ARTIFACTS / "join-390x844.png"))
        assert violations(student) == []
        box = student.locator("[data-testid=join-code]").bounding_box()
        assert box["width"] > 300 and box["height"] >= 44  # a thumb's target
        student.locator("[data-testid=join-code]").fill(f"{code[:3].lower()} {code[3:]}")
        student.locator("[data-testid=join-submit]").tap()
        student.wait_for_url(f"{server}/r/{code}")
        wait_js(student, "window.__propscope && document.body.dataset.roomMode === 'following'")
    finally:
        ctx.close()


def test_a_wrong_code_is_explained_and_can_be_corrected(open_page, browser, server):
    _, code = open_room(open_page)
    wrong = "ZZZZZZ" if code != "ZZZZZZ" else "YYYYYY"
    ctx, student = phone(browser, server)
    try:
        student.locator("[data-testid=join-code]").fill(wrong)
        student.locator("[data-testid=join-submit]").tap()
        problem = student.locator("[data-testid=join-problem]")
        problem.wait_for(state="visible")
        assert f"There is no open room '{wrong}'" in problem.text_content()
        assert student.locator("[data-testid=join-code]").input_value() == wrong
        student.screenshot(path=str(ARTIFACTS / "join-wrong-390x844.png"))
        assert overlapping_text(student) == []
        assert student.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        assert violations(student) == []
        student.locator("[data-testid=join-code]").fill(code)
        student.locator("[data-testid=join-submit]").tap()
        student.wait_for_url(f"{server}/r/{code}")
    finally:
        ctx.close()
