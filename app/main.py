"""The app factory."""

from __future__ import annotations

import asyncio
import logging
import sys
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from app import __version__, classroom_store
from app.code_export_routes import router as code_router
from app.embed import router as embed_router
from app.experiments import install as install_classroom
from app.join_page import router as join_router
from app.routes import router as http_router
from app.security import (
    SecurityMiddleware,
    install_log_redaction,
    logfmt,
    security_headers,
)
from app.sessions import SessionRegistry
from app.settings import Settings
from app.websocket import router as ws_router


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if settings.switch_interval_ms > 0:
            # Worker threads step NumPy code that mostly holds the GIL; a shorter switch interval
            # lets the event loop thread take it back sooner (lower loop lag).
            sys.setswitchinterval(settings.switch_interval_ms / 1000.0)
        install_log_redaction()  # after uvicorn configured logging: no resume token in logs
        # hand-out copies for the viewers of open rooms keep their places (app/rooms.py)
        registry = SessionRegistry(settings, reserved=app.state.services.rooms.reserved_slots)
        app.state.registry = registry
        await registry.start()
        services = app.state.services
        # rooms of a server that stopped come back, detached, for their people to rejoin
        await classroom_store.restore_rooms(services, registry, settings)
        saver = asyncio.get_running_loop().create_task(
            classroom_store.keep_saving(services, settings.classroom_save_s))
        try:
            yield
        finally:
            saver.cancel()
            await classroom_store.save_rooms(services)  # what the last interval changed
            await registry.close()
            app.state.services.close()  # the file worker process and the database

    app = FastAPI(title="Propscope", version=__version__, lifespan=lifespan)
    app.state.settings = settings
    app.state.templates = Jinja2Templates(directory=settings.templates_dir)
    app.add_middleware(SecurityMiddleware, allowed_origins=settings.origin_list())
    app.add_exception_handler(Exception, _internal_error)
    app.include_router(http_router)
    app.include_router(ws_router)
    app.include_router(code_router)  # scripts of a network (app/code_export_routes.py)
    app.include_router(embed_router)  # /embed for course pages (app/embed.py)
    app.include_router(join_router)  # /join and /r/{code}: a student's way into a room
    install_classroom(app, settings)  # rooms, experiments, export/import, CSV (app/experiments.py)
    app.mount(
        "/static", StaticFiles(directory=Path(settings.static_dir), check_dir=False), name="static"
    )
    return app


async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    """No stack trace to the client: a generic 500; the details go to the log (key=value)."""
    logging.getLogger("propscope.http").error(
        logfmt("http_error", method=request.method, path=request.url.path,
               error=type(exc).__name__),
        exc_info=exc,
    )
    # Starlette sends this from outside every middleware: the security headers go on here.
    headers = {k.decode(): v.decode() for k, v in security_headers(request.headers.get("host"))}
    return JSONResponse({"error": "internal server error"}, status_code=500, headers=headers)
