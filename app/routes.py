"""HTTP routes: the page, health, the catalog, plotly.js from the installed package."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse, Response

from app import PROTOCOL_VERSION, __version__
from app.frames import clean
from app.protocol import MAX_SPEED, MAX_STEPS_PER_MESSAGE
from app.settings import Settings
from engine.activations import ACTIVATIONS
from engine.architecture import starter_network
from engine.datasets import DATASETS
from engine.features import FEATURES
from engine.initializers import INITIALIZERS
from engine.lessons import LESSONS
from engine.losses import LOSSES
from engine.optimizers import OPTIMIZERS
from engine.regularization import REGULARIZATIONS
from engine.spec import LAYER_TYPES, LIMITS, Spec

router = APIRouter()


def plotly_path() -> Path | None:
    try:
        import plotly
    except ImportError:
        return None
    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    return path if path.is_file() else None


def page_context(request: Request) -> dict:
    """What templates/index.html needs on every page that opens the app (/, /e/…, /r/…)."""
    settings = request.app.state.settings
    return {
        "protocol_version": PROTOCOL_VERSION,
        "app_version": __version__,
        "settings": {
            "display_fps": settings.display_fps,
            "max_fps": settings.max_fps,
            "grid_resolution": settings.grid_resolution,
        },
        "ws_path": "/ws",
        "plotly_url": "/vendor/plotly.min.js",
        "experiment_id": None,
        "room_code": None,
    }


@router.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
async def index(request: Request):
    context = page_context(request)
    return request.app.state.templates.TemplateResponse(request, "index.html", context)


@router.get("/api/health")
@router.head("/api/health", include_in_schema=False)
async def health(request: Request, since: float | None = None):
    registry = request.app.state.registry
    return {
        "status": "ok",
        "protocol": PROTOCOL_VERSION,
        "version": __version__,
        **registry.stats(),
        "loop_lag_ms": registry.lag.summary(since),
    }


def _entries(registry: dict) -> list[dict]:
    out = []
    for name, item in registry.items():
        if dataclasses.is_dataclass(item):
            entry = {
                f.name: getattr(item, f.name)
                for f in dataclasses.fields(item)
                if not callable(getattr(item, f.name))
            }
        else:
            entry = {"title": item}
        entry["name"] = name
        entry.setdefault("title", entry.get("label", name))
        out.append(clean(entry))
    return out


def limits(settings: Settings | None = None) -> dict:
    """The engine's spec limits plus the server's: what a client may send and how often."""
    settings = settings or Settings()
    return {
        **LIMITS,
        "min_grid_resolution": 8,
        "max_grid_resolution": 128,
        "max_steps_per_message": MAX_STEPS_PER_MESSAGE,
        "max_steps_per_s": MAX_SPEED,
        "max_fps": settings.max_fps,
        "max_message_bytes": settings.max_message_bytes,
        "max_upload_bytes": settings.max_upload_bytes,
        "max_upload_rows": min(settings.max_upload_rows, LIMITS["max_samples"]),
        "max_upload_columns": settings.max_upload_columns,
        "max_sessions_per_client": settings.max_sessions_per_client,
        "rate_limit_per_s": settings.rate_limit_per_s,
        "rate_limit_burst": settings.rate_limit_burst,
    }


def catalog(settings: Settings | None = None) -> dict:
    return {
        "protocol": PROTOCOL_VERSION,
        "datasets": [
            {
                **entry,
                "family": DATASETS[entry["name"]].family,
                "starter": starter_network(
                    DATASETS[entry["name"]].family, entry["task"], entry["n_classes"]
                ),
            }
            for entry in _entries(DATASETS)
        ],
        "layer_types": {
            name: dataclasses.asdict(cls(type=name)) for name, cls in LAYER_TYPES.items()
        },
        "activations": _entries(ACTIVATIONS),
        "losses": _entries(LOSSES),
        "optimizers": _entries(OPTIMIZERS),
        "initializers": _entries(INITIALIZERS),
        "regularizations": _entries(REGULARIZATIONS),
        "features": _entries(FEATURES),
        "limits": limits(settings),
        "default_spec": Spec().to_dict(),
        "speeds": {"max": "max", "min_steps_per_s": 0, "max_steps_per_s": MAX_SPEED},
        "grid_resolutions": [8, 128],
        "lessons": _lessons(),
    }


def _lessons() -> list[dict]:
    """Each lesson the page can play with its complete spec (defaults filled in), ready to send
    as `configure`."""
    return [
        {**entry, "spec": Spec.from_dict(LESSONS[entry["name"]].spec).to_dict()}
        for entry in _entries(LESSONS)
    ]


@router.get("/api/catalog")
async def get_catalog(request: Request) -> JSONResponse:
    return JSONResponse(catalog(request.app.state.settings))


@router.get("/vendor/plotly.min.js", include_in_schema=False)
async def plotly_js() -> Response:
    path = plotly_path()
    if path is None:
        return Response("plotly is not installed", status_code=404, media_type="text/plain")
    return FileResponse(path, media_type="text/javascript")
