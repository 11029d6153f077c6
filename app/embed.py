"""The /embed page: the network and one chosen panel, for course pages and slide decks.

``/embed?panel=data#spec=…&lesson=…`` — the setup and the lesson travel in the hash exactly as
on the main page (static/js/url_state.js); the query picks the one panel beside the network
(``data``: the data and the output over the plane, ``loss``, ``grad``: gradient norms, ``hist``:
histograms, ``inspector``: the chain rule of a clicked weight, ``none``) and whether the
transport buttons show (``controls=0`` hides them, for a picture that only plays).

Which sites may frame it is the ``frame_ancestors`` setting (default: none, so the page is as
unframeable as the rest until an operator names the course site); see docs/embedding.md.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse

from app import PROTOCOL_VERSION, __version__

router = APIRouter()

PANELS = ("data", "loss", "grad", "hist", "inspector", "none")


@router.get("/embed", include_in_schema=False)
async def embed(request: Request, panel: str = "data", controls: str = "1", autoplay: str = "0"):
    if panel not in PANELS:
        return PlainTextResponse(
            f"unknown panel {panel[:40]!r}; choose one of: {', '.join(PANELS)}", status_code=400
        )
    settings = request.app.state.settings
    return request.app.state.templates.TemplateResponse(
        request,
        "embed.html",
        {
            "protocol_version": PROTOCOL_VERSION,
            "app_version": __version__,
            "panel": panel,
            "controls": controls != "0",
            "autoplay": autoplay == "1",
            "settings": {
                "display_fps": settings.display_fps,
                "max_fps": settings.max_fps,
                "grid_resolution": settings.grid_resolution,
            },
            "ws_path": "/ws",
            "plotly_url": "/vendor/plotly.min.js",
        },
    )
