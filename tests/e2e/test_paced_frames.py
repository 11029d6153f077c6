"""The page paces its step frames by painting them (docs/protocol.md §5): while it plays at
max speed, nearly every step frame the server sends is drawn — none is sent to be dropped."""

from __future__ import annotations

import time

from tests.e2e.support import wait_js

COUNT_JS = """() => {
  const p = window.__propscope;
  window.__paced = { received: 0, painted0: p.network.stats.latencies.length, seen: null };
  p.store.subscribe(["stepFrame"], (s) => {
    if (s.stepFrame === window.__paced.seen) return;
    window.__paced.seen = s.stepFrame;
    window.__paced.received++;
  });
}"""

READ_JS = """() => {
  const p = window.__propscope;
  const stats = p.network.stats;
  return { received: window.__paced.received,
           painted: stats.latencies.length - window.__paced.painted0 };
}"""


def test_playing_at_max_every_step_frame_sent_is_painted(open_page):
    page, _ = open_page()
    page.select_option("[data-testid=speed]", "max")
    page.click("[data-testid=play]")
    wait_js(page, "document.body.classList.contains('is-playing')")
    time.sleep(1.0)
    page.evaluate(COUNT_JS)
    time.sleep(4.0)
    counts = page.evaluate(READ_JS)
    page.keyboard.press("Space")
    # Unpaced, the server sends 30 a second and the view draws about 11 of them (a third).
    assert counts["received"] >= 12, counts  # the picture keeps moving: ≥ 3 new frames a second
    assert counts["painted"] >= 0.85 * counts["received"], counts
