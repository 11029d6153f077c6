"""Classroom messages (docs/protocol.md §9.8): a student's nickname and its way back, and the
teacher's dashboard, projection, pacing (pause all, push, locks) and export.

Students send ``class_join`` on the viewer socket (handled here, not queued on a session).
Everything else is the teacher's: a session handler that first checks the sender *is* the
teacher of an open room — a student's copy (role ``handout``) or a follower never is. Locks are
enforced here too (:func:`check_locks`, called by app/wiring.py for every message to a copy),
whatever the student's page shows.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import Annotated, Literal

from pydantic import Field

from app import classroom as C
from app import handlers
from app import protocol as P
from app.frames import dumps, text
from app.protocol import ProtocolError
from app.rooms import Room, Viewer, ext_of
from app.run import event
from app.security import logfmt
from app.session import Internal, Session
from engine.spec import Spec
from engine.trainer import Trainer

log = logging.getLogger("propscope.classroom")

Control = Literal[tuple(C.LOCKABLE)]  # type: ignore[valid-type]
Controls = Annotated[list[Control], Field(min_length=1, max_length=len(C.LOCKABLE))]


# --- a student: class_join on the viewer socket -----------------------------------------------


class ClassJoin(P._Message):
    """A viewer's nickname, or the device token it was given (its copy back on reconnect)."""

    type: Literal["class_join"]
    nickname: Annotated[str, Field(max_length=200)] | None = None
    device: Annotated[str, Field(min_length=8, max_length=64)] | None = None


def from_viewer(viewer: Viewer, msg: ClassJoin) -> None:
    room = viewer.room
    if room is None or room.closed:
        raise ProtocolError("no_room", "the room was closed", id=msg.id)
    classroom = C.classroom_of(room)
    ensure_ticker(classroom)
    try:
        student, back = C.join(classroom, viewer, msg.nickname, msg.device)
    except ProtocolError as err:
        err.id = msg.id
        raise
    resumed = False
    copy = student.copy
    if back and copy is not None and viewer.private is None and alive(room, copy):
        room.give_copy(viewer, copy, copy.run.step, True)
        resumed = True
    viewer.send(dumps({"type": "ack", "id": msg.id, "of": "class_join", "code": room.code,
                       "nickname": student.nickname, "student": student.id,
                       "device": student.device, "came_back": back, "copy": resumed}))
    viewer.send(dumps(C.locks_message(classroom)))


def alive(room: Room, copy: Session) -> bool:
    """Is the copy still held by the registry (not reaped after the TTL, not dropped)?"""
    return room.session.ext.services.registry.sessions.get(copy.token) is copy


def handed_out(room: Room, viewer: Viewer, copy: Session, baseline: dict) -> None:
    """Hook (app/rooms.py room_handout): the viewer's copy joins the roster."""
    classroom = C.classroom_of(room)
    ensure_ticker(classroom)
    C.set_baseline(classroom, baseline)
    student = classroom.of_viewer(viewer)
    if student is None:  # a viewer who gave no nickname: listed, but cannot come back
        student = C.Student(secrets.token_hex(4), "", "", viewer=viewer)
        classroom.students[f"anonymous:{student.id}"] = student
    student.copy = copy
    student.grid = student.thumb_of = student.thumb = None
    copy.taps.append(student.watch)
    copy.step_limit = C.step_budget(classroom)


def keep_copy(viewer: Viewer) -> bool:
    """Hook (app/rooms.py, a viewer's socket ended): a named student's copy is kept, detached,
    for the session TTL so the same device gets it back; True if it was kept."""
    room = viewer.room
    classroom = room.classroom if room is not None else None
    student = classroom.of_viewer(viewer) if classroom is not None else None
    if student is None:
        return False
    student.viewer = None
    if not student.device:  # anonymous: nothing to come back with
        classroom.students = {k: s for k, s in classroom.students.items() if s is not student}
        return False
    copy, viewer.private = viewer.private, None
    if copy is not None:
        copy.detach(viewer.conn)
    return True


def check_locks(session: Session, msg) -> None:
    """(app/wiring.py, every message to a hand-out copy.) Refuse a change to a locked control."""
    ext = ext_of(session)
    room = ext.services.rooms.get(ext.handout_of)
    classroom = room.classroom if room is not None else None
    if classroom is None or not classroom.locks:
        return
    err = C.refusal(classroom, msg, session.trainer.spec.to_dict())
    if err is not None:
        raise err


# --- the dashboard ticker ---------------------------------------------------------------------


def ensure_ticker(classroom: C.Classroom) -> None:
    if classroom.ticker is None or classroom.ticker.done():
        classroom.ticker = asyncio.get_running_loop().create_task(run_dashboard(classroom))


async def run_dashboard(classroom: C.Classroom) -> None:
    """About twice a second, one message to the teacher with every row (only if it changed):
    the students' streams never wait for it, and it never waits for them."""
    from app import challenges  # it builds on this module's teacher check

    room = classroom.room
    while not room.closed:
        await asyncio.sleep(C.DASHBOARD_S)
        try:
            tick(classroom)
            challenges.score_round(classroom)
        except Exception:  # logged; the next tick tries again
            log.exception(logfmt("dashboard_failed", room=room.code))


def tick(classroom: C.Classroom) -> None:
    room = classroom.room
    for student in classroom.students.values():
        if student.copy is not None and not alive(room, student.copy):
            student.copy = None  # followed the teacher again, or reaped after the TTL
    # gone, with nothing to come back to: the name is free again (a page that comes back
    # joins under it anew); the roster stays as large as the room, not as its history
    classroom.students = {k: s for k, s in classroom.students.items()
                          if s.viewer is not None or s.copy is not None}
    if classroom.projected is not None and classroom.projected.copy is None:
        stop_projecting(classroom)
    message = dumps(C.dashboard(classroom))
    conn = room.session.conn
    if conn is not None and message != classroom.last_dashboard:
        classroom.last_dashboard = message
        conn.send(message)


# --- the teacher's messages --------------------------------------------------------------------


def teacher_classroom(session: Session) -> C.Classroom:
    """The sender's room roster — only for the teacher of an open room."""
    room = ext_of(session).room if session.ext is not None else None
    if session.role != "teacher" or room is None or room.closed:
        raise ProtocolError("not_teacher", "only the teacher of an open room can do this")
    classroom = C.classroom_of(room)
    ensure_ticker(classroom)
    return classroom


class ClassDashboard(P._Message):
    """The dashboard now (it also comes by itself about twice a second when it changes)."""

    type: Literal["class_dashboard"]


async def class_dashboard(session: Session, msg: ClassDashboard) -> None:
    classroom = teacher_classroom(session)
    session.ack(msg, **{k: v for k, v in C.dashboard(classroom).items() if k != "type"})


class ClassProject(P._Message):
    """Show one student's copy to every follower (student: a dashboard row id; None: stop)."""

    type: Literal["class_project"]
    student: Annotated[str, Field(min_length=1, max_length=16)] | None = None


def projecting_message(classroom: C.Classroom) -> dict:
    student = classroom.projected
    hidden = classroom.hide_names
    return {"type": "class_projecting", "projecting": student is not None,
            "student": None if student is None or hidden else student.nickname,
            "hidden": hidden}


def stop_projecting(classroom: C.Classroom) -> None:
    classroom.projected = None
    classroom.room.project(None, projecting_message(classroom))


async def class_project(session: Session, msg: ClassProject) -> None:
    classroom = teacher_classroom(session)
    if msg.student is None:
        if classroom.projected is not None:
            stop_projecting(classroom)
        session.ack(msg, projected=None)
        return
    student = classroom.by_id(msg.student)
    if student.copy is None or not alive(classroom.room, student.copy):
        raise ProtocolError("bad_state", f"{student.nickname or 'this student'} has no copy to "
                            "project (hand out copies first)")
    classroom.projected = student
    classroom.room.project(student.copy, projecting_message(classroom))
    session.ack(msg, projected=student.id)


class ClassHideNames(P._Message):
    type: Literal["class_hide_names"]
    hide: bool = True


async def class_hide_names(session: Session, msg: ClassHideNames) -> None:
    classroom = teacher_classroom(session)
    classroom.hide_names = msg.hide
    if classroom.projected is not None:
        classroom.room.publish(dumps(projecting_message(classroom)))
    session.ack(msg, hide_names=msg.hide)


class ClassPauseAll(P._Message):
    type: Literal["class_pause_all"]


async def _pause_for_teacher(copy: Session) -> None:
    if copy.playing:
        await copy.stop_playing("teacher_pause")


async def class_pause_all(session: Session, msg: ClassPauseAll) -> None:
    classroom = teacher_classroom(session)
    copies = [s.copy for s in classroom.students.values() if s.copy is not None]
    for copy in copies:
        copy.submit(Internal(_pause_for_teacher))
    session.ack(msg, copies=len(copies))


class ClassPush(P._Message):
    """Give every copy the teacher's own current value of these controls."""

    type: Literal["class_push"]
    controls: Controls


def pushed_spec(spec: dict, teacher: dict, controls: set[str]) -> dict:
    """The copy's spec with the teacher's settings of the structural controls laid over it."""
    new = {k: (dict(v) if isinstance(v, dict) else v) for k, v in spec.items()}
    if "data" in controls:
        new["data"] = dict(teacher["data"])
    if "network" in controls:
        new["network"] = dict(teacher["network"])
    elif "activation" in controls:
        network = dict(new["network"])
        theirs = teacher["network"]["hidden"] or [{"activation": "tanh"}]
        network["hidden"] = [{**layer, "activation": theirs[min(k, len(theirs) - 1)]["activation"]}
                             for k, layer in enumerate(network["hidden"])]
        network["output_activation"] = teacher["network"]["output_activation"]
        new["network"] = network
    return new


def live_change(teacher: dict, controls: set[str]) -> P.SetHyper:
    """The `set` message that gives a copy the teacher's live settings (made by the server)."""
    training = teacher["training"]
    optimizer = training["optimizer"]
    fields: dict = {"type": "set", "id": "class_push"}
    if "learning_rate" in controls:
        fields["learning_rate"] = optimizer["learning_rate"]
    if "optimizer" in controls:
        fields["optimizer"] = {k: optimizer[k] for k in (
            "name", "momentum", "nesterov", "rho", "beta1", "beta2", "eps")}
        fields["learning_rate"] = optimizer["learning_rate"]
    if "batch_size" in controls:
        fields["batch_size"] = training["batch_size"]
    if "regularization" in controls:
        fields["regularization"] = training["regularization"]
        fields["regularization_rate"] = training["regularization_rate"]
    return P.SetHyper.model_validate(fields)


def _push(teacher: dict, controls: set[str]):
    async def apply(copy: Session) -> None:
        try:
            if controls & set(C.LIVE_PUSH):
                change = live_change(teacher, controls)
                reply = await copy.worker(handlers.set_hyper, copy.run, change, copy.pace)
                copy.send_all(reply.out)
            if controls - set(C.LIVE_PUSH):
                spec = Spec.from_dict(pushed_spec(copy.trainer.spec.to_dict(), teacher, controls))
                await copy.install_trainer(lambda: Trainer(spec), "class_push")
                copy.send(event(copy.run, "configure", lesson=None))
            copy.send(text({"type": "class_pushed", "controls": sorted(controls)}))
        except ProtocolError as err:  # e.g. a batch larger than this copy's data: told why
            copy.send(err.reply())
    return apply


async def class_push(session: Session, msg: ClassPush) -> None:
    classroom = teacher_classroom(session)
    controls = set(msg.controls)
    teacher = session.trainer.spec.to_dict()
    copies = [s.copy for s in classroom.students.values() if s.copy is not None]
    for copy in copies:
        copy.submit(Internal(_push(teacher, controls)))
    if classroom.baseline is not None:  # a pushed value is the teacher's again, not a change
        baseline = pushed_spec(classroom.baseline, teacher, controls & {
            "data", "network", "activation"})
        baseline["training"] = dict(baseline["training"])
        C.set_baseline(classroom, baseline)
        if controls & set(C.LIVE_PUSH):
            change = live_change(teacher, controls)
            training = baseline["training"]
            training["optimizer"] = dict(training["optimizer"])
            if change.learning_rate is not None:
                training["optimizer"]["learning_rate"] = change.learning_rate
            if change.optimizer is not None:
                training["optimizer"].update(change.optimizer.model_dump())
            if change.batch_size is not None:
                training["batch_size"] = change.batch_size
            if change.regularization is not None:
                training["regularization"] = change.regularization
                training["regularization_rate"] = change.regularization_rate
    session.ack(msg, copies=len(copies), controls=sorted(controls))


class ClassLock(P._Message):
    """Lock (or release) controls on every student's copy."""

    type: Literal["class_lock"]
    controls: Controls
    locked: bool = True


async def class_lock(session: Session, msg: ClassLock) -> None:
    classroom = teacher_classroom(session)
    if msg.locked:
        classroom.locks |= set(msg.controls)
    else:
        classroom.locks -= set(msg.controls)
    message = dumps(C.locks_message(classroom))
    for viewer in list(classroom.room.viewers):
        viewer.send(message)
    session.ack(msg, locks=sorted(classroom.locks))


class ClassExport(P._Message):
    """The class's results as CSV (in the ack: only the teacher's own socket ever sees it)."""

    type: Literal["class_export"]


async def class_export(session: Session, msg: ClassExport) -> None:
    classroom = teacher_classroom(session)
    session.ack(msg, csv=C.results_csv(classroom), media_type="text/csv",
                filename=f"propscope-class-{classroom.room.code}.csv")
