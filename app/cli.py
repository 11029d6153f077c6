"""Command line: ``propscope serve [--host H] [--port N] …`` (also ``python -m app``)."""

from __future__ import annotations

import argparse
import sys

from app import __version__
from app.settings import Settings, frame_ancestor_problems, split_frame_ancestors


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="propscope",
        description="Propscope: see the forward and the backward pass of a neural network.",
    )
    parser.add_argument("--version", action="version", version=f"propscope {__version__}")
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser("serve", help="run the web server (the default command)")
    add_serve_arguments(serve)
    return parser


def add_serve_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", help="address to listen on (PROPSCOPE_HOST, default 127.0.0.1; "
                   "0.0.0.0 serves a classroom LAN)")
    p.add_argument("--port", type=int, help="TCP port (PROPSCOPE_PORT, default 8000)")
    p.add_argument("--display-fps", type=float, dest="display_fps",
                   help="step frames per second per session (PROPSCOPE_DISPLAY_FPS, default 30)")
    p.add_argument("--max-fps", type=float, dest="max_fps",
                   help="highest fps a client may ask for (PROPSCOPE_MAX_FPS, default 60)")
    p.add_argument("--grid-fps", type=float, dest="grid_fps",
                   help="grid frames per second while playing (PROPSCOPE_GRID_FPS, default 5)")
    p.add_argument("--grid-resolution", type=int, dest="grid_resolution",
                   help="default grid resolution (PROPSCOPE_GRID_RESOLUTION, default 40)")
    p.add_argument("--session-ttl", type=float, dest="session_ttl",
                   help="seconds a closed tab's session waits for a resume "
                   "(PROPSCOPE_SESSION_TTL, default 300)")
    p.add_argument("--max-sessions", type=int, dest="max_sessions",
                   help="most sessions at once (PROPSCOPE_MAX_SESSIONS, default 64)")
    p.add_argument("--train-workers", type=int, dest="train_workers",
                   help="worker threads that step sessions (PROPSCOPE_TRAIN_WORKERS, default 1)")
    p.add_argument("--training-processes", type=int, dest="training_processes",
                   help="processes that step playing sessions, on every core "
                   "(PROPSCOPE_TRAINING_PROCESSES, default -1: one per core; 0: none, play "
                   "steps in the server's worker thread)")
    p.add_argument("--allowed-origins", dest="allowed_origins",
                   help="comma-separated origins allowed to open WebSockets, exactly "
                   "(e.g. http://lab.example:8000); default: only the server's own host:port "
                   "(PROPSCOPE_ALLOWED_ORIGINS)")
    p.add_argument("--max-sessions-per-client", type=int, dest="max_sessions_per_client",
                   help="most sessions per client address (PROPSCOPE_MAX_SESSIONS_PER_CLIENT, "
                   "default 16)")
    p.add_argument("--rate-limit", type=float, dest="rate_limit_per_s",
                   help="inbound messages per second per socket (PROPSCOPE_RATE_LIMIT_PER_S, "
                   "default 50; burst PROPSCOPE_RATE_LIMIT_BURST, default 100)")
    p.add_argument("--send-timeout", type=float, dest="send_timeout",
                   help="seconds a send may block before the client is dropped "
                   "(PROPSCOPE_SEND_TIMEOUT, default 10)")
    p.add_argument("--max-session-bytes", type=int, dest="max_session_bytes",
                   help="bytes all sessions' trainers may hold together; detached student "
                   "sessions give way first (PROPSCOPE_MAX_SESSION_BYTES, default 2 GiB)")
    p.add_argument("--header-timeout", type=float, dest="header_timeout",
                   help="seconds a connection has to send a request's headers "
                   "(PROPSCOPE_HEADER_TIMEOUT, default 5)")
    p.add_argument("--log-level", dest="log_level",
                   help="uvicorn log level (PROPSCOPE_LOG_LEVEL, default info)")
    p.add_argument("--db", dest="db_path",
                   help="SQLite file of saved experiments (PROPSCOPE_DB, default propscope.db)")
    p.add_argument("--frame-ancestors", dest="frame_ancestors", type=frame_ancestors,
                   metavar="ORIGINS",
                   help="sites that may frame the /embed page, separated by spaces or commas: "
                   "origins like https://course.example.edu, or 'self' (quote it in the shell); "
                   "every other page stays unframeable (PROPSCOPE_FRAME_ANCESTORS, default: "
                   "no site; docs/embedding.md)")
    p.add_argument("--public-url", dest="public_url",
                   help="base URL students use in room join links, e.g. http://10.0.0.5:8000 "
                   "(PROPSCOPE_PUBLIC_URL, default: as the presenter's browser reached us)")


def frame_ancestors(value: str) -> str:
    """argparse type of --frame-ancestors: the origins as the setting stores them, or a usage
    error naming each entry that is not an origin (a typo must not silently leave the embed
    unframeable, nor a stray '*' let every site frame it)."""
    origins = split_frame_ancestors(value)
    problems = frame_ancestor_problems(origins)
    if problems:
        raise argparse.ArgumentTypeError("; ".join(problems))
    if not origins:
        raise argparse.ArgumentTypeError("name at least one origin, e.g. "
                                         "https://course.example.org, or leave the flag out")
    return " ".join(origins)


def serve(settings: Settings) -> None:
    import signal

    import uvicorn

    from app.http_guard import guarded_http_protocol
    from app.main import create_app

    app = create_app(settings)

    class Server(uvicorn.Server):
        async def shutdown(self, sockets=None) -> None:
            # Close every WebSocket with 1001 (going away) before uvicorn closes them (1012).
            registry = getattr(app.state, "registry", None)
            if registry is not None:
                await registry.close_connections(1001, "server shutting down")
            await super().shutdown(sockets)

    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        http=guarded_http_protocol(settings.header_timeout),
        ws="websockets-sansio",
        ws_max_size=settings.max_message_bytes,
        ws_per_message_deflate=False,
        ws_ping_interval=settings.ws_ping_interval,
        ws_ping_timeout=settings.ws_ping_timeout,
        lifespan="on",
        timeout_graceful_shutdown=5,
    )
    # uvicorn re-raises the signal that stopped it once it has shut down gracefully; with the
    # default handlers that would end the process with -SIGTERM or a KeyboardInterrupt traceback.
    # A graceful shutdown is a normal exit (status 0).
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    Server(config).run()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version"):
        argv = ["serve", *argv]
    args = build_parser().parse_args(argv)
    options = {k: v for k, v in vars(args).items() if k != "command"}
    try:
        settings = Settings.from_env(**options)
    except ValueError as err:
        print(f"propscope: {err}", file=sys.stderr)
        return 2
    serve(settings)
    return 0
