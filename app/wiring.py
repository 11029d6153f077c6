"""The one table from message type to model and handler (docs/protocol.md §2, §9, §10).

``parse_message`` validates with the table's model; a session's runner calls :func:`dispatch`.
A *run* handler is a plain function of one run and the message, run on the worker thread; a
*session* handler is a coroutine of the session and the message (app/handlers.py says why).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from pydantic import BaseModel

from app import challenges as ch
from app import classroom_messages as cm
from app import compare, experiments, handlers, rooms
from app import protocol as P
from app.session import Session


@dataclasses.dataclass(frozen=True)
class Route:
    model: type[BaseModel]
    handler: Callable | None  # None: answered by the socket's reader itself, never queued
    on_run: bool = False  # a run handler (worker thread) rather than a session handler
    #: A room viewer's message, answered on the viewer socket: viewer(viewer, message)
    viewer: Callable | None = None


_TABLE = (
    # training (app/handlers.py)
    Route(P.Configure, handlers.configure),
    Route(P.Play, handlers.play),
    Route(P.Pause, handlers.pause),
    Route(P.Step, handlers.step),
    Route(P.PhaseStep, handlers.phase, on_run=True),
    Route(P.Reset, handlers.reset),
    Route(P.Regenerate, handlers.regenerate),
    Route(P.SetHyper, handlers.set_hyper, on_run=True),
    Route(P.Select, handlers.select, on_run=True),
    Route(P.Explain, handlers.explain, on_run=True),
    Route(P.Probe, handlers.probe, on_run=True),
    Route(P.Grid, handlers.grid, on_run=True),
    Route(P.SetWeight, handlers.set_weight, on_run=True),
    Route(P.SetFps, handlers.set_fps),
    Route(P.SnapshotRequest, handlers.snapshot),
    Route(P.Ping, None),  # pong: app/websocket.py and the viewer socket in app/rooms.py
    Route(P.Painted, None),  # pacing, no reply: the same two socket readers (app/pacing.py)
    # side by side (app/compare.py)
    Route(P.Compare, compare.compare),
    Route(P.CloseRun, compare.close_run),
    Route(P.PromoteRun, compare.promote_run),
    # classroom (app/rooms.py)
    Route(rooms.RoomOpen, rooms.room_open),
    Route(rooms.RoomClose, rooms.room_close),
    Route(rooms.RoomHold, rooms.room_hold),
    Route(rooms.Focus, rooms.focus),
    Route(rooms.RoomHandout, rooms.room_handout),
    Route(rooms.RoomFollow, rooms.room_follow),
    Route(rooms.HistoryRequest, rooms.history),
    # the class: nicknames, dashboard, projection, pacing, export (app/classroom_messages.py)
    Route(cm.ClassJoin, None, viewer=cm.from_viewer),
    Route(cm.ClassDashboard, cm.class_dashboard),
    Route(cm.ClassProject, cm.class_project),
    Route(cm.ClassHideNames, cm.class_hide_names),
    Route(cm.ClassPauseAll, cm.class_pause_all),
    Route(cm.ClassPush, cm.class_push),
    Route(cm.ClassLock, cm.class_lock),
    Route(cm.ClassExport, cm.class_export),
    # challenges, the leaderboard and the gallery (app/challenges.py)
    Route(ch.ChallengeSet, ch.challenge_set),
    Route(ch.ChallengeEnd, ch.challenge_end),
    Route(ch.ClassSubmit, None, viewer=ch.from_viewer),
    # files, experiments, recordings (app/experiments.py)
    Route(experiments.Save, experiments.save),
    Route(experiments.Open, experiments.open_experiment),
    Route(experiments.Export, experiments.export),
    Route(experiments.OpenImport, experiments.open_import),
    Route(experiments.ConfigureCsv, experiments.configure_csv),
    Route(experiments.RecordStart, experiments.record_start),
    Route(experiments.RecordStop, experiments.record_stop),
)

ROUTES: dict[str, Route] = {P.type_of(r.model): r for r in _TABLE}


async def dispatch(session: Session, msg) -> None:
    route = ROUTES[msg.type]
    if route.handler is None:
        raise P.ProtocolError("bad_state", f"{msg.type} is answered on a room's viewer socket")
    if session.role == "handout":  # a student's copy: the teacher's locks hold (server-side)
        cm.check_locks(session, msg)
        ch.check_budget(session, msg)
    if route.on_run:  # run handlers go where the runs are (app/session.py runs_call)
        await handlers.on_run(session, msg, route.handler)
    else:
        await session.settle()  # a session handler sees the live runs here
        await route.handler(session, msg)
