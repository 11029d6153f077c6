"""Turn a page recording (.psrec) into an animated GIF, MP4 or WebM for slides.

``POST /api/animation?format=gif&width=960&height=540&seconds_per_scene=0.2`` with the recording
as the request body answers with the file (one scene per recorded step, drawn by
:mod:`propscope.animation`). Limits keep one request from occupying the server: the body is at
most ``max_recording_bytes``, at most ``MAX_SCENES`` scenes are drawn, sizes up to 1920×1080.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from app.experiments import TooLarge, read_body
from propscope.animation import save_animation, scenes_from_recording

router = APIRouter()

MAX_SCENES = 1200
MEDIA = {"gif": "image/gif", "mp4": "video/mp4", "webm": "video/webm"}


def _error(status: int, code: str, text: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": text}}, status_code=status)


@router.post("/api/animation")
async def recording_animation(
    request: Request,
    format: str = "gif",
    width: int = Query(960, ge=16, le=1920),
    height: int = Query(540, ge=16, le=1080),
    seconds_per_scene: float = Query(0.2, gt=0, le=10),
    fps: int = Query(30, ge=1, le=60),
):
    if format not in MEDIA:
        return _error(400, "invalid_value", f"format must be one of: {', '.join(MEDIA)}")
    if format != "gif" and (width % 2 or height % 2):
        return _error(400, "invalid_value", "a video needs an even width and height")
    limit = int(request.app.state.settings.max_recording_bytes)
    try:
        data = await read_body(request, limit)
    except TooLarge:
        return _error(413, "too_large", f"the recording is larger than {limit} bytes")

    def render() -> bytes | str:
        try:
            scenes = scenes_from_recording(data)
        except ValueError as err:
            return str(err)
        if len(scenes) > MAX_SCENES:
            return (f"the recording has {len(scenes)} step frames; at most {MAX_SCENES} are "
                    "drawn (record a shorter run)")
        with tempfile.TemporaryDirectory() as folder:
            path = save_animation(scenes, Path(folder) / f"propscope.{format}", width, height,
                                  seconds_per_scene, fps)
            return path.read_bytes()

    result = await asyncio.to_thread(render)
    if isinstance(result, str):
        return _error(400, "invalid_recording", result)
    return Response(result, media_type=MEDIA[format], headers={
        "Content-Disposition": f'attachment; filename="propscope-recording.{format}"',
        "Cache-Control": "no-store",
    })
