"""A websockets client for a real server process (started with app.devserver.running_server)."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import urllib.request

from tests.app.protocol_decoder import Frame, decode


def health(base: str, since: float | None = None) -> dict:
    url = base + "/api/health" + (f"?since={since}" if since else "")
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())


class LiveClient:
    """An asyncio websockets client that decodes frames and collects everything it receives."""

    def __init__(self, ws) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        self.items: list = []
        self.welcome: dict | None = None
        self.snapshot: dict | None = None
        self.schemas: dict = {}  # frame schemas this socket was sent (docs/protocol.md §4)

    @classmethod
    async def connect(cls, base: str, query: str = "") -> LiveClient:
        import websockets

        url = base.replace("http://", "ws://") + "/ws" + query
        ws = await websockets.connect(url, max_size=None, compression=None)
        client = cls(ws)
        client.welcome = await client.recv()
        client.snapshot = await client.recv()
        return client

    async def recv(self, timeout: float = 10.0):
        data = await asyncio.wait_for(self.ws.recv(), timeout)
        item = decode(data, self.schemas) if isinstance(data, bytes) else json.loads(data)
        self.items.append(item)
        return item

    async def send(self, message: dict):
        message = dict(message)
        message.setdefault("id", next(self.ids))
        await self.ws.send(json.dumps(message))
        return message["id"]

    async def request(self, message: dict, timeout: float = 10.0) -> tuple[dict, list]:
        msg_id = await self.send(message)
        seen = []
        while True:
            item = await self.recv(timeout)
            if isinstance(item, dict) and item.get("id") == msg_id and item["type"] in (
                "ack", "error", "pong"
            ):
                return item, seen
            seen.append(item)

    async def drain_for(self, seconds: float) -> list:
        end = time.monotonic() + seconds
        got = []
        while (left := end - time.monotonic()) > 0:
            try:
                got.append(await self.recv(left))
            except TimeoutError:
                break
        return got

    def frames(self, kind: str | None = None) -> list[Frame]:
        return [f for f in self.items if isinstance(f, Frame) and (kind is None or f.kind == kind)]

    def messages(self, kind: str) -> list[dict]:
        return [m for m in self.items if isinstance(m, dict) and m.get("type") == kind]

    async def close(self) -> None:
        await self.ws.close()
