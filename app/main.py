"""The app factory."""

from __future__ import annotations

import sys
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from app import __version__
from app.routes import router as http_router
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
        registry = SessionRegistry(settings)
        app.state.registry = registry
        await registry.start()
        try:
            yield
        finally:
            await registry.close()

    app = FastAPI(title="Propscope", version=__version__, lifespan=lifespan)
    app.state.settings = settings
    app.state.templates = Jinja2Templates(directory=settings.templates_dir)
    app.include_router(http_router)
    app.include_router(ws_router)
    app.mount(
        "/static", StaticFiles(directory=Path(settings.static_dir), check_dir=False), name="static"
    )
    return app
