"""Helpers for the server tests: settings, a small protocol client, message filters."""

from __future__ import annotations

import itertools
import json
import tempfile
from pathlib import Path

from app.settings import Settings
from tests.app.protocol_decoder import Frame, decode


def make_settings(**overrides) -> Settings:
    """Test settings: short TTLs and a database of the test's own (saved experiments and
    kept classrooms of one test never reach another)."""
    db = Path(tempfile.mkdtemp(prefix="propscope-test-")) / "propscope.db"
    base = {"session_ttl": 60.0, "reaper_interval": 60.0, "db_path": str(db)}
    base.update(overrides)
    return Settings.from_env(env={}, **base)


class WsClient:
    """Wraps a TestClient WebSocket: JSON messages as dicts, binary frames as decoded Frames."""

    def __init__(self, ws) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        self.welcome = None
        self.snapshot = None
        self.frames: list[Frame] = []
        self.schemas: dict = {}  # frame schemas this socket was sent (docs/protocol.md §4)

    def recv(self):
        message = self.ws.receive()
        if message.get("bytes") is not None:
            frame = decode(message["bytes"], self.schemas)
            self.frames.append(frame)
            return frame
        if message.get("text") is not None:
            return json.loads(message["text"])
        raise AssertionError(f"socket closed: {message}")

    def handshake(self) -> list:
        """welcome, snapshot, step frame, grid frame (if any): returns them in order."""
        self.welcome = self.recv()
        assert self.welcome["type"] == "welcome"
        self.snapshot = self.recv()
        assert self.snapshot["type"] == "snapshot"
        got = [self.welcome, self.snapshot, self.recv()]
        if self.snapshot["data"]["bounds"] is not None or self.snapshot["network"]["sizes"][0] == 1:
            got.append(self.recv())
        return got

    def send(self, message: dict) -> int | str:
        message = dict(message)
        message.setdefault("id", next(self.ids))
        self.ws.send_text(json.dumps(message))
        return message["id"]

    def request(self, message: dict) -> tuple[dict, list]:
        """Send, then collect everything up to the ack/error (or pong) carrying the same id."""
        msg_id = self.send(message)
        seen = []
        while True:
            item = self.recv()
            if (
                isinstance(item, dict)
                and item.get("id") == msg_id
                and item["type"] in ("ack", "error", "pong")
            ):
                return item, seen
            seen.append(item)


def frames_of(items: list, kind: str) -> list[Frame]:
    return [f for f in items if isinstance(f, Frame) and f.kind == kind]


def messages_of(items: list, kind: str) -> list[dict]:
    return [m for m in items if isinstance(m, dict) and m.get("type") == kind]


def expect_refusal(ws, code: str, close_code: int = 1013) -> None:
    """The server answers a refused connection with one error message, then closes it."""
    import pytest
    from starlette.websockets import WebSocketDisconnect

    assert json.loads(ws.receive_text())["code"] == code
    with pytest.raises(WebSocketDisconnect) as info:
        ws.receive_text()
    assert info.value.code == close_code
