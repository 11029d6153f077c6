"""Hardening helpers: origin check, token bucket, security headers, log redaction, logfmt.

See docs/security.md for the threat model and how each property is tested.
"""

from __future__ import annotations

import logging
import re
import time
from urllib.parse import urlsplit

log = logging.getLogger("propscope.security")

DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
_HOST_RE = re.compile(r"^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$")


# --- origins ---------------------------------------------------------------------------------


def _host_port(netloc: str, scheme: str) -> tuple[str, int] | None:
    """('host', port) of a `host[:port]` string, lower-cased, default port filled in."""
    match = _HOST_RE.match(netloc)
    if match is None:
        return None
    host = match.group(1).lower().rstrip(".") if not match.group(1).startswith("[") \
        else match.group(1).lower()
    port = int(match.group(2)[1:]) if match.group(2) else DEFAULT_PORTS.get(scheme)
    if port is None or not 0 < port < 65536 or not host:
        return None
    return host, port


def parse_origin(origin: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of a serialised browser origin, or None if it is not one.

    An origin is exactly ``scheme://host[:port]``: no path, query, fragment or user info;
    ``null`` and other schemes are not origins this server accepts.
    """
    if not origin or origin != origin.strip() or len(origin) > 300:
        return None
    try:
        parts = urlsplit(origin)
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or parts.path or parts.query or parts.fragment:
        return None
    if "@" in parts.netloc or origin.endswith("?") or origin.endswith("#"):
        return None
    host_port = _host_port(parts.netloc, scheme)
    if host_port is None:
        return None
    return scheme, *host_port


def origin_allowed(origin: str | None, host: str | None, allowlist: list[str]) -> bool:
    """Whether a WebSocket handshake with this Origin (and Host) header may proceed.

    * No Origin header: allowed (not a browser: tests, the bench, command-line clients — a
      browser always sends Origin on a WebSocket handshake, so a web page cannot omit it).
    * With an allowlist: the origin must equal one of its entries (scheme, host and port).
    * Without one: the origin's host:port must equal the request's Host header (same host).
    Comparison is exact on parsed parts: no prefix, suffix or substring matching.
    """
    if origin is None:
        return True
    parsed = parse_origin(origin)
    if parsed is None:
        return False
    if allowlist:
        return any(parse_origin(entry) == parsed for entry in allowlist)
    if not host:
        return False
    scheme, o_host, o_port = parsed
    return _host_port(host.strip(), scheme) == (o_host, o_port)


# --- rate limit ------------------------------------------------------------------------------


class TokenBucket:
    """`rate` tokens per second up to `burst`; take() is False when the bucket is empty."""

    def __init__(self, rate: float, burst: float, clock=time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.clock = clock
        self.t = clock()

    def take(self, n: float = 1.0) -> bool:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.t) * self.rate)
        self.t = now
        if self.tokens >= n:
            self.tokens -= n
            return True
        return False


# --- HTTP headers and the transport handle -----------------------------------------------------


def content_security_policy(host: str | None, frame_ancestors: str = "'none'") -> str:
    connect = "'self'"
    if host and _HOST_RE.match(host):
        # 'self' covers ws:/wss: to the same host in current browsers; older Safari needs them
        # spelled out. Only this host: a page cannot be made to open sockets elsewhere.
        connect += f" ws://{host} wss://{host}"
    return (
        "default-src 'self'; script-src 'self'; "
        # plotly.js injects <style> elements at run time.
        "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self'; "
        f"connect-src {connect}; object-src 'none'; base-uri 'self'; form-action 'self'; "
        f"frame-ancestors {frame_ancestors}"
    )


def embed_ancestors(scope) -> str | None:
    """Who may frame this response: the configured origins for /embed (docs/embedding.md), no
    one (None) for every other path or when none are configured."""
    settings = getattr(getattr(scope.get("app"), "state", None), "settings", None)
    origins = settings.frame_ancestor_list() if settings is not None else []
    return " ".join(origins) if origins and scope.get("path") == "/embed" else None


class SecurityMiddleware:
    """Pure ASGI middleware.

    * HTTP: adds Content-Security-Policy, X-Content-Type-Options, Referrer-Policy, X-Frame-Options
      and Cross-Origin-Opener-Policy to every response.
    * WebSocket: puts the server transport into ``scope["propscope.transport"]`` (when the
      server is uvicorn) so a stalled connection can be aborted instead of waiting forever for a
      peer that no longer reads (``transport.close()`` waits for the write buffer to drain).
    """

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket":
            protocol = getattr(send, "__self__", None)
            transport = getattr(protocol, "transport", None)
            if transport is not None and hasattr(transport, "abort"):
                scope["propscope.transport"] = transport
            return await self.app(scope, receive, send)
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        host = None
        for name, value in scope.get("headers", ()):
            if name == b"host":
                host = value.decode("latin-1")
                break
        ancestors = embed_ancestors(scope)
        csp = content_security_policy(host, ancestors or "'none'")
        extra = [
            (b"content-security-policy", csp.encode("latin-1")),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
            (b"x-frame-options", b"DENY"),
            (b"cross-origin-opener-policy", b"same-origin"),
        ]
        if ancestors:  # X-Frame-Options cannot name origins; CSP frame-ancestors decides
            extra = [header for header in extra if header[0] != b"x-frame-options"]

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", ())}
                headers = list(message.get("headers", ()))
                headers += [(k, v) for k, v in extra if k not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


# --- logs ------------------------------------------------------------------------------------

_SECRET_RE = re.compile(r"(resume=|propscope\.resume\.)[^&\s\"']+")


def redact(text: str) -> str:
    return _SECRET_RE.sub(r"\1[redacted]", text)


class RedactFilter(logging.Filter):
    """Removes resume tokens from log records (uvicorn logs the WebSocket path with its query)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and ("resume" in record.msg):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        return True


_FILTER = RedactFilter()


def install_log_redaction() -> None:
    for name in ("uvicorn.error", "uvicorn.access", "uvicorn", "propscope"):
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


def logfmt(event: str, **fields) -> str:
    """One `key=value` log line (values quoted when they contain spaces); never pass tokens."""
    parts = [f"event={event}"]
    for key, value in fields.items():
        text = redact(str(value))
        if not text or any(c in text for c in ' ="'):
            text = '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
        parts.append(f"{key}={text}")
    return " ".join(parts)
