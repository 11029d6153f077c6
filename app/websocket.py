"""The /ws endpoint: attach a socket to a session, validate messages, hand them to the session."""

from __future__ import annotations

import asyncio
import math
import time

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from app import PROTOCOL_VERSION, __version__
from app.frames import dumps
from app.protocol import Ping, ProtocolError, parse_message
from app.session import Connection
from app.sessions import ServerBusy

router = APIRouter()


@router.websocket("/ws")
async def session_socket(ws: WebSocket) -> None:
    registry = ws.app.state.registry
    settings = ws.app.state.settings
    await ws.accept()
    try:
        session, resumed, resume_error = registry.open(ws.query_params.get("resume"))
    except ServerBusy as err:
        await ws.send_text(
            dumps({"type": "error", "id": None, "code": "server_busy", "message": str(err)})
        )
        await ws.close(code=1013, reason="server busy")
        return
    conn = Connection(ws)
    sender = asyncio.get_running_loop().create_task(conn.run())
    conn.send(
        dumps(
            {
                "type": "welcome",
                "protocol": PROTOCOL_VERSION,
                "token": session.token,
                "resumed": resumed,
                "resume_error": resume_error,
                "session_ttl": settings.session_ttl,
                "server": {
                    "version": __version__,
                    "display_fps": settings.display_fps,
                    "max_fps": settings.max_fps,
                    "grid_fps": settings.grid_fps,
                    "grid_resolution": settings.grid_resolution,
                    "max_message_bytes": settings.max_message_bytes,
                },
            }
        )
    )
    replaced = session.attach(conn, resumed)
    if replaced is not None:
        await replaced.close(4001, "replaced by a newer connection")
    try:
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                break
            text = message.get("text")
            data = text if text is not None else message.get("bytes") or b""
            try:
                if len(data) > settings.max_message_bytes:
                    raise ProtocolError(
                        "invalid_message",
                        f"the message is larger than {settings.max_message_bytes} bytes",
                    )
                parsed = parse_message(data)
                if isinstance(parsed, Ping):
                    t = parsed.t if parsed.t is None or math.isfinite(parsed.t) else None
                    conn.send(
                        dumps({"type": "pong", "id": parsed.id, "t": t, "server_time": time.time()})
                    )
                    continue
                session.submit(parsed)
            except ProtocolError as err:
                conn.send(dumps(err.reply()))
    except WebSocketDisconnect:
        pass
    finally:
        session.detach(conn)
        conn.closed = True
        conn.event.set()
        sender.cancel()
