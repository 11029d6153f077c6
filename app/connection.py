"""One WebSocket's outgoing side: a bounded outbox drained in order by its own task.

Shared by every socket that streams (a session's owner, a room's viewers). Frames know their
kind (:class:`app.frames.Frame`), so coalescing never parses bytes back.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections import deque

from starlette.websockets import WebSocket

from app.frames import KIND_STEP, Frame
from app.pacing import PaintCredit
from app.security import logfmt

log = logging.getLogger("propscope.connection")

#: Every open Connection (rooms' viewers too); the registry's watchdog checks them.
LIVE_CONNECTIONS: weakref.WeakSet[Connection] = weakref.WeakSet()


class Connection:
    """One WebSocket and the task that drains its bounded outbox in order.

    Reusable for any socket that streams frames (a session's owner, a room's viewers):

    * newest frame wins: a binary step/grid/line frame replaces a queued frame of the same kind
      that has not been sent yet (seq numbers then skip: the client missed nothing it could
      still use), so a slow reader costs at most one queued frame per kind;
    * the queued bytes are capped (``max_bytes``): beyond that the client is dropped;
    * a send that cannot complete within ``send_timeout`` seconds (a peer that stopped reading:
      the kernel buffers are full) makes :meth:`check` — called by the registry's watchdog —
      drop the client: the transport is aborted (uvicorn would otherwise wait for the write
      buffer to drain, forever).
    """

    def __init__(
        self,
        ws: WebSocket,
        send_timeout: float = 10.0,
        max_bytes: int = 4 * 1024 * 1024,
        label: str = "",
    ) -> None:
        self.ws = ws
        self.out: deque[tuple[tuple | None, str | bytes]] = deque()
        self.queued_bytes = 0
        self.text_bytes = 0  # queued bytes other than coalesced frames (those: one per kind)
        #: Extra bytes allowed for the latest full state (snapshot, frames): the largest burst
        #: the session itself sends, bounded by the spec limits (a 10 000-row, 64-column data
        #: set alone is ~13 MB of snapshot JSON); set by the sender of that state.
        self.allowance = 0
        self.event = asyncio.Event()
        self.sending = False
        self.send_started = 0.0
        self.closed = False
        self.bytes_sent = 0
        self.frames_replaced = 0
        self.send_timeout = send_timeout
        self.max_bytes = max_bytes
        self.label = label
        self.drop_reason: str | None = None
        self.schemas: set[int] = set()  # frame schema ids this socket has been sent (§4)
        scope = getattr(ws, "scope", None) or {}
        self.transport = scope.get("propscope.transport")
        self._stuck_since: float | None = None
        #: the step frames the page has not painted yet (step frames are paced by them)
        self.credit = PaintCredit()
        LIVE_CONNECTIONS.add(self)

    def send(self, item: str | bytes) -> None:
        if self.closed:
            return
        key = item.newest_wins if type(item) is Frame else None
        if key is not None and item.kind == KIND_STEP:
            self.credit.sent(item.run, item.seq)
        if key is not None:
            for i, (k, old) in enumerate(self.out):
                if k == key:
                    del self.out[i]
                    self.queued_bytes -= len(old)
                    self.frames_replaced += 1
                    break
        self.out.append((key, item))
        self.queued_bytes += len(item)
        if key is None:
            self.text_bytes += len(item)
            # Coalesced frames are bounded by construction (one of each kind waits at most);
            # everything else may not pile up beyond the cap plus the latest full state.
            if self.text_bytes > self.max_bytes + self.allowance:
                self.drop(f"more than {self.max_bytes + self.allowance} bytes waiting to be "
                          "sent")
                return
        self.event.set()

    def backlog(self) -> int:
        return len(self.out) + self.sending

    async def run(self) -> None:
        try:
            while not self.closed:
                await self.event.wait()
                self.event.clear()
                while self.out and not self.closed:
                    key, item = self.out.popleft()
                    self.queued_bytes -= len(item)
                    if key is None:
                        self.text_bytes -= len(item)
                    self.sending = True
                    self.send_started = time.monotonic()
                    if type(item) is Frame:  # decided here, in send order: schema once
                        item = item.for_peer(self.schemas)
                    if isinstance(item, bytes):
                        await self.ws.send_bytes(item)
                    else:
                        await self.ws.send_text(item)
                    self.sending = False
                    self.bytes_sent += len(item)
        except Exception as err:  # the socket went away (or a send failed): say which
            if not self.closed:
                log.info(logfmt("send_failed", conn=self.label, error=type(err).__name__,
                                detail=str(err)[:120]))
            self.closed = True
        finally:
            self.sending = False

    def check(self, now: float) -> None:
        """Watchdog: drop a client whose send is stuck; abort a transport stuck closing."""
        if self.sending and not self.closed and now - self.send_started > self.send_timeout:
            self.drop(f"a send did not complete within {self.send_timeout:g} s")
            return
        t = self.transport
        if t is None:
            return
        if t.is_closing() and t.get_write_buffer_size() > 0:
            if self._stuck_since is None:
                self._stuck_since = now
            elif now - self._stuck_since > self.send_timeout:
                t.abort()
        else:
            self._stuck_since = None

    def drop(self, reason: str) -> None:
        """Give up on a client that does not keep up: free the outbox, cut the connection."""
        if self.drop_reason is None:
            log.warning(logfmt("client_dropped", conn=self.label, reason=reason))
        self.drop_reason = reason
        self.closed = True
        self.out.clear()
        self.queued_bytes = self.text_bytes = 0
        self.event.set()
        if self.transport is not None:
            self.transport.abort()
        else:  # not uvicorn (the test client): a normal close
            asyncio.get_running_loop().create_task(self.close(1008, "client too slow"))

    async def close(self, code: int, reason: str = "", timeout: float | None = None) -> None:
        self.closed = True
        self.event.set()
        try:
            await asyncio.wait_for(self.ws.close(code=code, reason=reason),
                                   timeout or self.send_timeout)
        except Exception as err:  # a close that cannot complete: cut the connection
            log.info(logfmt("close_failed", conn=self.label, error=type(err).__name__))
            if self.transport is not None:
                self.transport.abort()

    def finish(self) -> None:
        """The socket is gone: stop the sender and forget the connection."""
        self.closed = True
        self.out.clear()
        self.queued_bytes = self.text_bytes = 0
        self.event.set()
        LIVE_CONNECTIONS.discard(self)
