"""Download a network as a standalone script (NumPy or PyTorch) that continues training.

* ``GET /api/experiments/{id}/code?language=numpy|pytorch`` — a saved experiment at the step
  it was saved, with its optimiser state and batch position (the script takes the same next
  steps the engine would).
* ``GET /api/code?spec=<JSON>&language=…`` — a fresh network from a spec (what an embedded page
  or a course page holds in its URL), before any step.

The scripts come from :func:`propscope.code_export.export_code`; docs/notebook.md describes them.
"""

from __future__ import annotations

import asyncio
import json
import re

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from app.animation_routes import router as animation_router
from app.storage import NotFound
from engine.spec import Spec, SpecError
from engine.trainer import Trainer
from propscope.code_export import LANGUAGES, export_code

router = APIRouter()
router.include_router(animation_router)  # POST /api/animation (app/animation_routes.py)

MAX_SPEC_CHARS = 16_000
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _error(status: int, code: str, text: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": text}}, status_code=status)


def _script(body: str, stem: str, language: str) -> Response:
    name = _UNSAFE.sub("-", stem).strip("-")[:80] or "propscope"
    filename = f"{name}-{'torch' if language == 'pytorch' else 'numpy'}.py"
    return Response(body, media_type="text/x-python; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Cache-Control": "no-store",
    })


def _bad_language(language: str) -> JSONResponse | None:
    if language in LANGUAGES:
        return None
    return _error(400, "invalid_value", f"language must be one of: {', '.join(LANGUAGES)}")


@router.get("/api/experiments/{exp_id}/code")
async def experiment_code(request: Request, exp_id: str, language: str = "numpy"):
    if (refused := _bad_language(language)) is not None:
        return refused
    storage = request.app.state.services.storage()
    try:
        exp = await asyncio.to_thread(storage.get, exp_id, with_state=True)
    except NotFound:
        return _error(404, "not_found", f"there is no experiment {exp_id[:64]!r}")

    def build() -> str:
        from app.export_files import load_trainer

        return export_code(load_trainer(exp.state), language)

    return _script(await asyncio.to_thread(build), f"propscope-{exp.name}", language)


@router.get("/api/code")
async def spec_code(spec: str, language: str = "numpy"):
    if (refused := _bad_language(language)) is not None:
        return refused
    if len(spec) > MAX_SPEC_CHARS:
        return _error(413, "too_large", f"the spec is longer than {MAX_SPEC_CHARS} characters")
    try:
        parsed = Spec.from_dict(json.loads(spec))
    except json.JSONDecodeError as err:
        return _error(400, "invalid_json", f"spec is not JSON: {err.msg}")
    except RecursionError:
        return _error(400, "invalid_json", "spec is nested too deeply")
    except SpecError as err:
        return JSONResponse({"error": {"code": "invalid_spec", "message": str(err),
                                       "problems": [list(p) for p in err.problems]}},
                            status_code=400)

    def build() -> str:
        return export_code(Trainer(parsed), language)

    try:
        body = await asyncio.to_thread(build)
    except ValueError as err:  # SpecError too: sizes are known only once the data is built
        return _error(400, "invalid_spec", str(err))
    return _script(body, f"propscope-{parsed.data.dataset}", language)
