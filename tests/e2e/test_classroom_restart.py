"""A restart in the middle of a lesson, in real browsers (issue 14): the server stops and starts
again on the same port and database; the teacher's page and a student's phone reconnect by
themselves and find the room under its code, the student's name and copy at its step."""

from __future__ import annotations

import pytest

from app.devserver import running_server
from tests.e2e.conftest import PageWatch
from tests.e2e.support import ARTIFACTS, spec_hash, wait_js
from tests.e2e.test_class_dashboard import SMALL, join_as

pytestmark = pytest.mark.e2e

STORE = "window.__propscope.store"


def test_the_teacher_and_a_student_find_their_room_and_copy_after_a_restart(browser, tmp_path):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    env = {"PROPSCOPE_DB": str(tmp_path / "class.db")}
    contexts = []

    def page_at(url, **kw):
        ctx = browser.new_context(**kw)
        contexts.append(ctx)
        page = ctx.new_page()
        page.set_default_timeout(30_000)
        PageWatch(page)  # (console errors while the server is away are expected here)
        page.goto(url)
        wait_js(page, f"window.__propscope && {STORE}.get('stepFrame')", timeout=30_000)
        return page

    try:
        with running_server(env=env, timeout=30) as first:
            port = first.port
            teacher = page_at(f"{first.base}/{spec_hash(SMALL)}",
                              viewport={"width": 1280, "height": 720})
            wait_js(teacher, f"{STORE}.get('spec').network.hidden.length === 2")
            teacher.keyboard.press("o")
            teacher.locator("[data-testid=room-panel]").wait_for(state="visible")
            code = teacher.text_content("[data-testid=room-code]")
            ana = page_at(f"{first.base}/r/{code}", viewport={"width": 390, "height": 844},
                          has_touch=True, is_mobile=True)
            join_as(ana, "Ana")
            ana.locator("[data-testid=nick-who]").wait_for(state="visible")
            teacher.click("[data-testid=room-handout]")
            wait_js(ana, "document.body.dataset.roomMode === 'copy'")
            for n in range(1, 5):
                ana.click("[data-testid=step]")
                wait_js(ana, f"{STORE}.get('stepFrame').step === {n}")
        # the server is gone: both pages say so and keep trying
        wait_js(ana, f"{STORE}.get('connection').state !== 'open'", timeout=20_000)
        with running_server(env=env, timeout=30, port=port):
            wait_js(teacher, f"{STORE}.get('connection').state === 'open'"
                             f" && {STORE}.get('room') && {STORE}.get('room').code === {code!r}",
                    timeout=60_000)
            wait_js(ana, f"{STORE}.get('connection').state === 'open'"
                         " && document.body.dataset.roomMode === 'copy'"
                         f" && {STORE}.get('stepFrame') && {STORE}.get('stepFrame').step === 4",
                    timeout=60_000)
            assert ana.text_content("[data-testid=nick-name]") == "Ana"
            ana.screenshot(path=str(ARTIFACTS / "class-after-restart-390x844.png"))
            # and she trains on from step 4
            ana.click("[data-testid=step]")
            wait_js(ana, f"{STORE}.get('stepFrame').step === 5")
            # the teacher's dashboard lists her at her step
            teacher.click("[data-testid=room-dashboard]")
            wait_js(teacher, "(() => { const c = document.querySelector(\"[data-testid=class-row]"
                             "[data-name='Ana'] [data-col=step]\"); return c && c.dataset.value"
                             " === '5'; })()", timeout=30_000)
    finally:
        for ctx in contexts:
            ctx.close()
