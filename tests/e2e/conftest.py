"""Fixtures for the browser tests: a real server (subprocess) and a real Chromium.

The server runs as ``python -m app serve --port <free port>`` from the project root and is
ready when ``/api/health`` answers (``app.devserver.running_server``); its output goes to
``test-artifacts/e2e-server.log``. Chromium is Debian's ``/usr/bin/chromium`` (override with
``PROPSCOPE_CHROMIUM``) driven by Python Playwright; the tests skip when it is missing.

The page exposes one debug handle, ``window.__propscope`` (store, network view, data view,
charts, connection); tests read decoded frames through ``__propscope.store.get(...)``, and
the inspector's numbers through ``data-value`` attributes.
"""

from __future__ import annotations

import os
import urllib.parse
from pathlib import Path

import pytest

from app.devserver import running_server
from tests.e2e.support import ROOT, wait_js

CHROMIUM = os.environ.get("PROPSCOPE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-dev-shm-usage",
]


def _skip_without_browser() -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium not found at {CHROMIUM} (install Debian's chromium package)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("the playwright Python package is not installed")


@pytest.fixture(scope="session")
def server():
    _skip_without_browser()
    artifacts = ROOT / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    # saved experiments go to a throw-away database, not the working directory's propscope.db
    db = artifacts / "e2e.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    with running_server(
        env={"PROPSCOPE_DB": str(db)}, log=artifacts / "e2e-server.log", timeout=30
    ) as s:
        yield s.base


@pytest.fixture(scope="session")
def browser(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


class PageWatch:
    """Console errors, page errors and every request's host, for the checks after a test."""

    def __init__(self, page):
        self.errors: list[str] = []
        self.hosts: set[str] = set()
        self.foreign: list[str] = []
        self.expected_http_errors: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        page.on("request", self._request)

    def _console(self, msg):
        if msg.type == "error":
            url = (msg.location or {}).get("url", "")
            if msg.text.startswith("Failed to load resource") and any(
                part in url for part in self.expected_http_errors
            ):
                return  # the browser's own note on an HTTP error the test provoked on purpose
            self.errors.append(f"console: {msg.text} ({url})")

    def expect_http_error(self, path_part: str) -> None:
        """An HTTP error answer to a URL containing path_part is part of the test (e.g. a bad
        upload answered 400): Chromium logs it to the console, which is not a page error."""
        self.expected_http_errors.append(path_part)

    def _request(self, request):
        url = urllib.parse.urlsplit(request.url)
        if url.scheme in ("data", "blob", "about"):
            return
        self.hosts.add(url.hostname or "")
        if url.hostname not in ("127.0.0.1", "localhost"):
            self.foreign.append(request.url)

    def check(self):
        assert not self.foreign, f"requests to other hosts: {self.foreign}"
        assert not self.errors, f"console errors: {self.errors}"


@pytest.fixture
def open_page(browser, server):
    """open_page(hash="", width=1280, height=720, path="/", touch=False) → (page, watch), each
    in its own browser context (its own storage: a separate user); checked after the test.
    touch=True: a phone or tablet (touch screen, mobile viewport)."""
    contexts = []
    watches = []

    def _open(
        hash_: str = "", width: int = 1280, height: int = 720, path: str = "/",
        touch: bool = False,
    ):
        ctx = browser.new_context(
            viewport={"width": width, "height": height}, accept_downloads=True,
            has_touch=touch, is_mobile=touch,
        )
        contexts.append(ctx)
        page = ctx.new_page()
        page.set_default_timeout(20_000)
        watch = PageWatch(page)
        watches.append(watch)
        page.goto(f"{server}{path}{hash_}")
        wait_js(
            page,
            "window.__propscope && window.__propscope.store.get('stepFrame')"
            " && window.__propscope.store.get('spec')",
        )
        return page, watch

    yield _open
    for ctx in contexts:
        ctx.close()
    for watch in watches:
        watch.check()
