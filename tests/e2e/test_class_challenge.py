"""A class challenge in real browsers (issue 14): the teacher sets a goal from the dashboard,
two students (one on a 390×844 phone) see the live board with their own row marked and the
server's scores, one submits its network and the other opens it from the gallery."""

from __future__ import annotations

import pytest

from tests.e2e.support import ARTIFACTS, overlapping_text, wait_js
from tests.e2e.test_accessibility import violations
from tests.e2e.test_class_dashboard import join_as, only_the_dialog_overlaps, open_room

pytestmark = pytest.mark.e2e

BOARD = "window.__propscope.store.get('classBoard')"


def test_a_challenge_reaches_every_student_with_the_servers_scores_and_a_gallery(open_page):
    teacher, code = open_room(open_page)
    ana, _ = open_page(path=f"/r/{code}")
    cleo, _ = open_page(path=f"/r/{code}", width=390, height=844, touch=True)
    for page, name in ((ana, "Ana"), (cleo, "Cleo")):
        join_as(page, name)
        page.locator("[data-testid=nick-who]").wait_for(state="visible")
    teacher.click("[data-testid=room-handout]")
    for page in (ana, cleo):
        wait_js(page, "document.body.dataset.roomMode === 'copy'")
    for _ in range(3):
        before = ana.evaluate("window.__propscope.store.get('stepFrame').step")
        ana.keyboard.press("s")
        wait_js(ana, f"window.__propscope.store.get('stepFrame').step === {before + 1}")

    # the teacher sets "accuracy ≥ 80 % with at most 40 parameters" from the dashboard
    teacher.click("[data-testid=room-dashboard]")
    teacher.locator("[data-testid=class-dashboard]").wait_for(state="visible")
    teacher.fill("[data-testid=chal-accuracy]", "80")
    teacher.fill("[data-testid=chal-params]", "40")
    teacher.click("[data-testid=chal-set]")
    wait_js(teacher, f"{BOARD} && {BOARD}.challenge && {BOARD}.rows.length === 2")
    goal = teacher.text_content("[data-testid=board-goal]")
    assert "test accuracy ≥ 80 % with at most 40 parameters" in goal and "Exclusive or" in goal

    # each student sees the board, its own row marked, the server's numbers as written
    for page, name in ((ana, "Ana"), (cleo, "Cleo")):
        wait_js(page, f"{BOARD} && {BOARD}.rows.length === 2"
                      f" && {BOARD}.rows.every(r => r.loss !== null)")
        page.locator("[data-testid=student-challenge]").wait_for(state="visible")
        mine = page.locator("[data-testid=board-row].me")
        assert mine.count() == 1 and name in mine.text_content()
        me = page.evaluate("window.__propscope.store.get('classMe')")
        row = page.evaluate(f"{BOARD}.rows.find(r => r.student === {me!r})")
        shown = mine.locator("td[data-value]").first.get_attribute("data-value")
        assert float(shown) == row["accuracy"]
    assert ana.evaluate(f"{BOARD}.rows.find(r => r.nickname === 'Ana').step") == 3

    cleo.screenshot(path=str(ARTIFACTS / "class-challenge-student-390x844.png"), full_page=True)
    assert overlapping_text(cleo) == []
    assert violations(cleo) == []
    teacher.screenshot(path=str(ARTIFACTS / "class-challenge-teacher-1280x720.png"))
    assert only_the_dialog_overlaps(teacher) == []

    # Ana submits her network; Cleo opens it from the gallery, in a new tab, at Ana's step
    ana.click("[data-testid=chal-submit]")
    wait_js(ana, "/gallery/.test(document.querySelector('[data-testid=chal-note]').textContent)")
    wait_js(cleo, f"{BOARD} && {BOARD}.gallery.length === 1")
    link = cleo.locator("[data-testid=gallery-open]")
    assert link.text_content() == "Ana's network"
    with cleo.context.expect_page() as opened:
        link.click()
    tab = opened.value
    wait_js(tab, "window.__propscope && window.__propscope.store.get('stepFrame')"
                 " && window.__propscope.store.get('stepFrame').step === 3")
    tab.close()
