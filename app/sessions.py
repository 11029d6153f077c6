"""The session registry: create, resume by token, reap abandoned sessions; loop-lag monitor."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from app.connection import LIVE_CONNECTIONS
from app.security import logfmt
from app.session import Load, Session
from app.settings import Settings
from app.storage import hash_token
from app.training_pool import TrainingPool, auto_processes

log = logging.getLogger("propscope.sessions")


class ServerBusy(Exception):
    """No room for a new session: ``code`` is the error code sent before closing (1013)."""

    def __init__(self, message: str, code: str = "server_busy") -> None:
        super().__init__(message)
        self.code = code


class SessionRegistry:
    def __init__(self, settings: Settings, reserved: Callable[[], int] = lambda: 0) -> None:
        self.settings = settings
        #: places kept free for rooms' hand-out copies (one per following viewer)
        self.reserved = reserved
        self.sessions: dict[str, Session] = {}
        self.executor = ThreadPoolExecutor(
            max_workers=settings.train_workers, thread_name_prefix="propscope-train"
        )
        self.lag = LoopLagMonitor()
        self.load = Load()
        self.load.heavy_executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="propscope-heavy", initializer=_lower_priority
        )
        processes = settings.training_processes
        processes = auto_processes() if processes < 0 else processes
        self.load.pool = TrainingPool(processes) if processes > 0 else None
        self._tasks: list[asyncio.Task] = []

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._reaper()),
            loop.create_task(self.lag.run()),
            loop.create_task(self._watchdog()),
        ]

    async def close_connections(self, code: int = 1001, reason: str = "server shutting down"):
        """Close every open socket (sessions' and any other Connection) with `code`."""
        conns = [c for c in list(LIVE_CONNECTIONS) if not c.closed]
        if conns:
            await asyncio.gather(*(c.close(code, reason, timeout=2.0) for c in conns),
                                 return_exceptions=True)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for session in list(self.sessions.values()):
            await session.stop()
        self.sessions.clear()
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.load.heavy_executor.shutdown(wait=False, cancel_futures=True)
        if self.load.pool is not None:
            self.load.pool.close()

    def open(
        self, token: str | None, client: str | None = None
    ) -> tuple[Session, bool, str | None]:
        """The session for a resume token, or a new one: (session, resumed, resume_error).

        Caps: at most ``max_sessions_per_client`` sessions created from one client address and
        ``max_sessions`` in total. At a cap, the longest-detached session (of that address, or
        of anyone for the total) gives way; if every session there is attached, ServerBusy.
        """
        if token:
            session = self.sessions.get(token) if isinstance(token, str) else None
            if session is None and isinstance(token, str):
                session = self._claim_restored(token)
            if session is not None:
                return session, True, None
            error = "unknown or expired session"
        else:
            error = None
        self.reap()
        mine = [s for s in self.sessions.values() if s.client == client and s.role != "handout"]
        if len(mine) >= self.settings.max_sessions_per_client and not self._evict(mine):
            raise ServerBusy(
                f"this address already has {len(mine)} open sessions, the limit per client; "
                "close a tab and try again",
                code="too_many_sessions",
            )
        token = secrets.token_urlsafe(24)
        session = Session(token, self.settings, self.executor, load=self.load, client=client)
        self.add(session, keep=self.reserved())
        return session, False, error

    def _claim_restored(self, token: str) -> Session | None:
        """A session restored after a restart whose owner comes back with its old token: it
        is filed under that token again (only the token's hash was kept)."""
        wanted = hash_token(token)
        for key, session in list(self.sessions.items()):
            if session.restored_from == wanted:
                del self.sessions[key]
                session.token, session.restored_from = token, None
                self.sessions[token] = session
                return session
        return None

    def add(self, session: Session, keep: int = 0) -> None:
        """Register and start a session (a new tab's or a hand-out copy: both count against
        ``max_sessions``); a new tab leaves `keep` places free for rooms' hand-outs. At the cap
        a detached student session gives way; ServerBusy if none can."""
        limit = self.settings.max_sessions - keep
        while len(self.sessions) >= limit:
            if not self._evict(list(self.sessions.values())):
                held = (f", {keep} of them kept for the copies a classroom's teacher hands out"
                        if keep else "")
                raise ServerBusy(
                    f"the server runs {len(self.sessions)} sessions and allows "
                    f"{self.settings.max_sessions}{held}; try again later"
                )
        session.load = self.load
        self.sessions[session.token] = session
        session.memory_check = self.make_room
        session.start()

    def _evictable(self, candidates: list[Session]) -> list[Session]:
        """Detached sessions that may give way: never a teacher's (a room's presenter)."""
        return [s for s in candidates
                if s.conn is None and s.detached_at is not None and s.role != "teacher"]

    def _evict(self, candidates: list[Session], reason: str = "session cap") -> bool:
        """Forget the longest-detached of these sessions; False if none may give way."""
        detached = self._evictable(candidates)
        if not detached:
            return False
        oldest = min(detached, key=lambda s: s.detached_at)
        self._forget(oldest.token)
        log.info(logfmt("session_evicted", session=oldest.id, reason=reason))
        return True

    # --- the memory budget ---------------------------------------------------------------------

    def memory(self) -> dict[str, int]:
        """Bytes held by each session's trainer (app/memory.py), by session token."""
        return {token: s.memory_bytes() for token, s in list(self.sessions.items())}

    def make_room(self, session: Session | None, needed: int) -> bool:
        """Keep total session memory plus `needed` within ``max_session_bytes``: detached
        student sessions give way, heaviest first. False if that is not enough (the caller
        refuses what would need the bytes)."""
        budget = self.settings.max_session_bytes
        sizes = self.memory()
        if session is not None:
            sizes.pop(session.token, None)  # its current trainer is about to be replaced
        total = sum(sizes.values()) + needed
        if total <= budget:
            return True
        by_weight = sorted(self._evictable(list(self.sessions.values())),
                           key=lambda s: sizes.get(s.token, 0), reverse=True)
        for victim in by_weight:
            if victim is session:
                continue
            total -= sizes.get(victim.token, 0)
            self._forget(victim.token)
            log.info(logfmt("session_evicted", session=victim.id, reason="memory budget",
                            bytes=sizes.get(victim.token, 0)))
            if total <= budget:
                _trim_heap()
                return True
        return False

    def _forget(self, token: str) -> None:
        session = self.sessions.pop(token, None)
        if session is not None and session.task is not None:
            session.task.cancel()

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
            self._forget(token)
        if dead:
            log.info(logfmt("sessions_reaped", count=len(dead)))
            _trim_heap()
        return dead

    async def _reaper(self) -> None:
        while True:
            await asyncio.sleep(self.settings.reaper_interval)
            try:
                self.reap()
                self.make_room(None, 0)  # sessions grow as they step: re-check the budget
            except Exception:  # never let one bad session stop the reaper
                log.exception(logfmt("reaper_failed"))

    async def _watchdog(self) -> None:
        """Drop clients whose sends are stuck; keep the playing count for chunk sizing."""
        interval = min(0.5, self.settings.send_timeout / 4)
        while True:
            await asyncio.sleep(min(interval, 0.1))
            self.load.playing = sum(s.playing for s in self.sessions.values())
            now = time.monotonic()
            if now - getattr(self, "_last_check", 0.0) >= interval:
                self._last_check = now
                for conn in list(LIVE_CONNECTIONS):
                    try:
                        conn.check(now)
                    except Exception:  # never let one connection stop the watchdog
                        log.exception(logfmt("watchdog_failed", conn=conn.label))

    def stats(self) -> dict:
        sessions = list(self.sessions.values())
        return {
            "sessions": len(sessions),
            "session_bytes": sum(self.memory().values()),
            "max_session_bytes": self.settings.max_session_bytes,
            "attached": sum(s.conn is not None for s in sessions),
            "playing": sum(s.playing for s in sessions),
            "connections": sum(not c.closed for c in list(LIVE_CONNECTIONS)),
            "tasks": len(asyncio.all_tasks()),
            "open_fds": _open_fds(),
            "rss_kb": _rss_kb(),
            "training": self.load.pool.stats() if self.load.pool is not None else None,
        }


_libc = None


def _lower_priority() -> None:
    """The heavy worker runs at a lower OS priority (nice +10): when the CPU is short, the
    event loop and the light sessions' worker are scheduled first."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
    except (OSError, AttributeError) as err:  # not Linux, or not permitted: fair share only
        log.info(logfmt("heavy_worker_priority_unchanged", error=type(err).__name__))


def _trim_heap() -> None:
    """Give freed heap pages back to the OS (glibc keeps them otherwise; RSS would only grow)."""
    global _libc
    try:
        if _libc is None:
            import ctypes

            _libc = ctypes.CDLL("libc.so.6")
        _libc.malloc_trim(0)
    except (OSError, AttributeError):
        _libc = False  # not glibc: nothing to do


def _open_fds() -> int | None:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return None


def _rss_kb() -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


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
