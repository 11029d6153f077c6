"""Server settings: defaults, overridden by environment variables, overridden by CLI flags.

| setting | env var | default |
|---|---|---|
| host | PROPSCOPE_HOST | 127.0.0.1 |
| port | PROPSCOPE_PORT | 8000 |
| display_fps | PROPSCOPE_DISPLAY_FPS | 30 (step frames per second per session) |
| max_fps | PROPSCOPE_MAX_FPS | 60 (the most a client may ask for) |
| grid_fps | PROPSCOPE_GRID_FPS | 5 (grid frames per second while playing) |
| eval_fps | PROPSCOPE_EVAL_FPS | 10 (full train/test evaluations per second while playing) |
| grid_resolution | PROPSCOPE_GRID_RESOLUTION | 40 |
| chunk_ms | PROPSCOPE_CHUNK_MS | 8 (longest stretch of stepping per worker chunk) |
| train_workers | PROPSCOPE_TRAIN_WORKERS | 1 (worker threads stepping, all sessions together) |
| switch_interval_ms | PROPSCOPE_SWITCH_INTERVAL_MS | 1 (GIL switch interval; 0 = keep) |
| session_ttl | PROPSCOPE_SESSION_TTL | 300 s a detached session waits for a resume |
| reaper_interval | PROPSCOPE_REAPER_INTERVAL | 10 s |
| max_sessions | PROPSCOPE_MAX_SESSIONS | 64 |
| max_message_bytes | PROPSCOPE_MAX_MESSAGE_BYTES | 65536 |
| ws_ping_interval | PROPSCOPE_WS_PING_INTERVAL | 20 s |
| ws_ping_timeout | PROPSCOPE_WS_PING_TIMEOUT | 20 s |
| log_level | PROPSCOPE_LOG_LEVEL | info |
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENV_PREFIX = "PROPSCOPE_"


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    display_fps: float = 30.0
    max_fps: float = 60.0
    grid_fps: float = 5.0
    eval_fps: float = 10.0
    grid_resolution: int = 40
    chunk_ms: float = 8.0
    train_workers: int = 1
    switch_interval_ms: float = 1.0
    session_ttl: float = 300.0
    reaper_interval: float = 10.0
    max_sessions: int = 64
    max_message_bytes: int = 65536
    ws_ping_interval: float = 20.0
    ws_ping_timeout: float = 20.0
    log_level: str = "info"
    templates_dir: str = str(ROOT / "templates")
    static_dir: str = str(ROOT / "static")

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides) -> Settings:
        """Defaults, then PROPSCOPE_* environment variables, then keyword overrides (not None)."""
        env = os.environ if env is None else env
        values = {}
        for f in fields(cls):
            raw = env.get(ENV_PREFIX + f.name.upper())
            if raw is not None and raw != "":
                values[f.name] = _convert(f.name, f.type, raw)
        settings = cls(**values)
        overrides = {k: v for k, v in overrides.items() if v is not None}
        settings = replace(settings, **overrides)
        settings.check()
        return settings

    def check(self) -> None:
        problems = []
        if not 0 < self.display_fps <= self.max_fps:
            problems.append("display_fps must be above 0 and at most max_fps")
        if not 8 <= self.grid_resolution <= 128:
            problems.append("grid_resolution must be between 8 and 128")
        if self.grid_fps <= 0 or self.eval_fps <= 0:
            problems.append("grid_fps and eval_fps must be above 0")
        if self.chunk_ms <= 0 or self.train_workers < 1 or self.max_sessions < 1:
            problems.append("chunk_ms, train_workers and max_sessions must be positive")
        if not 0 < self.port < 65536:
            problems.append("port must be between 1 and 65535")
        if problems:
            raise ValueError("; ".join(problems))


def _convert(name: str, kind: str, raw: str):
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
    except ValueError:
        raise ValueError(f"{ENV_PREFIX}{name.upper()}={raw!r} is not a number") from None
    return raw
