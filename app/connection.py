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

from app.frames import Frame
from app.security import logfmt

log = logging.getLogger("propscope.connection")

#: Every open Connection (rooms' viewers too); the registry's watchdog checks them.
LIVE_CONNECTIONS: weakref.WeakSet[Connection] = weakref.WeakSet()
WAITED_S = 0.005  # a send that took longer waited for the peer (flow control), see send_s


class Connection:
    """One WebSocket and the task that drains its bounded outbox in order.

    Reusable for any socket that streams frames (a session's owner, a room's viewers):

    * newest frame wins: a binary step/grid/line frame replaces a queued frame of the same kind
      that has not been sent yet (seq numbers then skip: the client missed nothing it could
      still use), so a slow reader costs at most one queued frame per kind;
    * the queued bytes are capped (``max_bytes``): beyond that the client is dropped;
    * a send that cannot complete within ``send_timeout`` seconds (a peer that stopped reading:
      the kernel buffers are full, uvicorn's flow control holds the send) makes :meth:`check` —
      called by the registry's watchdog — drop the client: its outbox is freed, its pending
      send cancelled, :attr:`ended` resolves (the receive loop, app/receive.py, then returns and
      the session or room lets go of the socket) and a close (1008) is attempted for a bounded
      time. Only supported interfaces are used (the ASGI ``send``/``close`` through Starlette's
      WebSocket); the TCP connection itself is then cut by the kernel: ``propscope serve``
      listens with ``TCP_USER_TIMEOUT`` (:func:`listening_socket`), so a connection whose
      unacknowledged data (or closed receive window) lasts longer than that is reset.
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
        self._wake: asyncio.Future | None = None  # the sender waits on it when idle
        self.sending = False
        self.send_started = 0.0
        self.closed = False
        self.bytes_sent = 0
        self.frames_replaced = 0
        self.send_timeout = send_timeout
        self.max_bytes = max_bytes
        self.label = label
        self.drop_reason: str | None = None
        self.send_s = 0.0  # time spent in sends that did not wait (event-loop work, for benches)
        #: Resolves when the connection is given up (dropped, closed, its send failed): the
        #: receive loop waits for it beside the socket's next message.
        self.ended: asyncio.Future = asyncio.get_running_loop().create_future()
        self._task: asyncio.Task | None = None
        LIVE_CONNECTIONS.add(self)

    def send(self, item: str | bytes) -> None:
        if self.closed:
            return
        key = item.newest_wins if type(item) is Frame else None
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
        wake = self._wake
        if wake is not None:
            self._wake = None
            if not wake.done():
                wake.set_result(None)

    def backlog(self) -> int:
        return len(self.out) + self.sending

    async def run(self) -> None:
        """Send what is queued, in order. Idle, it waits for :meth:`send` to wake it: once per
        event-loop turn at most, then it sends everything queued (a room's broadcasts of that
        turn, the viewer's own messages) one ASGI send each."""
        self._task = asyncio.current_task()
        ws, out, clock = self.ws, self.out, time.monotonic
        loop = asyncio.get_running_loop()
        try:
            while not self.closed:
                if not out:
                    self._wake = loop.create_future()
                    await self._wake
                    continue
                key, item = out.popleft()
                n = len(item)
                self.queued_bytes -= n
                if key is None:
                    self.text_bytes -= n
                self.sending = True
                self.send_started = t0 = clock()
                if isinstance(item, bytes):
                    await ws.send_bytes(item)
                else:
                    await ws.send_text(item)
                self.sending = False
                self.bytes_sent += n
                dt = clock() - t0
                if dt < WAITED_S:  # (a longer send waited for the peer: not work done)
                    self.send_s += dt
        except Exception as err:  # the socket went away (or a send failed): say which
            if not self.closed:
                log.info(logfmt("send_failed", conn=self.label, error=type(err).__name__,
                                detail=str(err)[:120]))
            self.closed = True
            self._end()
        finally:
            self.sending = False

    def check(self, now: float) -> None:
        """Watchdog: drop a client whose send is stuck (the peer stopped reading)."""
        if self.sending and not self.closed and now - self.send_started > self.send_timeout:
            self.drop(f"a send did not complete within {self.send_timeout:g} s")

    def drop(self, reason: str) -> None:
        """Give up on a client that does not keep up: free the outbox, cancel a send held by
        flow control, end the receive loop, and close (1008) if the peer still takes it."""
        if self.drop_reason is None:
            log.warning(logfmt("client_dropped", conn=self.label, reason=reason))
        self.drop_reason = reason
        closing = not self.closed
        self._give_up()
        if closing:
            asyncio.get_running_loop().create_task(
                self._close_frame(1008, "client too slow", min(2.0, self.send_timeout)))

    async def close(self, code: int, reason: str = "", timeout: float | None = None) -> None:
        """Close with `code`, waiting at most `timeout` (default ``send_timeout``) for the close
        frame to be taken. The receive loop ends at once, whatever the peer does."""
        self._give_up()
        await self._close_frame(code, reason, timeout or self.send_timeout)

    def _give_up(self) -> None:
        """No more sends: forget the outbox, resolve :attr:`ended`, cancel a send held by flow
        control (the close frame goes first, or nothing does)."""
        self.closed = True
        self.clear()
        self._end()
        task = self._task
        if self.sending and task is not None and task is not asyncio.current_task():
            task.cancel()

    async def _close_frame(self, code: int, reason: str, timeout: float) -> None:
        try:
            await asyncio.wait_for(self.ws.close(code=code, reason=reason), timeout)
        except Exception as err:  # a close that cannot complete (the peer does not read)
            log.info(logfmt("close_failed", conn=self.label, error=type(err).__name__))

    def finish(self) -> None:
        """The socket is gone: stop the sender and forget the connection."""
        self.closed = True
        self.clear()
        self._end()
        LIVE_CONNECTIONS.discard(self)

    @property
    def skipped(self) -> int:
        """Frames replaced by a newer one of their kind before they were sent."""
        return self.frames_replaced

    def clear(self) -> None:
        """Forget what is queued and not yet sent."""
        self.out.clear()
        self.queued_bytes = self.text_bytes = 0

    def _end(self) -> None:
        if not self.ended.done():
            self.ended.set_result(None)
        wake, self._wake = self._wake, None  # an idle sender sees `closed` and returns
        if wake is not None and not wake.done():
            wake.set_result(None)


def listening_socket(config, user_timeout: float):
    """uvicorn's listening socket (``Config.bind_socket``, for ``Server.run(sockets=…)``) with
    ``TCP_USER_TIMEOUT`` set, which accepted connections inherit (Linux): the kernel resets a
    connection whose sent data stays unacknowledged, or whose peer's receive window stays
    closed, for longer than `user_timeout` seconds — a peer that stopped reading. uvicorn's own
    close waits for its write buffer to drain, forever for such a peer; the application, which
    only sees the ASGI interface, cannot cut the TCP connection itself."""
    import socket

    sock = config.bind_socket()
    option = getattr(socket, "TCP_USER_TIMEOUT", None)
    if option is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, option, max(1, int(user_timeout * 1000)))
    return sock
