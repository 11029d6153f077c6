"""The session registry: create, resume by token, reap abandoned sessions; loop-lag monitor."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from app.session import Session
from app.settings import Settings

log = logging.getLogger("propscope.sessions")


class ServerBusy(Exception):
    pass


class SessionRegistry:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.sessions: dict[str, Session] = {}
        self.executor = ThreadPoolExecutor(
            max_workers=settings.train_workers, thread_name_prefix="propscope-train"
        )
        self.lag = LoopLagMonitor()
        self._tasks: list[asyncio.Task] = []

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._reaper()), loop.create_task(self.lag.run())]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for session in list(self.sessions.values()):
            await session.stop()
        self.sessions.clear()
        self.executor.shutdown(wait=False, cancel_futures=True)

    def open(self, token: str | None) -> tuple[Session, bool, str | None]:
        """The session for a resume token, or a new one: (session, resumed, resume_error)."""
        if token:
            session = self.sessions.get(token)
            if session is not None:
                return session, True, None
            error = "unknown or expired session"
        else:
            error = None
        self.reap()
        if len(self.sessions) >= self.settings.max_sessions:
            raise ServerBusy(
                f"the server already runs {len(self.sessions)} sessions, its limit; "
                "try again later"
            )
        token = secrets.token_urlsafe(24)
        session = Session(token, self.settings, self.executor)
        self.sessions[token] = session
        session.start()
        return session, False, error

    def reap(self) -> list[str]:
        """Forget sessions detached for longer than the TTL; returns their tokens."""
        now = time.monotonic()
        dead = [
            token
            for token, s in self.sessions.items()
            if s.conn is None
            and s.detached_at is not None
            and now - s.detached_at > self.settings.session_ttl
        ]
        for token in dead:
            session = self.sessions.pop(token)
            if session.task is not None:
                session.task.cancel()
        if dead:
            log.info("reaped %d abandoned session(s)", len(dead))
        return dead

    async def _reaper(self) -> None:
        while True:
            await asyncio.sleep(self.settings.reaper_interval)
            self.reap()

    def stats(self) -> dict:
        sessions = list(self.sessions.values())
        return {
            "sessions": len(sessions),
            "attached": sum(s.conn is not None for s in sessions),
            "playing": sum(s.playing for s in sessions),
        }


class LoopLagMonitor:
    """Measures how late a 10 ms sleep wakes up: the event loop's responsiveness."""

    def __init__(self, interval: float = 0.01, keep: int = 6000) -> None:
        self.interval = interval
        self.samples: deque[tuple[float, float]] = deque(maxlen=keep)

    async def run(self) -> None:
        clock = time.perf_counter
        while True:
            start = clock()
            await asyncio.sleep(self.interval)
            end = clock()
            self.samples.append((end, max(0.0, end - start - self.interval)))

    def summary(self, since: float | None = None) -> dict:
        """Lag percentiles in ms over the last `since` seconds (all kept samples when None)."""
        now = time.perf_counter()
        lags = [lag for t, lag in self.samples if since is None or now - t <= since]
        if not lags:
            return {"p50": None, "p99": None, "max": None, "samples": 0}
        values = np.asarray(lags) * 1000.0
        return {
            "p50": round(float(np.percentile(values, 50)), 3),
            "p99": round(float(np.percentile(values, 99)), 3),
            "max": round(float(values.max()), 3),
            "samples": len(lags),
        }
