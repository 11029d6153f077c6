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
| train_workers | PROPSCOPE_TRAIN_WORKERS | 1 (worker threads for what is not stepping in play) |
| training_processes | PROPSCOPE_TRAINING_PROCESSES | -1: one per core (0: play steps in a thread) |
| switch_interval_ms | PROPSCOPE_SWITCH_INTERVAL_MS | 1 (GIL switch interval; 0 = keep) |
| session_ttl | PROPSCOPE_SESSION_TTL | 300 s a detached session waits for a resume |
| reaper_interval | PROPSCOPE_REAPER_INTERVAL | 10 s |
| max_sessions | PROPSCOPE_MAX_SESSIONS | 64 |
| max_message_bytes | PROPSCOPE_MAX_MESSAGE_BYTES | 65536 |
| ws_ping_interval | PROPSCOPE_WS_PING_INTERVAL | 20 s |
| ws_ping_timeout | PROPSCOPE_WS_PING_TIMEOUT | 20 s |
| log_level | PROPSCOPE_LOG_LEVEL | info |
| allowed_origins | PROPSCOPE_ALLOWED_ORIGINS | "" = own host:port only; else a comma list |
| max_sessions_per_client | PROPSCOPE_MAX_SESSIONS_PER_CLIENT | 16 (per client IP address) |
| rate_limit_per_s | PROPSCOPE_RATE_LIMIT_PER_S | 50 inbound messages/s per socket (token bucket) |
| rate_limit_burst | PROPSCOPE_RATE_LIMIT_BURST | 100 |
| send_timeout | PROPSCOPE_SEND_TIMEOUT | 10 s a send may block before the client is dropped |
| max_outbox_bytes | PROPSCOPE_MAX_OUTBOX_BYTES | 4 MiB queued per socket before it is dropped |
| max_upload_bytes | PROPSCOPE_MAX_UPLOAD_BYTES | 2 MiB (CSV uploads) |
| max_upload_rows | PROPSCOPE_MAX_UPLOAD_ROWS | 10000 (CSV uploads) |
| max_upload_columns | PROPSCOPE_MAX_UPLOAD_COLUMNS | 64 (CSV uploads) |
| db_path | PROPSCOPE_DB (or _DB_PATH) | propscope.db in the working dir (saved experiments) |
| max_import_bytes | PROPSCOPE_MAX_IMPORT_BYTES | 32 MiB (uploaded exports, JSON or .npz) |
| max_viewers | PROPSCOPE_MAX_VIEWERS | 250 viewers per room |
| max_recording_bytes | PROPSCOPE_MAX_RECORDING_BYTES | 64 MiB per recording |
| download_ttl | PROPSCOPE_DOWNLOAD_TTL | 900 s a download/upload token stays valid |
| public_url | PROPSCOPE_PUBLIC_URL | "" = as the browser reached the server (room join links) |
| max_session_bytes | PROPSCOPE_MAX_SESSION_BYTES | 2 GiB held by all sessions' trainers together |
| header_timeout | PROPSCOPE_HEADER_TIMEOUT | 5 s to send a request's headers (else closed) |
| body_timeout | PROPSCOPE_BODY_TIMEOUT | 30 s to send an upload's body (else 408) |
| room_join_failures_per_s | PROPSCOPE_ROOM_JOIN_FAILURES_PER_S | 1 unknown code/s per address |
| classroom_save_s | PROPSCOPE_CLASSROOM_SAVE_S | 10 s between saves of the open rooms |
| room_join_burst | PROPSCOPE_ROOM_JOIN_BURST | 10 unknown codes before the throttle starts |
| frame_ancestors | PROPSCOPE_FRAME_ANCESTORS | "" = no site may frame /embed; else origins |
"""

from __future__ import annotations

import os
import re
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
    training_processes: int = -1  # -1: one per core (app/training_pool.py auto_processes)
    switch_interval_ms: float = 1.0
    session_ttl: float = 300.0
    reaper_interval: float = 10.0
    max_sessions: int = 64
    max_message_bytes: int = 65536
    ws_ping_interval: float = 20.0
    ws_ping_timeout: float = 20.0
    log_level: str = "info"
    allowed_origins: str = ""  # comma-separated exact origins; "" = same host:port as Host
    max_sessions_per_client: int = 16
    rate_limit_per_s: float = 50.0
    rate_limit_burst: float = 100.0
    send_timeout: float = 10.0
    max_outbox_bytes: int = 4 * 1024 * 1024
    max_upload_bytes: int = 2 * 1024 * 1024
    max_upload_rows: int = 10_000
    max_upload_columns: int = 64
    db_path: str = "propscope.db"
    max_import_bytes: int = 32 * 1024 * 1024
    max_viewers: int = 250
    max_recording_bytes: int = 64 * 1024 * 1024
    download_ttl: float = 900.0
    public_url: str = ""
    room_join_failures_per_s: float = 1.0
    max_session_bytes: int = 2 * 1024**3
    header_timeout: float = 5.0
    body_timeout: float = 30.0
    room_join_burst: float = 10.0
    classroom_save_s: float = 10.0
    frame_ancestors: str = ""  # origins that may frame /embed (docs/embedding.md); "" = none
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
        if env.get(ENV_PREFIX + "DB"):  # the documented short name of PROPSCOPE_DB_PATH
            values["db_path"] = env[ENV_PREFIX + "DB"]
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
        if self.training_processes < -1:
            problems.append("training_processes must be -1 (one per core), 0 (none) or more")
        if self.max_sessions_per_client < 1:
            problems.append("max_sessions_per_client must be positive")
        if self.rate_limit_per_s <= 0 or self.rate_limit_burst < 1:
            problems.append("rate_limit_per_s must be above 0 and rate_limit_burst at least 1")
        if self.max_session_bytes < 16 * 1024**2:
            problems.append("max_session_bytes must be at least 16 MiB")
        if self.header_timeout <= 0 or self.body_timeout <= 0:
            problems.append("header_timeout and body_timeout must be above 0")
        if self.send_timeout <= 0 or self.max_outbox_bytes < 65536:
            problems.append("send_timeout must be above 0 and max_outbox_bytes at least 65536")
        if min(self.max_upload_bytes, self.max_upload_rows, self.max_upload_columns) < 1:
            problems.append("max_upload_bytes, max_upload_rows and max_upload_columns must be "
                            "positive")
        for origin in self.origin_list():
            if origin != origin.strip() or "://" not in origin or origin.endswith("/"):
                problems.append(f"allowed_origins: {origin!r} is not an origin like "
                                "http://host:port")
        problems += [f"frame_ancestors: {p}" for p in frame_ancestor_problems(
            self.frame_ancestor_list())]
        if not 0 < self.port < 65536:
            problems.append("port must be between 1 and 65535")
        if problems:
            raise ValueError("; ".join(problems))


    def frame_ancestor_list(self) -> list[str]:
        """Origins allowed to frame the /embed page (empty: none, the default). Commas or
        spaces separate them: a list as in the other settings, or as a CSP header spells it."""
        return split_frame_ancestors(self.frame_ancestors)

    def origin_list(self) -> list[str]:
        """The configured origin allowlist (empty: only the server's own host:port)."""
        return [o.strip() for o in self.allowed_origins.split(",") if o.strip()]


# A CSP host source that names one site: scheme, host (a name, optionally "*." for its
# subdomains, an IPv4 address or a bracketed IPv6 one), optional port — no path, no wildcard
# alone (that would let any site frame the page, which is what this setting exists to prevent).
_FRAME_ORIGIN = re.compile(
    r"https?://(\*\.)?([A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]*"
    r"[A-Za-z0-9])?)*(:\d{1,5})?|https?://\[[0-9A-Fa-f:.]+\](:\d{1,5})?"
)


def split_frame_ancestors(raw: str) -> list[str]:
    """The origins of a frame_ancestors value, separated by commas and/or spaces."""
    return [o for o in re.split(r"[\s,]+", raw) if o]


def frame_ancestor_problems(origins: list[str]) -> list[str]:
    """A sentence per entry that is neither 'self' nor an origin like https://course.example.org
    (shared by the settings check and the --frame-ancestors flag)."""
    return [
        f"{origin!r} is not an origin like https://course.example.org (scheme http or https, "
        "a host, an optional port, no path) or 'self'"
        for origin in origins
        if origin != "'self'" and not _FRAME_ORIGIN.fullmatch(origin)
    ]


def _convert(name: str, kind: str, raw: str):
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
    except ValueError:
        raise ValueError(f"{ENV_PREFIX}{name.upper()}={raw!r} is not a number") from None
    return raw
