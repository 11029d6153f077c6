"""The class dashboard in real browsers (issue 14): a teacher and three students — one on a
390×844 touch phone — each in their own browser context, against the real server.

Hand-out, a student's changed setting on the teacher's dashboard (with the copy's own numbers),
sorting by keyboard, projecting a copy to a follower (names hidden on request), and a locked
control that the student sees locked and the server refuses.
"""

from __future__ import annotations

import time

import pytest

from tests.e2e.support import ARTIFACTS, overlapping_text, spec_hash, wait_js, wait_spec
from tests.e2e.test_accessibility import violations

pytestmark = pytest.mark.e2e

SMALL = {"data": {"dataset": "xor"}, "network": {"hidden": [{"units": 4}, {"units": 3}]},
         "training": {"batch_size": 10, "optimizer": {"name": "sgd", "learning_rate": 0.03}}}

ROW = "[data-testid=class-row]"


def js(page, expression: str):
    return page.evaluate(expression)


def join_as(page, nickname: str) -> None:
    page.locator("[data-testid=student-card]").wait_for(state="visible")
    page.fill("[data-testid=nick-input]", nickname)
    page.click("[data-testid=nick-join]")


def row(page, name: str):
    return page.locator(f"{ROW}[data-name='{name}']")


def cell(page, name: str, col: str):
    return row(page, name).locator(f"[data-col={col}]")


def open_setup(page) -> None:
    if not page.locator("select[name=learning_rate]").is_visible():
        page.click("[data-testid=setup-toggle]")
        page.locator("select[name=learning_rate]").wait_for(state="visible")


def only_the_dialog_overlaps(page) -> list:
    """overlapping_text within the dashboard (the page under the modal hidden meanwhile)."""
    js(page, "document.querySelectorAll('body > *:not(#class-dialog)')"
             ".forEach((e) => e.style.display = 'none')")
    try:
        return overlapping_text(page)
    finally:
        js(page, "document.querySelectorAll('body > *:not(#class-dialog)')"
                 ".forEach((e) => e.style.display = '')")


def open_room(open_page):
    """The teacher's page on SMALL with a room open (O): → (page, room code)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    teacher, _ = open_page(spec_hash(SMALL))
    wait_spec(teacher, "spec.network.hidden.length === 2 && spec.network.hidden[1].units === 3")
    teacher.keyboard.press("o")
    teacher.locator("[data-testid=room-panel]").wait_for(state="visible")
    return teacher, teacher.text_content("[data-testid=room-code]")


def test_teacher_sees_every_copy_projects_one_and_locks_a_control(open_page):
    teacher, code = open_room(open_page)

    ana, _ = open_page(path=f"/r/{code}")
    ben, _ = open_page(path=f"/r/{code}")
    cleo, _ = open_page(path=f"/r/{code}", width=390, height=844, touch=True)
    join_as(ana, "Ana")
    ana.locator("[data-testid=nick-who]").wait_for(state="visible")
    # a nickname already in the room is refused with the reason, and can be corrected
    join_as(ben, " ana ")
    ben.locator("[data-testid=nick-error]").wait_for(state="visible")
    assert "already taken" in ben.text_content("[data-testid=nick-error]")
    join_as(ben, "Ben")
    ben.locator("[data-testid=nick-who]").wait_for(state="visible")
    cleo.locator("[data-testid=student-card]").wait_for(state="visible")
    cleo.screenshot(path=str(ARTIFACTS / "class-student-nickname-390x844.png"))
    assert overlapping_text(cleo) == []
    assert violations(cleo) == []
    join_as(cleo, "Cleo")
    cleo.locator("[data-testid=nick-who]").wait_for(state="visible")
    assert cleo.text_content("[data-testid=nick-name]") == "Cleo"

    # hand-out, then the dashboard (from the room panel) lists the three students
    teacher.click("[data-testid=room-handout]")
    for s in (ana, ben, cleo):
        wait_js(s, "document.body.dataset.roomMode === 'copy'")
    assert "Class dashboard" in teacher.text_content("#room-status")
    teacher.click("[data-testid=room-dashboard]")
    teacher.locator("[data-testid=class-dashboard]").wait_for(state="visible")
    wait_js(teacher, f"document.querySelectorAll('{ROW}').length === 3")
    names = js(teacher, f"[...document.querySelectorAll('{ROW}')].map(r => r.dataset.name)")
    assert sorted(names) == ["Ana", "Ben", "Cleo"]

    # Ana changes her learning rate and steps: the dashboard shows the change and her numbers
    open_setup(ana)
    ana.select_option("select[name=learning_rate]", "0.1")
    wait_js(ana, "window.__propscope.store.get('spec').training.optimizer.learning_rate === 0.1")
    for _ in range(6):
        before = js(ana, "window.__propscope.store.get('stepFrame').step")
        ana.keyboard.press("s")
        wait_js(ana, f"window.__propscope.store.get('stepFrame').step === {before + 1}")
    wait_js(teacher, "(() => { const r = document.querySelector(\"[data-testid=class-row]"
                     "[data-name='Ana'] [data-col=step]\");"
                     " return r && r.dataset.value === '6'; })()")
    wait_js(teacher, "document.querySelector(\"[data-testid=class-row][data-name='Ana'] "
                     "[data-col=changed]\").textContent.includes('learning rate 0.03 → 0.1')")
    ana_eval = js(ana, "window.__propscope.store.get('metrics').eval")
    assert float(cell(teacher, "Ana", "train_loss").get_attribute("data-value")) \
        == ana_eval["train_loss"]
    assert float(cell(teacher, "Ana", "test_loss").get_attribute("data-value")) \
        == ana_eval["test_loss"]
    assert cell(teacher, "Ben", "changed").text_content() == "nothing"
    # the thumbnail was painted from the server's cells
    wait_js(teacher, "document.querySelector(\"[data-testid=class-row][data-name='Ana'] canvas\")"
                     ".getAttribute('aria-label').startsWith('decision boundary of Ana')")

    # sorting by step with the keyboard: descending puts Ana (step 6) first
    teacher.focus("[data-testid=class-sort-step]")
    teacher.keyboard.press("Enter")
    teacher.keyboard.press("Enter")
    wait_js(teacher, "document.querySelector('th[data-key=step]').getAttribute('aria-sort')"
                     " === 'descending'")
    assert js(teacher, f"document.querySelector('{ROW}').dataset.name") == "Ana"
    assert js(teacher, "document.activeElement.dataset.testid") == "class-sort-step"

    time.sleep(0.6)  # one more dashboard tick drawn (the numbers above are already checked)
    teacher.screenshot(path=str(ARTIFACTS / "class-dashboard-1280x720.png"))
    assert only_the_dialog_overlaps(teacher) == []
    assert violations(teacher) == []
    teacher.set_viewport_size({"width": 1920, "height": 1080})
    time.sleep(0.3)
    teacher.screenshot(path=str(ARTIFACTS / "class-dashboard-1920x1080.png"))
    assert only_the_dialog_overlaps(teacher) == []

    # locks: the learning rate is locked for students; they see why, the server refuses it
    teacher.check("[data-testid=class-lock-learning_rate]")
    for s in (ana, cleo):
        s.locator("[data-testid=lock-note]").wait_for(state="visible")
        assert "learning rate" in s.text_content("[data-testid=lock-note]")
    lr = ana.locator("select[name=learning_rate]")
    wait_js(ana, "document.querySelector('select[name=learning_rate]')"
                 ".getAttribute('aria-disabled') === 'true'")
    assert lr.is_disabled()
    assert ana.locator("[data-testid=lock-learning_rate]").is_visible()
    assert "locked by your teacher" in ana.text_content("[data-testid=lock-learning_rate]")
    refused = js(ana, "window.__propscope.connection.sendRaw('set', {learning_rate: 0.3})"
                      ".then(() => 'accepted', (e) => e.reply && e.reply.code)")
    assert refused == "locked"
    time.sleep(0.3)
    cleo.screenshot(path=str(ARTIFACTS / "class-student-locked-390x844.png"))
    assert overlapping_text(cleo) == []
    assert cleo.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert violations(cleo) == []
    open_setup(cleo)  # the locked control itself, in the phone's setup drawer
    cleo.locator("[data-testid=lock-learning_rate]").scroll_into_view_if_needed()
    assert cleo.locator("select[name=learning_rate]").get_attribute("aria-disabled") == "true"
    time.sleep(0.3)
    cleo.screenshot(path=str(ARTIFACTS / "class-student-locked-setup-390x844.png"))
    assert violations(cleo) == []
    cleo.click("[data-testid=setup-close]")

    # released: the control works again
    teacher.uncheck("[data-testid=class-lock-learning_rate]")
    wait_js(ana, "!document.querySelector('select[name=learning_rate]').disabled")
    ana.locator("[data-testid=lock-note]").wait_for(state="hidden")

    # Ana's connection drops: her page reconnects and gets her own copy back at its step
    js(ana, "window.__propscope.connection.drop()")
    wait_js(ana, "window.__propscope.store.get('connection').state === 'open'"
                 " && document.body.dataset.roomMode === 'copy'"
                 " && window.__propscope.store.get('snapshot').reason === 'resume'")
    wait_js(ana, "window.__propscope.store.get('stepFrame').step === 6")
    assert js(ana, "window.__propscope.store.get('spec').training.optimizer.learning_rate") == 0.1
    assert ana.text_content("[data-testid=nick-name]") == "Ana"

    # the projector's window is the room's follower page without the nickname card
    href = teacher.get_attribute("[data-testid=class-projector]", "href")
    assert href == f"/r/{code}?view=projector#presenter=1"
    projector, _ = open_page(path=href.split("#")[0], hash_="#presenter=1", width=1920, height=1080)
    wait_js(projector, "document.body.dataset.roomMode === 'following'")
    assert not projector.locator("[data-testid=student-card]").is_visible()

    # project: Cleo follows the teacher again and then sees Ana's copy (and then no name)
    cleo.click("[data-testid=follow-again]")
    wait_js(cleo, "document.body.dataset.roomMode === 'following'")
    row(teacher, "Ana").locator("[data-testid=class-project]").click()
    wait_js(cleo, "document.querySelector('[data-testid=badge-follow]').textContent"
                  " === \"Following Ana's copy · read-only\"")
    wait_js(cleo, "(window.__propscope.store.get('stepFrame') || {}).step === 6")
    wait_js(projector, "document.querySelector('[data-testid=badge-follow]').textContent"
                       " === \"Following Ana's copy · read-only\"")
    wait_js(projector, "(window.__propscope.store.get('stepFrame') || {}).step === 6")
    time.sleep(0.3)
    projector.screenshot(path=str(ARTIFACTS / "class-projector-1920x1080.png"))
    teacher.check("[data-testid=class-hide-names]")
    wait_js(cleo, "document.querySelector('[data-testid=badge-follow]').textContent"
                  " === \"Following a student's copy · read-only\"")
    teacher.click("[data-testid=class-unproject]")
    wait_js(cleo, "document.querySelector('[data-testid=badge-follow]').textContent"
                  " === 'Following the teacher · read-only'")
    wait_js(cleo, "(window.__propscope.store.get('stepFrame') || {}).step === 0")
