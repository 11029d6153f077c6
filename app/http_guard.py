"""Half-open HTTP requests are closed: a connection must finish its request headers in time.

uvicorn closes idle keep-alive connections, but a connection that opens and sends nothing, or
half a request line, or headers one byte a minute, is kept forever (300 of them hold 300 file
descriptors and tasks). :func:`guarded_http_protocol` returns uvicorn's HTTP protocol with a
deadline: from the connection's start, and from the start of every later request on it, the
headers must be complete within ``timeout`` seconds, else the connection is closed. Bodies have
their own deadline in the upload routes (``body_timeout``).
"""

from __future__ import annotations

import asyncio
import logging

from app.security import logfmt

log = logging.getLogger("propscope.http")


def guarded_http_protocol(timeout: float) -> type[asyncio.Protocol]:
    """uvicorn's httptools protocol with a header deadline of `timeout` seconds."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class HeaderDeadlineProtocol(HttpToolsProtocol):
        _deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._arm()

        def on_headers_complete(self) -> None:
            self._disarm()
            super().on_headers_complete()

        def connection_lost(self, exc) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            if self._deadline is None:
                self._deadline = self.loop.call_later(timeout, self._expired)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _expired(self) -> None:
            self._deadline = None
            client = self.client[0] if self.client else None
            log.info(logfmt("http_header_timeout", client=client, timeout=timeout))
            self.transport.close()

    return HeaderDeadlineProtocol
