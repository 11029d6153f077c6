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


# Every visible piece of text on the page as boxes [text, left, top, right, bottom]: text nodes
# of HTML elements (one box per line, via Range.getClientRects) and SVG <text> (plotly's ticks
# and titles), each cut to the ancestors that clip it (overflow ≠ visible) and dropped when it
# is hidden or clipped away; then the network canvas's own labels (network_view textBoxes()).
TEXT_BOXES_JS = (Path(__file__).parent / "text_boxes.js").read_text()


def overlapping_text(page, tolerance: float = 1.0) -> list[tuple[str, str]]:
    """Pairs of visible texts whose boxes intersect by more than `tolerance` px each way."""
    boxes = page.evaluate(TEXT_BOXES_JS)
    pairs = []
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            w = min(a[3], b[3]) - max(a[1], b[1])
            h = min(a[4], b[4]) - max(a[2], b[2])
            if w > tolerance and h > tolerance:
                pairs.append((a[0], b[0]))
    return pairs
