"""Helpers for the browser tests: waiting on page state under the real CSP, spec URLs."""

from __future__ import annotations

import json
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "screenshots"


def wait_js(page, expression: str, timeout: float = 20_000) -> None:
    """Poll a JS expression until it is truthy.

    Playwright's ``wait_for_function`` compiles its predicate with ``eval`` in the page, which
    the server's Content-Security-Policy (``script-src 'self'``) forbids; ``page.evaluate``
    goes through the DevTools protocol and is allowed. So the tests run under the real CSP.
    """
    deadline = time.monotonic() + timeout / 1000
    while True:
        if page.evaluate(f"!!({expression})"):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout / 1000:.0f} s: {expression}")
        time.sleep(0.05)


def spec_hash(spec: dict, presenter: bool = False) -> str:
    text = "#spec=" + urllib.parse.quote(json.dumps(spec, separators=(",", ":")))
    return text + ("&presenter=1" if presenter else "")


def wait_spec(page, predicate_js: str) -> None:
    """Wait until the snapshot's spec satisfies a JS expression over `spec`."""
    wait_js(
        page,
        "(() => { const s = window.__propscope.store.get('snapshot');"
        " const f = window.__propscope.store.get('stepFrame');"
        " if (!s || !f || f.receivedAt < window.__propscope.store.get('snapshotAt')) return false;"
        f" const spec = s.spec; return {predicate_js}; }})()",
    )
