"""Class challenges (docs/protocol.md §9.9): the teacher sets a goal, every student's copy is
scored on a held-out draw nobody trains on, a live leaderboard goes to the whole room, and
students submit their networks to a class gallery anyone in the room can open.

The scoring is the engine's (engine/challenge.py), run on each copy's own worker in turn with
its messages, at most once per dashboard tick and only when the copy has moved. A step budget
("the lowest test loss within 2 000 steps") is a limit on the copy's session: play stops at it
and further steps are refused until the student resets.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from typing import Any, Literal

from app import classroom as C
from app import protocol as P
from app.classroom_messages import alive, teacher_classroom
from app.frames import dumps
from app.protocol import ProtocolError
from app.rooms import Viewer, ext_of
from app.security import logfmt
from app.session import Internal, Session
from engine import persistence
from engine.challenge import (
    ChallengeError,
    Goal,
    HeldOut,
    Score,
    draw_held_out,
    parse_goal,
    ranking_key,
    score,
)
from engine.datasets import DATASETS
from engine.spec import Spec

log = logging.getLogger("propscope.challenges")

GALLERY_MAX = 200  # submissions kept per room (one per student; the oldest go first)


@dataclasses.dataclass
class Challenge:
    goal: Goal
    held_out: HeldOut
    started: float
    scores: dict[str, Score] = dataclasses.field(default_factory=dict)  # by student id
    scored_step: dict[str, int] = dataclasses.field(default_factory=dict)
    pending: set[str] = dataclasses.field(default_factory=set)  # scoring queued on a copy
    ended: bool = False


@dataclasses.dataclass(frozen=True)
class Submission:
    """One network in the class gallery: a saved (unlisted) experiment anyone in the room
    may open by its link."""

    student: str
    nickname: str
    experiment: str
    step: int
    score: Score | None
    at: float


# --- the leaderboard --------------------------------------------------------------------------


def leaderboard(classroom: C.Classroom, for_teacher: bool) -> dict:
    """The board as the room sees it (names hidden from students when the teacher hides them;
    the teacher always sees them)."""
    challenge: Challenge | None = classroom.challenge
    if challenge is None:
        return {"type": "class_leaderboard", "challenge": None, "rows": [],
                "gallery": gallery_rows(classroom, for_teacher)}
    hidden = classroom.hide_names and not for_teacher
    students = [s for s in classroom.students.values() if s.id in challenge.scores]
    students.sort(key=lambda s: ranking_key(challenge.goal, challenge.scores[s.id]))
    rows, rank = [], 0
    for s in students:
        result = challenge.scores[s.id]
        scored = result.not_scored is None and result.loss is not None
        rank += scored
        rows.append({"student": s.id, "nickname": None if hidden else s.nickname,
                     "rank": rank if scored else None, **result.to_dict()})
    data = challenge.held_out.dataset
    return {"type": "class_leaderboard",
            "challenge": {**challenge.goal.to_dict(), "dataset": data,
                          "dataset_title": DATASETS[data].title,
                          "held_out_rows": len(challenge.held_out.y), "ended": challenge.ended},
            "rows": rows, "gallery": gallery_rows(classroom, for_teacher)}


def gallery_rows(classroom: C.Classroom, for_teacher: bool) -> list[dict]:
    hidden = classroom.hide_names and not for_teacher
    return [{"student": g.student, "nickname": None if hidden else g.nickname,
             "experiment": g.experiment, "path": f"/e/{g.experiment}", "step": g.step,
             "score": g.score.to_dict() if g.score is not None else None}
            for g in sorted(classroom.gallery.values(), key=lambda g: g.at)]


def broadcast(classroom: C.Classroom) -> None:
    """The board to the teacher and to every viewer, when it changed since it was last sent."""
    teacher, room = dumps(leaderboard(classroom, True)), classroom.room
    students = dumps(leaderboard(classroom, False)) if classroom.hide_names else teacher
    if (teacher, students) == classroom.last_board:
        return
    classroom.last_board = (teacher, students)
    if room.session.conn is not None:
        room.session.conn.send(teacher)
    for viewer in list(room.viewers):
        viewer.send(students)


# --- scoring, once a dashboard tick -----------------------------------------------------------


def score_round(classroom: C.Classroom) -> None:
    """(The dashboard ticker.) Queue a score on every copy that moved since its last one; the
    board goes out with what is known (scores arrive within a tick)."""
    challenge: Challenge | None = classroom.challenge
    if challenge is None:
        return
    for student in classroom.students.values():
        copy = student.copy
        if copy is None or challenge.ended or student.id in challenge.pending:
            continue
        if not alive(classroom.room, copy):
            continue
        last = challenge.scores.get(student.id)
        if last is not None and last.final:
            continue  # the step budget is spent: the score stands
        if challenge.scored_step.get(student.id) == copy.run.step and last is not None:
            continue
        challenge.pending.add(student.id)
        copy.submit(Internal(_scorer(classroom, challenge, student)))
    broadcast(classroom)


def _score_first(runs: list, held_out: HeldOut, goal: Goal):
    """The copy's network scored where it trains (app/session.py runs_call)."""
    return score(runs[0].trainer, held_out, goal)


def _scorer(classroom: C.Classroom, challenge: Challenge, student: C.Student):
    async def run(copy: Session) -> None:
        try:
            result = await copy.runs_call(_score_first, challenge.held_out, challenge.goal)
            if classroom.challenge is challenge and not challenge.ended:
                challenge.scores[student.id] = result
                challenge.scored_step[student.id] = result.step
        finally:
            challenge.pending.discard(student.id)
    return run


# --- step budgets -----------------------------------------------------------------------------


def check_budget(session: Session, msg: Any) -> None:
    """(app/wiring.py, every message to a hand-out copy.) Refuse to train past the budget."""
    limit = session.step_limit
    if limit is None or msg.type not in ("play", "step", "phase"):
        return
    if session.run.step >= limit:
        raise ProtocolError("step_budget", f"the class challenge allows {limit:,} steps and "
                            "this network has had them: it is scored as it is now (reset to "
                            "start again from step 0)".replace(",", " "),
                            {"limit": limit}, id=msg.id)


# --- the teacher's messages -------------------------------------------------------------------


class ChallengeSet(P._Message):
    """Set the class a goal, on the data set handed out (see engine/challenge.py)."""

    type: Literal["challenge_set"]
    goal: dict


async def challenge_set(session: Session, msg: ChallengeSet) -> None:
    classroom = teacher_classroom(session)
    try:
        goal = parse_goal(msg.goal)
        spec = Spec.from_dict(classroom.baseline) if classroom.baseline else session.trainer.spec
        held_out = await asyncio.to_thread(draw_held_out, spec)
    except ChallengeError as err:
        raise ProtocolError("invalid_challenge", str(err), {"field": err.field}) from None
    classroom.challenge = Challenge(goal, held_out, time.time())
    for student in classroom.students.values():
        if student.copy is not None:
            student.copy.submit(Internal(_limit(classroom)))
    score_round(classroom)
    session.ack(msg, challenge=leaderboard(classroom, True)["challenge"])


def _limit(classroom: C.Classroom):
    async def run(copy: Session) -> None:
        copy.step_limit = C.step_budget(classroom)
        if copy.step_limit is not None and copy.playing \
                and copy.trainer.step_count >= copy.step_limit:
            await copy.stop_playing("step_budget")
    return run


class ChallengeEnd(P._Message):
    """End the challenge: the board stays as it stands, the step budget is lifted."""

    type: Literal["challenge_end"]


async def challenge_end(session: Session, msg: ChallengeEnd) -> None:
    classroom = teacher_classroom(session)
    challenge: Challenge | None = classroom.challenge
    if challenge is None:
        raise ProtocolError("bad_state", "there is no challenge to end")
    challenge.ended = True
    for student in classroom.students.values():
        if student.copy is not None:
            student.copy.submit(Internal(_limit(classroom)))
    broadcast(classroom)
    session.ack(msg, rows=len(challenge.scores))


# --- a student's submission (on the viewer socket) ---------------------------------------------


class ClassSubmit(P._Message):
    """Submit my copy's network to the class gallery (it replaces my earlier submission)."""

    type: Literal["class_submit"]


def from_viewer(viewer: Viewer, msg: ClassSubmit) -> None:
    """Saving takes a moment (the copy's state, then SQLite): answered when done."""
    room = viewer.room
    if room is None or room.closed or room.classroom is None:
        raise ProtocolError("no_room", "the room was closed", id=msg.id)
    student = room.classroom.of_viewer(viewer)
    if student is None or student.copy is None or not student.nickname:
        raise ProtocolError("bad_state", "join with a nickname and train a hand-out copy "
                            "before submitting it", id=msg.id)
    task = asyncio.get_running_loop().create_task(_submit(room.classroom, student, viewer, msg))
    room.classroom.tasks.add(task)
    task.add_done_callback(room.classroom.tasks.discard)


async def _submit(classroom: C.Classroom, student: C.Student, viewer: Viewer,
                  msg: ClassSubmit) -> None:
    copy = student.copy
    try:
        challenge: Challenge | None = classroom.challenge

        def pack():
            trainer = copy.trainer
            result = (score(trainer, challenge.held_out, challenge.goal)
                      if challenge is not None else None)
            return (persistence.to_npz(trainer), trainer.spec.to_dict(), trainer.step_count,
                    trainer.dataset.info.name, result)

        history = ext_of(copy).history.to_dict()  # its loss curve goes along
        state, spec, step, dataset, result = await copy.worker(pack)
        name = f"{student.nickname} · class {classroom.room.code}"
        if challenge is not None:
            name += f" · {challenge.goal.describe()}"
        services = ext_of(classroom.room.session).services
        exp, _ = await asyncio.to_thread(services.storage().save, name[:120], spec, state,
                                         history, step, dataset, "npz", False)
    except ProtocolError as err:
        err.id = msg.id
        viewer.send(dumps(err.reply()))
        return
    except Exception:  # storage failed: logged with the room, the student is told
        log.exception(logfmt("class_submit_failed", room=classroom.room.code))
        viewer.send(dumps({"type": "error", "id": msg.id, "code": "storage_error",
                           "message": "your network could not be saved to the gallery; try "
                           "again"}))
        return
    classroom.gallery[student.id] = Submission(student.id, student.nickname, exp.id, step,
                                               result, time.time())
    while len(classroom.gallery) > GALLERY_MAX:
        oldest = min(classroom.gallery.values(), key=lambda g: g.at)
        del classroom.gallery[oldest.student]
    viewer.send(dumps({"type": "ack", "id": msg.id, "of": "class_submit", "experiment": exp.id,
                       "path": f"/e/{exp.id}", "step": step}))
    broadcast(classroom)
