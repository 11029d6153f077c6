"""Classroom rooms: a presenter's session streamed live, read-only, to many viewers.

How it fits on the session machinery (docs/protocol.md §9):

* Every session socket is *bound* (:func:`bind`) to a :class:`SessionExt` holding its metrics
  history, its recording and its room. ``SessionExt.tap`` is installed in ``Session.taps``, so it
  sees every message the session sends, already encoded (dicts are encoded once, in
  ``Session.send``).
* A :class:`Room` fans each presenter message out to its following viewers: the *same* ``str`` /
  ``bytes`` object goes into every viewer's :class:`~app.connection.Connection`, whose bounded
  outbox keeps only the newest step/grid/line frame, so a slow viewer costs nothing but its own
  queue and never stalls the presenter or the other viewers. ``ack``/``error``/``pong`` (answers
  to the presenter's own requests) are not fanned out.
* Viewers connect with ``/ws?room=CODE`` (:func:`viewer_socket`). Everything they send except
  ``ping`` and ``room_follow`` is refused with ``read_only``. After ``room_handout`` each viewer
  drives a private copy of the presenter's trainer (a normal session, cloned with
  ``engine.persistence``) over the same socket until it sends ``room_follow``.
* Work on the presenter's trainer (the state a joining viewer needs, the clones for a hand-out)
  runs through the presenter session's own runner (an internal message handled between its
  chunks), never concurrently with its training.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import secrets
import struct
import time
import weakref
from typing import Any, Literal

from pydantic import field_validator
from starlette.websockets import WebSocketDisconnect

from app import protocol as P
from app.connection import Connection
from app.frames import COALESCED_KINDS, Frame, Text, dumps
from app.lan import reachable_host
from app.protocol import ProtocolError
from app.recording import History, Recording
from app.run import full_state
from app.security import AddressThrottle, TokenBucket, logfmt
from app.session import Internal, Session
from app.sessions import ServerBusy

log = logging.getLogger("propscope.rooms")

CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L
CODE_LENGTH = 6
MAX_FOCUS_BYTES = 4096
NOT_BROADCAST = frozenset({"ack", "error", "pong"})
VIEWER_ALLOWED = frozenset({"ping", "room_follow"})
VIEWER_RATE_PER_S = 5.0  # messages a following viewer may send per second (burst below)
VIEWER_BURST = 20.0


# --- per-session extension state -------------------------------------------------------------


class SessionExt:
    """What the classroom features keep per session: history, recording, room, where it lives."""

    def __init__(self, services, session: Session) -> None:
        self.services = services
        self.session = weakref.ref(session)  # (weak: no reference cycle)
        self.history = History(len(session.trainer.network.layers))
        self.recording: Recording | None = None
        self.room: Room | None = None
        self.base_url = ""
        self.handout_of: str | None = None  # room code, for a viewer's private copy
        self.projected_in: Room | None = None  # the room this copy is projected to (§9.8)

    def tap(self, message: Text | Frame) -> None:
        kind = message.type if type(message) is Text else None
        room = self.room
        if room is not None and room.projected is None and kind not in NOT_BROADCAST:
            room.publish(message)
        shown = self.projected_in  # a student's copy the teacher projects (app/classroom.py)
        if shown is not None and kind not in NOT_BROADCAST:
            shown.publish(message)
        if self.recording is not None:
            self.recording.add(message, kind)
        if kind == "metrics":
            session = self.session()
            if session is not None and message.run == session.run.id:  # the first run's
                self.history.add_metrics(json.loads(message))


def bind(session: Session, services, base_url: str = "") -> SessionExt:
    """Attach the classroom extension to a session (once) and remember its public base URL."""
    ext = getattr(session, "ext", None)
    if ext is None:
        ext = SessionExt(services, session)
        session.ext = ext
        session.taps.append(ext.tap)
    if base_url:
        ext.base_url = base_url
    return ext


def ext_of(session: Session) -> SessionExt:
    ext = getattr(session, "ext", None)
    if ext is None:
        raise ProtocolError("internal_error", "this session has no classroom extension")
    return ext


def base_url_of(ws, settings) -> str:
    """http(s)://host:port as the browser reached us (or settings.public_url); a loopback
    address becomes this computer's network address when the server listens on every
    interface, so the projected link and QR code work on students' phones (app/lan.py)."""
    if settings.public_url:
        return settings.public_url.rstrip("/")
    scheme = "https" if ws.url.scheme in ("wss", "https") else "http"
    host = reachable_host(ws.headers.get("host") or ws.url.netloc, settings.host)
    return f"{scheme}://{host}"


# --- rooms -----------------------------------------------------------------------------------

RAW_SOFT_LIMIT = 64 * 1024  # bytes buffered for a viewer above which step/grid frames are skipped


def ws_frame(message: str | bytes) -> bytes:
    """One whole, unmasked, uncompressed server→client WebSocket frame (RFC 6455 §5.2)."""
    if isinstance(message, str):
        payload, op = message.encode(), 0x81
    else:
        payload, op = message, 0x82
    n = len(payload)
    if n < 126:
        head = bytes((op, n))
    elif n < 65536:
        head = struct.pack("!BBH", op, 126, n)
    else:
        head = struct.pack("!BBQ", op, 127, n)
    return head + payload


def droppable(message: str | bytes) -> bool:
    return type(message) is Frame and message.kind in COALESCED_KINDS


def _framed(batch: list[tuple[str | bytes, bool]], known: set[int], made: dict[tuple, bytes],
            skipping: bool) -> bytes:
    """A broadcast batch as one viewer gets it: its frames compact where the viewer has their
    schema (``known``, updated), made once per combination for all viewers (``made``)."""
    sent = [(m, skip) for m, skip in batch if not (skipping and skip)]
    key = (skipping, *(type(m) is Frame and m.schema_id in known for m, _ in sent))
    data = made.get(key)
    if data is None:
        data = made[key] = b"".join(ws_frame(m.for_peer(set(known)) if type(m) is Frame else m)
                                    for m, _ in sent)
    for m, _ in sent:
        if type(m) is Frame:
            m.for_peer(known)
    return data


class RawOut:
    """A following viewer's output when the server is uvicorn: whole frames, made once per
    broadcast message, written straight to the viewer's transport (no task, no per-viewer
    encoding). Bounded like Connection: above ``soft`` buffered bytes step/grid/line frames are
    skipped (the next one carries the newest state); above ``hard`` the viewer is cut off."""

    def __init__(self, transport, hard: int, soft: int = RAW_SOFT_LIMIT) -> None:
        self.transport = transport
        self.hard = hard
        self.soft = soft
        self.closed = False
        self.skipped = 0
        self.allowance = 0  # extra bytes for the latest full state (see Connection.allowance)
        self.schemas: set[int] = set()  # frame schema ids this viewer was sent (protocol §4)

    def write(self, framed: bytes, can_skip: bool) -> None:
        t = self.transport
        if self.closed or t.is_closing():
            self.closed = True
            return
        size = t.get_write_buffer_size()
        if size > self.soft and can_skip:
            self.skipped += 1
            return
        if size > self.hard + self.allowance:
            log.warning(logfmt("viewer_dropped", reason=f"more than {self.hard} bytes waiting"))
            self.closed = True
            t.abort()
            return
        t.write(framed)


class Viewer:
    def __init__(self, ws, conn: Connection, room: Room, raw: RawOut | None = None) -> None:
        self.ws = ws
        self.conn = conn
        self.raw = raw
        self.room: Room | None = room
        self.following = False  # True once the room's state was sent; then it gets broadcasts
        self.private: Session | None = None
        self.joined = time.time()
        self.client: str | None = None  # the viewer's address (its hand-out copy's too)

    def send(self, message: str | bytes) -> None:
        """To this viewer only, in order with the room's broadcasts."""
        if self.room is not None:
            self.room.flush()
        if self.raw is not None and self.private is None:
            if type(message) is Frame:
                message = message.for_peer(self.raw.schemas)
            self.raw.write(ws_frame(message), False)
        else:
            self.conn.send(message)

    @property
    def closed(self) -> bool:
        return self.conn.closed or (self.raw is not None and self.raw.closed)


class Room:
    def __init__(self, code: str, session: Session, join_url: str) -> None:
        self.code = code
        self.session = session
        self.join_url = join_url
        self.viewers: list[Viewer] = []
        self.followers: list[Viewer] = []
        self.raw_outs: list[RawOut] = []
        self.conns: list[Connection] = []
        self.pending: list[Viewer] = []
        self.sync_queued = False
        self.hold = False
        self.focus: Any = None
        self.closed = False
        self.created = time.time()
        self.qr_svg = qr_svg(join_url)
        self.published = 0
        self.batch: list[tuple[str | bytes, bool]] = []
        self.fanout_s = 0.0  # time spent fanning out (all on the event loop), for the bench
        #: a student's copy the followers watch instead of the presenter (None: the presenter)
        self.projected: Session | None = None
        self.classroom = None  # the roster, locks and dashboard (app/classroom.py)

    # fan-out: the same object into every follower's bounded outbox
    def publish(self, message: str | bytes) -> None:
        t0 = time.perf_counter()
        self.published += 1
        if self.raw_outs:
            # Batched: the messages of one loop iteration (metrics + step frame + grid) go to
            # each viewer in one write (one system call per viewer, not one per message).
            if not self.batch:
                asyncio.get_running_loop().call_soon(self.flush)
            self.batch.append((message, droppable(message)))
        for conn in self.conns:
            conn.send(message)
        self.fanout_s += time.perf_counter() - t0

    def flush(self) -> None:
        """Write the batched broadcast to every raw viewer (before any per-viewer message)."""
        batch, self.batch = self.batch, []
        if not batch:
            return
        try:
            self._write(batch)
        except Exception:  # runs from call_soon: log it here, with the room, and carry on
            log.exception(logfmt("room_flush_failed", room=self.code))

    def _write(self, batch: list[tuple[str | bytes, bool]]) -> None:
        t0 = time.perf_counter()
        made: dict[tuple, bytes] = {}  # the batch as written, by which frame schemas are known
        n_skippable = sum(skip for _, skip in batch)
        for out in self.raw_outs:
            if out.closed:
                continue
            t = out.transport
            if t.is_closing():
                out.closed = True
                continue
            size = t.get_write_buffer_size()
            if size <= out.soft:
                t.write(_framed(batch, out.schemas, made, skipping=False))
            elif size > out.hard + out.allowance:
                log.warning(logfmt("viewer_dropped", room=self.code,
                                   reason=f"more than {out.hard} bytes waiting"))
                out.closed = True
                t.abort()
            else:  # a slow viewer: only what cannot be skipped (newer frames will follow)
                essential = _framed(batch, out.schemas, made, skipping=True)
                if essential:
                    t.write(essential)
                out.skipped += n_skippable
        self.fanout_s += time.perf_counter() - t0

    def _refresh(self) -> None:
        self.flush()
        self.followers = [v for v in self.viewers if v.following and v.private is None]
        self.raw_outs = [v.raw for v in self.followers if v.raw is not None]
        self.conns = [v.conn for v in self.followers if v.raw is None]

    def info(self) -> dict:
        return {
            "code": self.code,
            "join_url": self.join_url,
            "join_path": f"/r/{self.code}",
            "viewers": len(self.viewers),
            "hold": self.hold,
            "focus": self.focus,
        }

    def notify_presenter(self) -> None:
        conn = self.session.conn
        if conn is not None and not self.closed:
            conn.send(dumps({"type": "room_update", "code": self.code,
                             "viewers": len(self.viewers),
                             "following": len(self.followers)}))

    # joining: the state is made once for every viewer waiting, on the presenter's runner
    def request_sync(self, viewer: Viewer) -> None:
        viewer.following = False
        self.pending.append(viewer)
        self._refresh()
        if not self.sync_queued:
            self.sync_queued = True
            # internal: not limited by MAX_INBOX; on the runner of whoever is shown
            (self.projected or self.session).submit(Internal(self._sync))

    async def _sync(self, session: Session) -> None:
        if session is not (self.projected or self.session):
            return  # queued before a projection changed: the shown session's sync follows
        self.sync_queued = False
        joiners = [v for v in self.pending if not v.closed and v.private is None]
        self.pending = []
        if not joiners or self.closed:
            return
        items = await session.runs_call(full_state, session.pace, "room")
        extra = [dumps({"type": "room_hold", "code": self.code, "hold": self.hold,
                        "step": session.run.step})]
        if self.focus is not None and session is self.session:
            extra.append(dumps({"type": "focus", "focus": self.focus}))
        # the charts of a viewer joining mid-run show the run so far (docs/protocol.md `history`)
        extra.append(dumps({"type": "history", "history": ext_of(session).history.to_dict()}))
        size = sum(len(i) for i in items) + sum(len(i) for i in extra)
        for v in joiners:
            if v.private is not None or v.room is not self:
                continue
            v.conn.allowance = size
            v.conn.schemas.clear()  # one sender at a time relies on the page's schema book
            if v.raw is not None:
                v.raw.allowance = size
                v.raw.schemas.clear()
            for item in items:
                v.send(item)
            for item in extra:
                v.send(item)
            v.following = True
        self._refresh()

    def project(self, copy: Session | None, announce: dict) -> None:
        """Show the followers a student's copy (None: the presenter again): tell them, then
        give each the full state of what they now follow, made on that session's runner."""
        old = self.projected
        if old is not None:
            ext_of(old).projected_in = None
        self.projected = copy
        if copy is not None:
            ext_of(copy).projected_in = self
        self.publish(dumps(announce))
        self.sync_queued = False  # a sync queued on the old session's runner gives way
        for v in list(self.followers):
            self.request_sync(v)
        if self.pending and not self.sync_queued:  # viewers who were joining meanwhile
            self.sync_queued = True
            (self.projected or self.session).submit(Internal(self._sync))

    def give_copy(self, viewer: Viewer, private: Session, step: int, resumed: bool) -> None:
        """The viewer's socket drives `private` from now on (a hand-out, or its copy back)."""
        if viewer in self.pending:
            self.pending.remove(viewer)
        viewer.conn.schemas.clear()  # its own frames from now on: each schema sent again
        viewer.send(dumps({"type": "room_handout", "code": self.code, "token": private.token,
                           "step": step, "resumed": resumed}))
        viewer.private = private  # from now on its socket carries the private session
        viewer.following = False
        private.attach(viewer.conn, resumed)
        self._refresh()

    def remove(self, viewer: Viewer) -> None:
        if viewer in self.viewers:
            self.viewers.remove(viewer)
            self._refresh()
            self.notify_presenter()

    def close(self, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        message = dumps({"type": "room_closed", "code": self.code, "reason": reason})
        for v in list(self.viewers):
            v.room = None
            v.send(message)
            if v.private is None:
                asyncio.get_running_loop().create_task(
                    close_when_drained(v.conn, 1000, "room closed")
                )
        self.viewers.clear()
        self._refresh()
        if self.projected is not None:
            ext_of(self.projected).projected_in = None
            self.projected = None
        ext = getattr(self.session, "ext", None)
        if ext is not None and ext.room is self:
            ext.room = None
        if self.session.role == "teacher":
            self.session.role = "student"


async def close_when_drained(conn: Connection, code: int, reason: str, timeout: float = 3.0):
    end = time.monotonic() + timeout
    while (conn.out or conn.sending) and not conn.closed and time.monotonic() < end:
        await asyncio.sleep(0.02)
    await conn.close(code, reason)


def qr_svg(url: str) -> str:
    """An inline SVG QR code of the URL, made locally (segno), no external service."""
    import segno

    return segno.make(url, error="m").svg_inline(scale=4, border=2)


THROTTLED = "too many unknown room codes from this address; wait a few seconds and check the code"


class JoinThrottled(Exception):
    """Too many unknown room codes from this address lately: every lookup waits a while."""


class RoomRegistry:
    def __init__(self, settings) -> None:
        self.settings = settings
        self.rooms: dict[str, Room] = {}
        self.joins = AddressThrottle(settings.room_join_failures_per_s, settings.room_join_burst)

    def reserved_slots(self) -> int:
        """Sessions to keep free for hand-outs: one per viewer still following an open room."""
        return sum(1 for room in self.rooms.values() if not room.closed
                   for v in room.viewers if v.private is None)

    def lookup(self, code: str | None, client: str | None) -> Room | None:
        """get() for someone trying to join: unknown codes cost the address a token (codes
        have ~30 bits; at 1 a second guessing one takes decades); raises JoinThrottled."""
        if not self.joins.allowed(client):
            log.warning(logfmt("room_join_throttled", client=client))
            raise JoinThrottled
        room = self.get(code)
        if room is None:
            self.joins.failed(client)
        return room

    def new_code(self) -> str:
        while True:
            code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
            if code not in self.rooms:
                return code

    def get(self, code: str | None) -> Room | None:
        if not code:
            return None
        room = self.rooms.get(code.strip().upper())
        return None if room is None or room.closed else room

    def open(self, session: Session, base_url: str) -> Room:
        code = self.new_code()
        return self.reopen(code, session, f"{base_url}/r/{code}")

    def reopen(self, code: str, session: Session, join_url: str) -> Room:
        """A room under a given code: a new one, or one brought back after a restart."""
        room = Room(code, session, join_url)
        self.rooms[code] = room
        if session.task is not None:
            session.task.add_done_callback(lambda _t: self.close(room, "presenter_left"))
        return room

    def close(self, room: Room, reason: str) -> None:
        self.rooms.pop(room.code, None)
        try:
            room.close(reason)
        except RuntimeError:  # no running loop (interpreter shutting down)
            room.closed = True


# --- presenter messages (docs/protocol.md §9.1) ----------------------------------------------


class RoomOpen(P._Message):
    type: Literal["room_open"]


async def room_open(session: Session, msg: RoomOpen) -> None:
    ext = ext_of(session)
    if ext.handout_of is not None:
        raise ProtocolError("bad_state", "a handed-out copy cannot open a room of its own")
    room = ext.room
    if room is None or room.closed:
        room = ext.services.rooms.open(session, ext.base_url)
        ext.room = room
    elif ext.base_url and room.join_url != f"{ext.base_url}/r/{room.code}":
        # a room brought back by a server on another address: the link students can use now
        room.join_url = f"{ext.base_url}/r/{room.code}"
        room.qr_svg = qr_svg(room.join_url)
    # The teacher's credential is this session's resume token (welcome.token): whoever
    # holds it drives the room; its session is never evicted by students' sessions.
    session.role = "teacher"
    session.ack(msg, **room.info(), qr_svg=room.qr_svg, role="teacher")


class RoomClose(P._Message):
    type: Literal["room_close"]


async def room_close(session: Session, msg: RoomClose) -> None:
    ext = ext_of(session)
    if ext.room is None:
        raise ProtocolError("no_room", "this session has no open room")
    from app import classroom_store  # it builds on this module

    code = ext.room.code
    ext.services.rooms.close(ext.room, "closed")
    await asyncio.to_thread(classroom_store.forget, ext.services, code)  # not brought back
    session.ack(msg, code=code)


class RoomHold(P._Message):
    type: Literal["room_hold"]
    hold: bool = True


async def room_hold(session: Session, msg: RoomHold) -> None:
    room = _room(session)
    room.hold = msg.hold
    step = session.run.step
    room.publish(dumps({"type": "room_hold", "code": room.code, "hold": msg.hold,
                        "step": step}))
    session.ack(msg, hold=msg.hold, step=step)


class Focus(P._Message):
    type: Literal["focus"]
    focus: Any = None

    @field_validator("focus")
    @classmethod
    def _small(cls, v: Any) -> Any:
        try:
            size = len(json.dumps(v, allow_nan=False, separators=(",", ":")).encode())
        except (TypeError, ValueError):
            raise ValueError("must be JSON without NaN or Infinity") from None
        if size > MAX_FOCUS_BYTES:
            raise ValueError(f"is {size} bytes of JSON; at most {MAX_FOCUS_BYTES}")
        return v


async def focus(session: Session, msg: Focus) -> None:
    ext = ext_of(session)
    room = ext.room
    if room is None:
        session.ack(msg, viewers=0)
        return
    room.focus = msg.focus
    room.publish(dumps({"type": "focus", "focus": msg.focus}))
    session.ack(msg, viewers=len(room.followers))


class RoomHandout(P._Message):
    type: Literal["room_handout"]


async def room_handout(session: Session, msg: RoomHandout) -> None:
    from app import classroom_messages
    from engine import persistence

    room = _room(session)
    ext = ext_of(session)
    targets = [v for v in room.viewers if v.following and v.private is None
               and not v.closed]
    registry = ext.services.registry
    # Copies count against the caps like any session: as many as the session cap and the
    # memory budget allow (detached student sessions give way first); the rest keep
    # following and are told why.
    per_copy = session.memory_bytes()
    fits = 0
    while fits < len(targets) and registry.make_room(None, per_copy * (fits + 1)) \
            and len(registry.sessions) + fits < session.settings.max_sessions:
        fits += 1
    left_out, targets = targets[fits:], targets[:fits]

    def clone():
        state = persistence.to_dict(session.trainer)
        return [persistence.from_dict(state) for _ in targets]

    trainers = await session.worker(clone)
    step = session.trainer.step_count
    baseline = session.trainer.spec.to_dict()  # what the dashboard's "changed" compares to
    handed = 0
    for viewer, trainer in zip(targets, trainers, strict=True):
        if viewer.closed or viewer.room is not room:
            continue
        private = Session(secrets.token_urlsafe(24), session.settings, registry.executor,
                          client=viewer.client, trainer=trainer)
        private.role = "handout"
        private.run.selected = session.run.selected
        private.run.grid_resolution = session.run.grid_resolution
        try:
            registry.add(private)
        except ServerBusy:
            left_out.append(viewer)
            continue
        handed += 1
        pext = bind(private, ext.services, ext.base_url)
        pext.history = ext.history.copy()
        pext.handout_of = room.code
        classroom_messages.handed_out(room, viewer, private, baseline)
        room.give_copy(viewer, private, step, False)
    for viewer in left_out:
        viewer.send(dumps({"type": "error", "id": None, "code": "server_busy",
                           "message": "the server has no room for another copy; keep "
                           "watching the teacher's screen"}))
    room._refresh()
    session.ack(msg, viewers=handed, refused=len(left_out), step=step)


def _room(session: Session) -> Room:
    room = ext_of(session).room
    if room is None or room.closed:
        raise ProtocolError("no_room", "open a room first (room_open)")
    return room


class RoomFollow(P._Message):
    """Only meaningful on a viewer socket (handled by :func:`viewer_socket`)."""

    type: Literal["room_follow"]


async def room_follow(session: Session, msg: RoomFollow) -> None:
    raise ProtocolError("bad_state", "room_follow is for viewers of a room")


class HistoryRequest(P._Message):
    """The session's metrics history so far, for the charts of a reloaded page."""

    type: Literal["history"]


async def history(session: Session, msg: HistoryRequest) -> None:
    session.ack(msg, history=ext_of(session).history.to_dict())


# --- the viewer socket -------------------------------------------------------------------------


def _connection(ws, settings, label: str) -> Connection:
    try:
        return Connection(ws, send_timeout=settings.send_timeout,
                          max_bytes=settings.max_outbox_bytes, label=label)
    except (TypeError, AttributeError):  # an older Connection without the bounds
        return Connection(ws)


async def viewer_socket(ws, code: str) -> None:
    """Serve one viewer of room `code` on an accepted WebSocket until it closes."""
    from app import classroom_messages
    from app.wiring import ROUTES  # the one table (it imports this module)

    app = ws.app
    settings = app.state.settings
    services = app.state.services
    client = ws.client.host if ws.client else None
    try:
        room = services.rooms.lookup(code, client)
    except JoinThrottled:
        await ws.send_text(dumps({"type": "error", "id": None, "code": "too_many_attempts",
                                  "message": "too many unknown room codes from this address; "
                                  "wait a few seconds and check the code"}))
        await ws.close(code=1008, reason="too many attempts")
        return
    if room is None:
        await ws.send_text(dumps({"type": "error", "id": None, "code": "unknown_room",
                                  "message": f"there is no open room {code[:12]!r}"}))
        await ws.close(code=4404, reason="unknown room")
        return
    if len(room.viewers) >= settings.max_viewers:
        await ws.send_text(dumps({"type": "error", "id": None, "code": "room_full",
                                  "message": f"the room already has {len(room.viewers)} "
                                  "viewers, its limit"}))
        await ws.close(code=1013, reason="room full")
        return
    conn = _connection(ws, settings, f"viewer:{room.code}")
    sender = asyncio.get_running_loop().create_task(conn.run())
    transport = ws.scope.get("propscope.transport")
    raw = None
    if transport is not None and hasattr(transport, "get_write_buffer_size"):
        raw = RawOut(transport, settings.max_outbox_bytes)
    viewer = Viewer(ws, conn, room, raw)
    viewer.client = client
    viewer.send(dumps(P.welcome(
        settings, role="viewer", token=None, resumed=False, resume_error=None, room=room.info()
    )))
    room.viewers.append(viewer)
    room.request_sync(viewer)
    room.notify_presenter()
    # Viewers too are rate-limited: a follower only pings and follows (a few a second at
    # most); driving a hand-out copy it is a normal session and gets the normal rate.
    bucket = TokenBucket(settings.rate_limit_per_s, settings.rate_limit_burst)
    follower = TokenBucket(VIEWER_RATE_PER_S, VIEWER_BURST)
    try:
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                break
            if not (bucket if viewer.private is not None else follower).take():
                log.warning(logfmt("rate_limited", room=room.code, client=client))
                await conn.close(1008, "rate limit exceeded", timeout=2.0)
                break
            text = message.get("text")
            data = text if text is not None else message.get("bytes") or b""
            try:
                if len(data) > settings.max_message_bytes:
                    raise ProtocolError("invalid_message",
                                        f"the message is larger than {settings.max_message_bytes}"
                                        " bytes")
                parsed = P.parse_message(data)
                if isinstance(parsed, P.Ping):
                    t = parsed.t if parsed.t is None or math.isfinite(parsed.t) else None
                    viewer.send(dumps({"type": "pong", "id": parsed.id, "t": t,
                                     "server_time": time.time()}))
                elif isinstance(parsed, P.Painted):  # a hand-out copy's frames are paced by it
                    viewer.conn.credit.painted(parsed.run, parsed.seq, parsed.ready_in / 1000)
                elif isinstance(parsed, RoomFollow):
                    _follow(viewer, parsed)
                elif (answer := ROUTES[parsed.type].viewer) is not None:
                    answer(viewer, parsed)
                elif viewer.private is not None:
                    viewer.private.submit(parsed)
                else:
                    raise ProtocolError(
                        "read_only",
                        "viewers of a room cannot change the presenter's session; wait for a "
                        "hand-out (room_handout) to train a copy of your own",
                        id=parsed.id,
                    )
            except ProtocolError as err:
                viewer.send(dumps(err.reply()))
            except Exception:  # a bug: logged with the room, answered, the viewer stays
                log.exception(logfmt("viewer_message_failed", room=room.code))
                viewer.send(dumps({"type": "error", "id": None, "code": "internal_error",
                                   "message": "the server failed to handle this message (a "
                                   "bug); you are still in the room"}))
    except WebSocketDisconnect:
        pass  # the viewer left: the normal end
    except Exception as err:  # the socket broke in another way
        log.info(logfmt("viewer_socket_ended", room=room.code, error=type(err).__name__))
    finally:
        if not classroom_messages.keep_copy(viewer):  # a named student's copy waits (TTL)
            _drop_private(viewer, services)
        if viewer.room is not None:
            viewer.room.remove(viewer)
        finish = getattr(conn, "finish", None)
        if finish is not None:
            finish()
        else:
            conn.closed = True
            conn.event.set()
        sender.cancel()


def _follow(viewer: Viewer, msg: RoomFollow) -> None:
    room = viewer.room
    if room is None or room.closed:
        raise ProtocolError("no_room", "the room was closed", id=msg.id)
    if viewer.private is None and (viewer.following or viewer in room.pending):
        # Already following (or about to be): the stream carries the state; sending it again
        # for every repeat would let one viewer's flood cost the presenter a snapshot each.
        viewer.send(dumps({"type": "ack", "id": msg.id, "of": "room_follow",
                           "code": room.code}))
        return
    services = room.session.ext.services if getattr(room.session, "ext", None) else None
    _drop_private(viewer, services)
    # What the private session still had queued is obsolete; the room's state follows.
    viewer.conn.out.clear()
    if hasattr(viewer.conn, "queued_bytes"):
        viewer.conn.queued_bytes = 0
    viewer.send(dumps({"type": "ack", "id": msg.id, "of": "room_follow",
                            "code": room.code}))
    room.request_sync(viewer)


def _drop_private(viewer: Viewer, services) -> None:
    """Forget a viewer's handed-out copy (it dies with the viewer's return to following)."""
    private, viewer.private = viewer.private, None
    if private is None:
        return
    private.detach(viewer.conn)
    if services is not None:
        services.registry.sessions.pop(private.token, None)
    asyncio.get_running_loop().create_task(private.stop())


__all__ = [
    "Room", "RoomRegistry", "SessionExt", "bind", "viewer_socket",
    "MAX_FOCUS_BYTES",
]
