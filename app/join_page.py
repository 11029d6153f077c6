"""The way into a room from a phone: ``/join`` to type the code shown on the teacher's screen,
``/r/{code}`` to open the room, and a page that says what went wrong (an unknown or closed room,
too many wrong codes) with the form to try again — never a bare 404.

The form is a plain GET form, so it works before any script has loaded and under the strict
Content-Security-Policy; codes are matched without regard to case or spaces (``RoomRegistry.get``).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from app.rooms import CODE_ALPHABET, CODE_LENGTH, THROTTLED, JoinThrottled
from app.routes import page_context

router = APIRouter(include_in_schema=False)

# Longer than any code (codes are CODE_LENGTH characters): what is echoed back is cut to this.
ECHO_CHARS = 12


def _normal(code: str) -> str:
    return "".join(code.split()).upper()[:ECHO_CHARS]


def _join_form(request: Request, code: str = "", problem: str = "", status: int = 200) -> Response:
    context = {
        "code": code,
        "problem": problem,
        "code_length": CODE_LENGTH,
    }
    return request.app.state.templates.TemplateResponse(request, "join.html", context,
                                                        status_code=status)


def _find(request: Request, code: str):
    """The open room `code`, or the join form saying why there is none."""
    if len(code) != CODE_LENGTH or not set(code) <= set(CODE_ALPHABET):
        # cannot match any room, so it costs no join attempt
        return _join_form(request, code, f"A room code is {CODE_LENGTH} letters and digits "
                          f"(never O, 0, I, 1 or L); {code!r} is not one. Check it on the "
                          "teacher's screen.", 404)
    client = request.client.host if request.client else None
    try:
        room = request.app.state.services.rooms.lookup(code, client)
    except JoinThrottled:
        return _join_form(request, code, THROTTLED[0].upper() + THROTTLED[1:] + ".", 429)
    if room is None:
        return _join_form(request, code, f"There is no open room {code!r}. Check the code on "
                          "the teacher's screen: the room may have closed, or a letter may "
                          "differ.", 404)
    return room


@router.get("/join")
async def join(request: Request, code: str = "") -> Response:
    """The form; with ?code= (the form's own submission) the room it names, or why not."""
    code = _normal(code)
    if not code:
        return _join_form(request)
    room = _find(request, code)
    if isinstance(room, Response):
        return room
    return RedirectResponse(f"/r/{room.code}", status_code=303)


@router.get("/r/{code}")
async def room_page(request: Request, code: str) -> Response:
    room = _find(request, _normal(code))
    if isinstance(room, Response):
        return room
    context = {**page_context(request), "room_code": room.code}
    return request.app.state.templates.TemplateResponse(request, "index.html", context)
