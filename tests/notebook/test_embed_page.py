"""A course page on another origin frames /embed in a real Chromium.

The course page is served by a separate HTTP server (another port: another origin); the
Propscope server is started once allowing that origin and once with the default.
"""

from __future__ import annotations

import functools
import http.server
import os
import threading
import time
from pathlib import Path

import pytest

from app.devserver import free_port, running_server
from tests.notebook.browser_thread import CHROMIUM_ARGS, run_apart

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

CHROMIUM = os.environ.get("PROPSCOPE_CHROMIUM", "/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
SPEC = "%7B%22data%22%3A%7B%22dataset%22%3A%22circle%22%7D%7D"  # {"data":{"dataset":"circle"}}


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # the test output is for failures
        return


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """(origin, folder) of a static 'course site' on its own port."""
    folder = tmp_path_factory.mktemp("course")
    port = free_port()
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", port), functools.partial(Quiet, directory=str(folder)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}", folder
    httpd.shutdown()
    thread.join(5)


@pytest.fixture(scope="module")
def with_browser():
    """with_browser(check, *args): check(browser, *args) in a Chromium of its own thread."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium not found at {CHROMIUM}")

    def run(check, *args):
        def inside():
            from playwright.sync_api import sync_playwright

            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                try:
                    return check(browser, *args)
                finally:
                    browser.close()

        return run_apart(inside)

    return run


def _course_page(folder: Path, name: str, frames: list[tuple[str, int, int]]) -> str:
    iframes = "\n".join(
        f'<iframe title="Propscope {i}" src="{src}" width="{w}" height="{h}" '
        'style="border:1px solid #999;display:block;margin:8px 0"></iframe>'
        for i, (src, w, h) in enumerate(frames))
    head = '<!doctype html><meta charset=utf-8><link rel=icon href="data:,"><title>Week 3</title>'
    (folder / name).write_text(f"{head}<h1>Week 3: backpropagation</h1>{iframes}")
    return name


def _frame(page, prefix: str, index: int = 0):
    frames = [f for f in page.frames if f.url.startswith(prefix)]
    return frames[index]


def _wait(frame, expression: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not frame.evaluate(f"!!({expression})"):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out: {expression}")
        time.sleep(0.05)


def _snapshot_ready(frame) -> None:
    _wait(frame, "window.__propscope && window.__propscope.store.get('snapshot')"
                 " && window.__propscope.store.get('stepFrame')")


def test_an_allowed_course_page_shows_the_lesson_and_steps_by_phase(with_browser, course):
    origin, folder = course
    with running_server(env={"PROPSCOPE_FRAME_ANCESTORS": origin}) as server:
        name = _course_page(folder, "lesson.html", [
            (f"{server.base}/embed?panel=data#lesson=chain_rule", 900, 520),
            (f"{server.base}/embed?panel=loss&autoplay=1#spec={SPEC}", 600, 420),
        ])
        errors = with_browser(_check_course_page, f"{origin}/{name}", server.base)
    assert not errors, errors


def _check_course_page(browser, url: str, base: str) -> list[str]:
    page = browser.new_page(viewport={"width": 1000, "height": 1040})
    errors: list[str] = []
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.goto(url)
    lesson, chart = _frame(page, base, 0), _frame(page, base, 1)
    _snapshot_ready(lesson)
    _wait(lesson, "window.__propscope.store.get('snapshot').spec.data.dataset === 'gauss'")
    assert lesson.locator("#lesson-line").is_visible()
    assert lesson.locator("#lesson-title").inner_text() == "The chain rule, one weight at a time"
    lesson.click("#btn-phase")
    _wait(lesson, "document.getElementById('ro-phase').textContent.startsWith('Forward')")
    # the second frame is its own session: it plays the circle while the first stays put
    _snapshot_ready(chart)
    _wait(chart, "window.__propscope.store.get('snapshot').spec.data.dataset === 'circle'")
    _wait(chart, "(window.__propscope.store.get('step') || 0) > 20")
    assert lesson.evaluate("window.__propscope.store.get('step') || 0") == 0
    assert chart.locator("#chart-loss .main-svg, #chart-loss canvas").count() > 0
    # no token anywhere: not in the frame's address, not in its storage (each frame is a
    # throwaway session), and the course page cannot read into the frame
    for frame in (lesson, chart):
        assert "resume" not in frame.url and "token" not in frame.url
        assert frame.evaluate("sessionStorage.length + localStorage.length") == 0
    assert page.evaluate("""() => { try { return document.querySelector('iframe')
        .contentWindow.document.body.innerHTML; } catch (e) { return 'blocked: ' + e.name; } }""") \
        == "blocked: SecurityError"
    href = lesson.get_attribute("#open-full", "href")
    assert href.startswith("/#") and "lesson=chain_rule" in href
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "embed-course-page-1000.png"))
    page.close()
    return errors


@pytest.fixture(scope="module")
def default_server():
    with running_server() as server:
        yield server


def test_by_default_the_browser_refuses_to_frame_it(with_browser, course, default_server):
    origin, folder = course
    name = _course_page(folder, "blocked.html", [(f"{default_server.base}/embed", 600, 400)])
    assert with_browser(_propscope_ran_in_a_frame, f"{origin}/{name}", default_server.base) \
        is False


def _propscope_ran_in_a_frame(browser, url: str, base: str) -> bool:
    page = browser.new_page()
    page.goto(url)
    time.sleep(2.0)
    frames = [f for f in page.frames if f.url.startswith(base)]
    # Chromium replaces a refused frame by an error page: no Propscope code runs in it
    ran = any(f.evaluate("!!window.__propscope") for f in frames)
    page.close()
    return ran


@pytest.mark.parametrize("width,height", [(390, 844), (1024, 768), (1280, 720), (1920, 1080)])
def test_the_embed_page_fits_each_screen(with_browser, default_server, width, height):
    with_browser(_check_fits, default_server.base, width, height)


def _check_fits(browser, base: str, width: int, height: int) -> None:
    page = browser.new_page(viewport={"width": width, "height": height})
    page.goto(f"{base}/embed?panel=data#lesson=vanishing_gradients")
    _snapshot_ready(page.main_frame)
    _wait(page.main_frame, "!document.getElementById('lesson-line').hidden")
    box = page.locator("#network").bounding_box()
    panel = page.locator("#embed-panel").bounding_box()
    assert box["width"] >= min(300, width - 20) and box["height"] >= 150
    assert panel["y"] + panel["height"] <= height + 1
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"embed-{width}.png"))
    page.close()
