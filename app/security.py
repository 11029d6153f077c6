"""Hardening helpers: origin check, token bucket, security headers, log redaction, logfmt.

See docs/security.md for the threat model and how each property is tested.
"""

from __future__ import annotations

import json
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

    def available(self) -> float:
        """Tokens in the bucket now (refilled for the time passed), without taking any."""
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.t) * self.rate)
        self.t = now
        return self.tokens

    def take(self, n: float = 1.0) -> bool:
        if self.available() >= n:
            self.tokens -= n
            return True
        return False


class AddressThrottle:
    """A token bucket per client address for attempts that fail (e.g. unknown room codes).

    While an address's bucket is empty *every* attempt from it is refused, successful or not,
    so a guesser learns nothing from the refusals. Buckets that are full again are forgotten
    (at most ``max_clients`` are kept), so memory stays bounded whatever the addresses.
    """

    def __init__(self, rate: float, burst: float, max_clients: int = 4096) -> None:
        self.rate = rate
        self.burst = burst
        self.max_clients = max_clients
        self.buckets: dict[str | None, TokenBucket] = {}

    def allowed(self, client: str | None) -> bool:
        bucket = self.buckets.get(client)
        return bucket is None or bucket.available() >= 1.0

    def failed(self, client: str | None) -> None:
        bucket = self.buckets.get(client)
        if bucket is None:
            if len(self.buckets) >= self.max_clients:
                self.buckets = {c: b for c, b in self.buckets.items()
                                if b.available() < b.burst}
                if len(self.buckets) >= self.max_clients:  # all busy: forget the oldest half
                    self.buckets = dict(list(self.buckets.items())[self.max_clients // 2:])
            bucket = self.buckets[client] = TokenBucket(self.rate, self.burst)
        bucket.take()


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


def security_headers(host: str | None, ancestors: str | None = None) -> list[tuple[bytes, bytes]]:
    """The headers every HTTP response carries (the app's error handler adds them to 500s,
    which Starlette sends from outside every middleware). ``ancestors``: the origins that may
    frame this response (/embed only, when configured); otherwise no one may."""
    csp = content_security_policy(host, ancestors or "'none'")
    headers = [
        (b"content-security-policy", csp.encode("latin-1")),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        (b"x-frame-options", b"DENY"),
        (b"cross-origin-opener-policy", b"same-origin"),
    ]
    if ancestors:  # X-Frame-Options cannot name origins; CSP frame-ancestors decides
        headers = [header for header in headers if header[0] != b"x-frame-options"]
    return headers


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Bodies a page on another site may send without a CORS preflight ("simple requests").
SIMPLE_TYPES = ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data")


def cross_site_refusal(method: str, headers: dict[str, str], allowlist: list[str]
                       ) -> tuple[int, str, str] | None:
    """(status, code, sentence) if a state-changing request may come from another site.

    * a foreign ``Origin`` (browsers send Origin on every POST, PUT, PATCH and DELETE), or no
      Origin but ``Sec-Fetch-Site: cross-site`` / ``same-site`` → 403;
    * a body type a foreign page could send without a preflight (``text/plain``, forms) → 415:
      every endpoint here takes JSON, CSV or a file's own bytes.
    Requests without Origin and Sec-Fetch-Site are not from a browser page (tests, scripts).
    """
    if method in SAFE_METHODS:
        return None
    origin = headers.get("origin")
    if origin is not None:
        if not origin_allowed(origin, headers.get("host"), allowlist):
            return 403, "cross_origin", "requests from another site are refused"
    elif headers.get("sec-fetch-site") in ("cross-site", "same-site"):
        return 403, "cross_origin", "requests from another site are refused"
    kind = headers.get("content-type", "").split(";")[0].strip().lower()
    if kind in SIMPLE_TYPES:
        return 415, "unsupported_media_type", (
            f"{kind} bodies are not accepted here; send JSON, CSV or the file's own bytes")
    return None


class SecurityMiddleware:
    """Pure ASGI middleware.

    * HTTP: adds Content-Security-Policy, X-Content-Type-Options, Referrer-Policy, X-Frame-Options
      and Cross-Origin-Opener-Policy to every response; refuses state-changing requests a page on
      another site could make (:func:`cross_site_refusal`).
    * WebSocket: puts the server transport into ``scope["propscope.transport"]`` (when the
      server is uvicorn) so a stalled connection can be aborted instead of waiting forever for a
      peer that no longer reads (``transport.close()`` waits for the write buffer to drain).
    """

    def __init__(self, app, allowed_origins: list[str] | None = None) -> None:
        self.app = app
        self.allowed_origins = list(allowed_origins or [])

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket":
            protocol = getattr(send, "__self__", None)
            transport = getattr(protocol, "transport", None)
            if transport is not None and hasattr(transport, "abort"):
                scope["propscope.transport"] = transport
            return await self.app(scope, receive, send)
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {}
        for name, value in scope.get("headers", ()):
            key = name.decode("latin-1").lower()
            if key in ("host", "origin", "sec-fetch-site", "content-type"):
                headers.setdefault(key, value.decode("latin-1"))
        host = headers.get("host")
        extra = security_headers(host, embed_ancestors(scope))

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", ())}
                headers = list(message.get("headers", ()))
                headers += [(k, v) for k, v in extra if k not in present]
                message = {**message, "headers": headers}
            await send(message)

        refusal = cross_site_refusal(scope.get("method", "GET"), headers, self.allowed_origins)
        if refusal is not None:
            status, code, sentence = refusal
            log.warning(logfmt("http_refused", method=scope.get("method"),
                               path=scope.get("path", ""), code=code,
                               origin=headers.get("origin", "")[:200]))
            body = json.dumps({"error": {"code": code, "message": sentence}}).encode()
            await send_with_headers({"type": "http.response.start", "status": status,
                                     "headers": [(b"content-type", b"application/json"),
                                                 (b"content-length", str(len(body)).encode())]})
            await send_with_headers({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send_with_headers)


# --- logs ------------------------------------------------------------------------------------

# Resume tokens (query or subprotocol) and download tokens (in the download URL's path).
_SECRET_RE = re.compile(r"(resume=|propscope\.resume\.|/api/downloads/)[^&\s\"'/?#]+")


def redact(text: str) -> str:
    return _SECRET_RE.sub(r"\1[redacted]", text)


class RedactFilter(logging.Filter):
    """Removes resume tokens from log records (uvicorn logs the WebSocket path with its query)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and ("resume" in record.msg
                                            or "/api/downloads/" in record.msg):
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
