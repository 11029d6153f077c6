"""The receive loop every streaming socket shares: a session's owner and a room's viewers.

One loop reads the socket until it closes (or its :class:`~app.connection.Connection` gives up
on the peer) and does, in this order, what every socket needs alike:

* a message over ``max_message_bytes`` closes the socket with 1009 (uvicorn enforces
  ``ws_max_size`` already; other servers get the same code);
* the rate limit (a token bucket; which bucket may depend on the socket's state, so it is asked
  for each message): beyond it the socket is closed with 1008;
* parsing (:func:`app.protocol.parse_message`);
* ``ping`` is answered with ``pong`` here, the one place that answers it;
* a :class:`~app.protocol.ProtocolError` is answered with its ``error``; any other failure is
  logged (``event=message_failed`` with the socket's label) and answered ``internal_error``, and
  the socket stays usable.

What differs between sockets is the ``handle`` function, given every other parsed message: a
session's owner submits it to the session; a viewer follows, is refused (``read_only``) or
drives its private copy (app/rooms.py).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable

from starlette.websockets import WebSocketDisconnect

from app.connection import Connection
from app.frames import dumps
from app.protocol import Ping, ProtocolError, parse_message
from app.security import TokenBucket, logfmt

log = logging.getLogger("propscope.ws")


def _size(data: str | bytes, limit: int) -> int:
    """The message's size in bytes (a text only needs encoding when it might be over)."""
    if isinstance(data, bytes) or len(data) * 4 <= limit:
        return len(data)
    return len(data.encode("utf-8", "surrogatepass"))


def pong(ping: Ping) -> str:
    t = ping.t if ping.t is None or math.isfinite(ping.t) else None
    return dumps({"type": "pong", "id": ping.id, "t": t, "server_time": time.time()})


async def receive_loop(
    ws,
    conn: Connection,
    settings,
    handle: Callable[[object], None],
    bucket: Callable[[], TokenBucket],
    fields: dict,
    still: str = "the connection is still usable",
) -> None:
    """Read `ws` until it closes or `conn` ends; `handle(parsed)` gets every message but
    ``ping``. `bucket()` is the rate limit for the next message; `fields` label the logs;
    `still` ends the sentence of an ``internal_error`` reply."""
    limit = settings.max_message_bytes
    ended = conn.ended
    try:
        while True:
            receiving = asyncio.ensure_future(ws.receive())
            await asyncio.wait((receiving, ended), return_when=asyncio.FIRST_COMPLETED)
            if not receiving.done():  # the connection gave up on the peer (dropped, closed)
                receiving.cancel()
                break
            message = receiving.result()
            if message["type"] == "websocket.disconnect":
                break
            if not bucket().take():
                log.warning(logfmt("rate_limited", **fields))
                await conn.close(1008, "rate limit exceeded", timeout=2.0)
                break
            text = message.get("text")
            data = text if text is not None else message.get("bytes") or b""
            if _size(data, limit) > limit:
                await conn.close(1009, "message too big", timeout=2.0)
                break
            try:
                parsed = parse_message(data)
                if isinstance(parsed, Ping):
                    conn.send(pong(parsed))
                else:
                    handle(parsed)
            except ProtocolError as err:
                conn.send(dumps(err.reply()))
            except Exception:  # a bug: logged, answered, the socket stays
                log.exception(logfmt("message_failed", **fields))
                conn.send(dumps({"type": "error", "id": None, "code": "internal_error",
                                 "message": "the server failed to handle this message (a bug); "
                                 + still}))
    except WebSocketDisconnect:
        pass  # the peer left: the normal end
    except Exception as err:  # the socket broke in another way (say how, then end)
        log.info(logfmt("socket_ended", **fields, error=type(err).__name__))
