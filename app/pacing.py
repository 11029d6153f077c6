"""Step frames paced by the client's painting (docs/protocol.md §5): none is sent to be dropped.

A page that paints reports each step frame it has drawn (`painted`, with the frame's run and
seq); from its first report on, its connection carries at most ``window`` step frames of the
main run that the page has not reported, so the server builds and sends a frame only when the
page is ready for it, and a page that draws 10 pictures a second is sent 10 frames, not 30.
Clients that never report (scripts, the benchmarks, older pages) keep the plain rule: a frame
is skipped while the outbox is backed up.

A report that never comes (a hidden tab, a view that does not paint the network, a run
promoted while its frames waited) must not freeze the picture: a frame older than ``stall_s``
without a report no longer counts, so such a client still gets about one frame a ``stall_s``.
"""

from __future__ import annotations

import math
import time
from collections import deque

WINDOW = 1  # step frames of the main run in flight: the page asks for the next when ready
STALL_S = 1.0


class PaintCredit:
    """The step frames one connection has been sent and the page has not yet painted."""

    def __init__(self, window: int = WINDOW, stall_s: float = STALL_S) -> None:
        self.window = window
        self.stall_s = stall_s
        self.not_before = 0.0  # when the page wants its next frame made
        self.enabled = False  # True from the page's first report
        #: (run, seq, sent at), oldest first; bounded: a frame stalled long ago counts for nothing
        self.in_flight: deque[tuple[str | None, int, float]] = deque(maxlen=64)

    def sent(self, run: str | None, seq: int, now: float | None = None) -> None:
        """A step frame went into the connection's outbox."""
        if self.enabled:
            now = time.monotonic() if now is None else now
            self._forget_stalled(now)
            self.in_flight.append((run, seq, now))

    def painted(self, run: str | None, seq: int, ready_in: float = 0.0,
                now: float | None = None) -> None:
        """The page drew the step frame (run, seq): it, everything sent before it and the other
        runs' frames of its turn are done. ``ready_in``: seconds until the page wants its next
        frame made (it throttles its redraws while playing and learns how long a frame takes
        to reach it)."""
        now = time.monotonic() if now is None else now
        self.not_before = now + ready_in
        self.enabled = True
        done = 0
        for i, (r, s, _) in enumerate(self.in_flight):
            if r == run and s <= seq:
                done = i + 1
            elif r == run:
                break
            elif done:  # another run's frame after the painted one, in the same turn
                done = i + 1
        for _ in range(done):
            self.in_flight.popleft()

    def wait(self, main_run: str, now: float | None = None) -> float:
        """Seconds until a step frame of ``main_run`` may be built: 0 now, ``math.inf`` until
        the page reports the one in flight (or it stalls)."""
        if not self.enabled:
            return 0.0
        now = time.monotonic() if now is None else now
        self._forget_stalled(now)
        waiting = sum(1 for r, _, _ in self.in_flight if r == main_run)
        if waiting >= self.window:
            return math.inf
        return max(0.0, self.not_before - now)

    def _forget_stalled(self, now: float) -> None:
        while self.in_flight and now - self.in_flight[0][2] > self.stall_s:
            self.in_flight.popleft()
