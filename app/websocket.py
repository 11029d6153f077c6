"""The /ws endpoint: attach a socket to a session, validate messages, hand them to the session."""

from __future__ import annotations

import asyncio
import logging
import math
import time

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from app import rooms
from app.connection import Connection
from app.frames import dumps
from app.protocol import Painted, Ping, ProtocolError, parse_message, welcome
from app.security import TokenBucket, logfmt, origin_allowed
from app.sessions import ServerBusy

router = APIRouter()
log = logging.getLogger("propscope.ws")

SUBPROTOCOL = "propscope.v1"
RESUME_PREFIX = "propscope.resume."


def resume_token(ws: WebSocket) -> tuple[str | None, str | None]:
    """(token, subprotocol to accept). The token comes from the offered subprotocols
    (``propscope.resume.TOKEN``, preferred: it never appears in a URL or an access log) or from
    ``?resume=TOKEN`` (still accepted; redacted from the server's logs)."""
    offered = list(ws.scope.get("subprotocols") or [])
    token = None
    for item in offered:
        if item.startswith(RESUME_PREFIX):
            token = item[len(RESUME_PREFIX):] or None
    if token is None:
        token = ws.query_params.get("resume") or None
    return token, SUBPROTOCOL if SUBPROTOCOL in offered else None


@router.websocket("/ws")
async def session_socket(ws: WebSocket) -> None:
    registry = ws.app.state.registry
    settings = ws.app.state.settings
    client = ws.client.host if ws.client else None
    origin = ws.headers.get("origin")
    if not origin_allowed(origin, ws.headers.get("host"), settings.origin_list()):
        log.warning(logfmt("origin_refused", origin=origin[:200], client=client))
        await ws.close(code=1008)  # before accept: the handshake is answered with HTTP 403
        return
    token, subprotocol = resume_token(ws)
    await ws.accept(subprotocol=subprotocol)
    if ws.query_params.get("room") is not None:  # a viewer of a classroom room (app/rooms.py)
        await rooms.viewer_socket(ws, ws.query_params["room"])
        return
    try:
        session, resumed, resume_error = registry.open(token, client)
    except ServerBusy as err:
        log.warning(logfmt("session_refused", code=err.code, client=client))
        await ws.send_text(
            dumps({"type": "error", "id": None, "code": err.code, "message": str(err)})
        )
        await ws.close(code=1013, reason="server busy")
        return
    conn = Connection(ws, settings.send_timeout, settings.max_outbox_bytes, label=session.id)
    rooms.bind(session, ws.app.state.services, rooms.base_url_of(ws, settings))
    bucket = TokenBucket(settings.rate_limit_per_s, settings.rate_limit_burst)
    sender = asyncio.get_running_loop().create_task(conn.run())
    conn.send(dumps(welcome(
        settings, token=session.token, resumed=resumed, resume_error=resume_error
    )))
    replaced = session.attach(conn, resumed)
    if replaced is not None:
        await replaced.close(4001, "replaced by a newer connection")
    try:
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                break
            if not bucket.take():
                log.warning(logfmt("rate_limited", session=session.id, client=client))
                await conn.close(1008, "rate limit exceeded", timeout=2.0)
                break
            text = message.get("text")
            data = text if text is not None else message.get("bytes") or b""
            size = len(data) if isinstance(data, bytes) or len(data) * 4 <= \
                settings.max_message_bytes else len(data.encode("utf-8", "surrogatepass"))
            if size > settings.max_message_bytes:
                # uvicorn enforces this already (ws_max_size); other servers get the same code.
                await conn.close(1009, "message too big", timeout=2.0)
                break
            try:
                parsed = parse_message(data)
                if isinstance(parsed, Ping):
                    t = parsed.t if parsed.t is None or math.isfinite(parsed.t) else None
                    conn.send(
                        dumps({"type": "pong", "id": parsed.id, "t": t, "server_time": time.time()})
                    )
                    continue
                if isinstance(parsed, Painted):
                    conn.credit.painted(parsed.run, parsed.seq, parsed.ready_in / 1000)
                    continue
                session.submit(parsed)
            except ProtocolError as err:
                conn.send(dumps(err.reply()))
            except Exception:  # a bug: report it, keep the socket and the session
                log.exception(logfmt("message_failed", session=session.id))
                conn.send(dumps({"type": "error", "id": None, "code": "internal_error",
                                 "message": "the server failed to handle this message (a bug); "
                                 "the session is still usable"}))
    except WebSocketDisconnect:
        pass
    finally:
        session.detach(conn)
        conn.finish()
        sender.cancel()
