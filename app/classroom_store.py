"""A classroom survives a server restart (docs/protocol.md §9.10).

Every open room is kept in SQLite (the experiments database, app/storage.py): the room and its
roster, locks, challenge and gallery as JSON, the teacher's trainer and each named student's
copy as engine exports. It is saved every ``classroom_save_s`` seconds and once more when the
server stops, so a crash loses at most that interval. The next start restores every room saved
within ``session_ttl`` — the teacher's run, the copies at their steps, detached — and the same
people come back: the teacher's page with its resume token (matched by its SHA-256: no token is
ever stored), each student's page with its device token. Each trainer is packed on its own
session's worker (never half a step) and read back through the checks every export passes.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import secrets
import sqlite3
import time
import weakref

from app import classroom as C
from app.challenges import Challenge, Submission
from app.classroom_messages import ensure_ticker
from app.export_files import load_trainer
from app.recording import History
from app.rooms import Room, bind, ext_of
from app.security import logfmt
from app.session import Session
from app.storage import SavedClassroom, hash_token
from engine import persistence
from engine.challenge import Score, draw_held_out, parse_goal
from engine.spec import Spec

log = logging.getLogger("propscope.classroom_store")


# --- saving -----------------------------------------------------------------------------------


def room_record(room: Room) -> dict:
    """The room as JSON: what is needed to open it again, with its class."""
    record = {"code": room.code, "join_url": room.join_url, "hold": room.hold,
              "created": room.created, "base_url": ext_of(room.session).base_url}
    classroom = room.classroom
    if classroom is None:
        return record
    challenge: Challenge | None = classroom.challenge
    record["class"] = {
        "baseline": classroom.baseline,
        "locks": sorted(classroom.locks),
        "hide_names": classroom.hide_names,
        "students": [{"id": s.id, "nickname": s.nickname, "device_hash": device_hash(s)}
                     for s in classroom.students.values() if device_hash(s)],
        "challenge": None if challenge is None else {
            "goal": challenge.goal.to_dict(), "seed": challenge.held_out.seed,
            "started": challenge.started, "ended": challenge.ended},
        "gallery": [{"student": g.student, "nickname": g.nickname, "experiment": g.experiment,
                     "step": g.step, "at": g.at,
                     "score": None if g.score is None else g.score.to_dict()}
                    for g in classroom.gallery.values()],
    }
    return record


def device_hash(student: C.Student) -> str | None:
    """What identifies a named student's device across a restart (None: anonymous)."""
    if student.device:
        return hash_token(student.device)
    return student.restored_device


def fingerprint(trainer) -> tuple:
    """What a kept trainer depends on, cheaply: the trainer object, its step, its spec and a
    digest of its parameters (a hand-edited weight changes them without a step)."""
    return (id(trainer), trainer.step_count, json.dumps(trainer.spec.to_dict(), sort_keys=True),
            hashlib.blake2b(trainer.network.flat.tobytes(), digest_size=16).digest())


#: Each session's last packed trainer, (fingerprint, .npz): a trainer that has not moved since
#: the last interval is not compressed again (40 copies of a large network would cost seconds).
_packed: weakref.WeakKeyDictionary[Session, tuple[tuple, bytes]] = weakref.WeakKeyDictionary()
#: What each room's kept row was made of, by code: an unchanged room is only touched.
_saved: dict[str, tuple] = {}


def _pack(session: Session) -> tuple[tuple, bytes]:
    """(Worker thread.) The session's trainer as an export, and what it was made from."""
    key = fingerprint(session.trainer)
    old = _packed.get(session)
    if old is None or old[0] != key:
        old = _packed[session] = (key, persistence.to_npz(session.trainer))
    return old


async def snapshot(room: Room) -> tuple[SavedClassroom, tuple]:
    """Everything kept of the room now (each trainer packed on its own worker), and a key that
    is the same when nothing in it changed."""
    teacher = room.session
    teacher_key, state = await teacher.worker(_pack, teacher)
    copies: dict[str, tuple[bytes, dict]] = {}
    keys = [teacher_key]
    classroom = room.classroom
    for student in list(classroom.students.values()) if classroom is not None else []:
        copy = student.copy
        if copy is None or not device_hash(student) or copy.task is None or copy.task.done():
            continue
        history = ext_of(copy).history.to_dict()
        key, packed = await copy.worker(_pack, copy)
        copies[student.id] = (packed, history)
        keys.append((student.id, key))
    record = room_record(room)
    saved = SavedClassroom(room.code, teacher.restored_from or hash_token(teacher.token),
                           time.time(), record, state, ext_of(teacher).history.to_dict(), copies)
    return saved, (json.dumps(record, sort_keys=True), tuple(keys))


async def save_rooms(services) -> int:
    """Keep every open room (→ how many)."""
    rooms = [r for r in services.rooms.rooms.values() if not r.closed]
    if not rooms:
        return 0
    try:
        storage = services.storage()
    except (OSError, sqlite3.Error) as err:  # logged each time: the teacher's admin sees it
        log.warning(logfmt("classrooms_not_saved", error=str(err)))
        return 0
    saved = 0
    for room in rooms:
        try:
            kept, key = await snapshot(room)
            if _saved.get(room.code) == key:
                await asyncio.to_thread(storage.touch_classroom, room.code, kept.saved)
            else:
                await asyncio.to_thread(storage.save_classroom, kept)
                _saved[room.code] = key
            saved += 1
        except Exception:  # one room that cannot be saved never stops the others
            log.exception(logfmt("classroom_save_failed", room=room.code))
    return saved


async def keep_saving(services, interval: float) -> None:
    """The saver: every ``interval`` seconds, every open room."""
    while True:
        await asyncio.sleep(interval)
        await save_rooms(services)


def forget(services, code: str) -> None:
    """A room the teacher closed is not brought back."""
    _saved.pop(code, None)
    try:
        services.storage().delete_classroom(code)
    except (OSError, sqlite3.Error) as err:  # it stays kept; dropped after session_ttl
        log.warning(logfmt("classroom_not_forgotten", room=code, error=str(err)))


# --- restoring --------------------------------------------------------------------------------


async def restore_rooms(services, registry, settings) -> int:
    """Bring back every classroom saved within the session TTL (→ how many)."""
    try:
        storage = services.storage()
        kept = await asyncio.to_thread(storage.classrooms, time.time() - settings.session_ttl)
    except (OSError, sqlite3.Error) as err:  # an unwritable database: the server still runs
        log.warning(logfmt("classrooms_not_restored", db=settings.db_path, error=str(err)))
        return 0
    restored = 0
    for saved in kept:
        try:
            restore(services, registry, settings, saved)
            restored += 1
        except Exception:  # a classroom that cannot come back is logged and dropped
            log.exception(logfmt("classroom_restore_failed", room=saved.code))
            await asyncio.to_thread(storage.delete_classroom, saved.code)
    if restored:
        log.info(logfmt("classrooms_restored", count=restored))
    return restored


def _session(services, registry, settings, state: bytes, history: dict, role: str,
             base_url: str) -> Session:
    """A detached session of a kept trainer (a fresh token; the owner claims it by its own)."""
    session = Session(secrets.token_urlsafe(24), settings, registry.executor,
                      trainer=load_trainer(state))
    session.role = role
    registry.add(session)
    ext = bind(session, services, base_url)
    ext.history = History.from_dict(history)
    return session


def restore(services, registry, settings, saved: SavedClassroom) -> Room:
    record = saved.room
    base_url = record.get("base_url", "")
    teacher = _session(services, registry, settings, saved.teacher_state,
                       saved.teacher_history, "teacher", base_url)
    teacher.restored_from = saved.teacher_hash
    room = services.rooms.reopen(record["code"], teacher, record["join_url"])
    room.hold = bool(record.get("hold"))
    room.created = float(record.get("created", room.created))
    ext_of(teacher).room = room
    kept = record.get("class")
    if kept is None:
        return room
    classroom = C.classroom_of(room)
    if kept.get("baseline") is not None:
        C.set_baseline(classroom, kept["baseline"])
    classroom.locks = set(kept.get("locks", [])) & set(C.LOCKABLE)
    classroom.hide_names = bool(kept.get("hide_names"))
    challenge = kept.get("challenge")
    if challenge is not None:
        spec = Spec.from_dict(classroom.baseline) if classroom.baseline else teacher.trainer.spec
        classroom.challenge = Challenge(
            parse_goal(challenge["goal"]), draw_held_out(spec, seed=int(challenge["seed"])),
            float(challenge["started"]), ended=bool(challenge["ended"]))
    for s in kept.get("students", []):
        student = C.Student(s["id"], "", s["nickname"], restored_device=s["device_hash"])
        classroom.students[C.restored_key(s["device_hash"])] = student
        if s["id"] in saved.copies:
            state, history = saved.copies[s["id"]]
            copy = _session(services, registry, settings, state, history, "handout", base_url)
            ext_of(copy).handout_of = room.code
            student.copy = copy
            copy.taps.append(student.watch)
            copy.step_limit = C.step_budget(classroom)
    for g in kept.get("gallery", []):
        score = None if g["score"] is None else Score(**g["score"])
        classroom.gallery[g["student"]] = Submission(g["student"], g["nickname"],
                                                     g["experiment"], g["step"], score, g["at"])
    ensure_ticker(classroom)
    return room
