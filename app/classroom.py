"""The class roster of a room: who the students are, their hand-out copies, the teacher's locks.

Plain records and functions (docs/protocol.md §9.8). A :class:`Classroom` hangs on a room
(``room.classroom``); app/classroom_messages.py turns messages into calls of these functions and
app/rooms.py calls the hooks (a hand-out, a viewer leaving). What the teacher's dashboard shows is
read from each copy as it is — its step, its latest evaluation (the one its own ``metrics``
carried), its spec, and its newest grid frame (quantised small) — never computed again.
"""

from __future__ import annotations

import asyncio
import base64
import copy as copying
import csv
import dataclasses
import io
import secrets
import unicodedata
from typing import TYPE_CHECKING, Any

import numpy as np

from app.frames import KIND_GRID, Frame, decode_frame
from app.protocol import ProtocolError
from app.storage import hash_token

if TYPE_CHECKING:
    from app.rooms import Room, Viewer
    from app.session import Session

NICKNAME_MAX = 24
MAX_STUDENTS = 500  # named devices a room remembers (present, or away with a copy kept)
THUMB_SIZE = 16  # cells a side of a dashboard thumbnail (from the copy's own grid frame)
THUMBS_PER_TICK = 16  # thumbnails made again at most per tick (the longest-waiting first)
DASHBOARD_S = 0.5  # the teacher's dashboard: one message at most this often
LOCK_REASON = "locked by your teacher"

#: The controls a teacher can lock (and push): name → what the student reads.
LOCKABLE = {
    "learning_rate": "learning rate",
    "optimizer": "optimiser",
    "batch_size": "batch size",
    "regularization": "regularisation",
    "activation": "activation",
    "network": "layers and neurons",
    "data": "data",
    "training": "play and step",
}
#: Controls a push sets on a copy while it trains (the others rebuild it at step 0).
LIVE_PUSH = ("learning_rate", "optimizer", "batch_size", "regularization")

#: Spec paths → the control they belong to (the first matching prefix wins).
_CONTROL_OF = (
    ("training.optimizer.learning_rate", "learning_rate"),
    ("training.optimizer", "optimizer"),
    ("training.batch_size", "batch_size"),
    ("training.regularization", "regularization"),
    ("network.output_activation", "activation"),
    ("network.hidden", "network"),
    ("network.layers", "network"),
    ("network", "network"),
    ("data", "data"),
)

#: How a changed setting is named on the dashboard (the rest: the path in words).
_LABELS = {
    "training.optimizer.learning_rate": "learning rate",
    "training.optimizer.name": "optimiser",
    "training.batch_size": "batch size",
    "training.regularization": "regularisation",
    "training.regularization_rate": "regularisation rate",
    "network.output_activation": "output activation",
    "data.dataset": "data set",
    "data.noise": "noise",
}


@dataclasses.dataclass
class Student:
    """One device in the room: its nickname, its socket (None while away) and its copy."""

    id: str  # public: what the teacher's messages name (never the device token)
    device: str  # the credential the device keeps to get its copy back
    nickname: str
    viewer: Viewer | None = None
    copy: Session | None = None
    grid: Frame | None = None  # the copy's newest grid frame (a reference, kept by a tap)
    thumb_of: Frame | None = None
    thumb: dict | None = None
    thumb_tick: int = -1  # the tick its thumbnail was made in
    spec_seen: Any = None  # a copy of the copy's spec when `changed` was worked out
    baseline_seen: int = -1
    changed: list = dataclasses.field(default_factory=list)
    #: After a restart: the SHA-256 of the device token (the token itself is never kept)
    restored_device: str | None = None

    def watch(self, message: Any) -> None:
        """A tap on the copy: keep the newest grid frame of its first run (no work here)."""
        copy = self.copy
        if type(message) is Frame and message.kind == KIND_GRID and copy is not None \
                and message.run == copy.run.id:
            self.grid = message


@dataclasses.dataclass
class Classroom:
    room: Room
    students: dict[str, Student] = dataclasses.field(default_factory=dict)  # by device token
    baseline: dict | None = None  # the spec handed out (and pushed since): what "changed" means
    baseline_version: int = 0
    ticks: int = 0
    locks: set[str] = dataclasses.field(default_factory=set)
    projected: Student | None = None
    hide_names: bool = False
    last_dashboard: str | None = None
    ticker: asyncio.Task | None = None  # the dashboard's (app/classroom_messages.py)
    challenge: Any = None  # the class challenge (app/challenges.py Challenge), if one is set
    gallery: dict[str, Any] = dataclasses.field(default_factory=dict)  # submissions by student
    last_board: tuple[str, str] | None = None  # the leaderboard last sent (teacher, students)
    tasks: set[asyncio.Task] = dataclasses.field(default_factory=set)  # submissions saving

    def by_id(self, student_id: str) -> Student:
        for s in self.students.values():
            if s.id == student_id:
                return s
        raise ProtocolError("unknown_student", f"there is no student {student_id[:16]!r} in "
                            "this room")

    def of_viewer(self, viewer: Viewer) -> Student | None:
        for s in self.students.values():
            if s.viewer is viewer:
                return s
        return None

    def of_copy(self, copy: Session) -> Student | None:
        for s in self.students.values():
            if s.copy is copy:
                return s
        return None


def set_baseline(classroom: Classroom, spec: dict) -> None:
    """What a copy's settings are compared with (the hand-out, then every push)."""
    classroom.baseline = spec
    classroom.baseline_version += 1


def restored_key(device_hash: str) -> str:
    """Where a restored student waits in the roster until its device comes back."""
    return f"restored:{device_hash}"


def step_budget(classroom: Classroom) -> int | None:
    """The class challenge's step budget for every copy (None: no limit)."""
    challenge = classroom.challenge
    if challenge is None or challenge.ended:
        return None
    return challenge.goal.steps


def classroom_of(room: Room) -> Classroom:
    """The room's roster, made on first use."""
    if room.classroom is None:
        room.classroom = Classroom(room)
    return room.classroom


# --- nicknames --------------------------------------------------------------------------------


def clean_nickname(raw: str) -> str:
    """The nickname as shown: NFC, trimmed, 1–24 characters of printable text."""
    name = unicodedata.normalize("NFC", raw).strip()
    if not name:
        raise ProtocolError("invalid_nickname", "type a nickname (1 to 24 characters)")
    if len(name) > NICKNAME_MAX:
        raise ProtocolError("invalid_nickname", f"the nickname is {len(name)} characters long; "
                            f"at most {NICKNAME_MAX}")
    for ch in name:
        if unicodedata.category(ch)[0] == "C" and ch != "\u200d":  # controls, unassigned…
            raise ProtocolError("invalid_nickname", "the nickname may hold letters, digits, "
                                "spaces, punctuation and emoji, not control characters")
    return name


def join(classroom: Classroom, viewer: Viewer, nickname: str | None,
         device: str | None) -> tuple[Student, bool]:
    """A viewer names itself (or comes back with its device token): → (student, came back)."""
    known = classroom.students.get(device) if device else None
    if known is not None and known.device != device:  # an anonymous entry's key is no token
        known = None
    if known is None and device:  # a student of a room restored after a restart
        known = classroom.students.pop(restored_key(hash_token(device)), None)
        if known is not None:
            known.device, known.restored_device = device, None
            classroom.students[device] = known
    if known is not None:
        if nickname is not None:
            rename(classroom, known, nickname)
        take_over(known, viewer)
        return known, True
    if nickname is None:
        raise ProtocolError("invalid_nickname", "type a nickname to join the class")
    name = clean_nickname(nickname)
    current = classroom.of_viewer(viewer)
    if current is not None:
        rename(classroom, current, name)
        return current, False
    require_unique(classroom, name, None)
    if len(classroom.students) >= MAX_STUDENTS:
        raise ProtocolError("room_full", f"the class already has {len(classroom.students)} "
                            "students, its limit")
    student = Student(secrets.token_hex(4), secrets.token_urlsafe(18), name, viewer=viewer)
    classroom.students[student.device] = student
    return student, False


def rename(classroom: Classroom, student: Student, nickname: str) -> None:
    name = clean_nickname(nickname)
    require_unique(classroom, name, student)
    student.nickname = name


def require_unique(classroom: Classroom, name: str, mine: Student | None) -> None:
    folded = name.casefold()
    for s in classroom.students.values():
        if s is not mine and s.nickname.casefold() == folded:
            raise ProtocolError("nickname_taken", f"{name!r} is already taken in this room; "
                                "choose another nickname (add a letter or a number)")


def take_over(student: Student, viewer: Viewer) -> None:
    """The device's new socket replaces its old one (a reconnect, a reloaded page)."""
    old = student.viewer
    student.viewer = viewer
    if old is not None and old is not viewer and old.private is student.copy:
        old.private = None
        if student.copy is not None:
            student.copy.detach(old.conn)


# --- the dashboard ----------------------------------------------------------------------------


def flatten(spec: dict, prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}, "l": [{"c": 2}]} → {"a.b": 1, "l.0.c": 2}: settings by path."""
    out: dict[str, Any] = {}
    for key, value in spec.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, path + "."))
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            out.update(flatten({str(i): v for i, v in enumerate(value)}, path + "."))
        else:
            out[path] = value
    return out


def label_of(path: str) -> str:
    if path in _LABELS:
        return _LABELS[path]
    parts = path.split(".")
    if len(parts) == 4 and parts[:2] == ["network", "hidden"]:
        return f"layer {int(parts[2]) + 1} {parts[3]}"
    return " ".join(p.replace("_", " ") for p in parts[1:] or parts)


def shown(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if value is None:
        return "none"
    if isinstance(value, list):
        return ", ".join(map(shown, value)) or "none"
    return str(value)


def changed_settings(baseline: dict, spec: dict) -> list[dict]:
    """What a copy's spec changed from the teacher's, setting by setting, in spec order."""
    before, after = flatten(baseline), flatten(spec)
    out = []
    for path in [*after, *(p for p in before if p not in after)]:
        old, new = before.get(path), after.get(path)
        if old == new:
            continue
        label = label_of(path)
        text = (f"{label} {shown(old)} → {shown(new)}" if path in before and path in after
                else f"{label} {'removed' if path not in after else 'added: ' + shown(new)}")
        out.append({"setting": path, "label": label, "from": old, "to": new, "text": text})
    return out


def control_of(path: str) -> str | None:
    if path.startswith("network.hidden.") and path.endswith(".activation"):
        return "activation"
    for prefix, control in _CONTROL_OF:
        if path == prefix or path.startswith(prefix + "."):
            return control
    return None


def thumbnail(student: Student) -> dict | None:
    """The copy's newest grid frame made small: the output over the input plane, 16×16 cells,
    quantised to bytes (one output: its value on the activation's range; several: the class
    with the largest output). Decoded only when a new frame came since the last one."""
    frame, copy = student.grid, student.copy
    if frame is None or copy is None:
        return None
    if frame is student.thumb_of:
        return student.thumb
    header, arrays = decode_frame(frame)
    student.thumb_of = frame
    outputs = [k for k in arrays if k.startswith("activation.")]
    if not outputs:
        return None
    out = arrays[max(outputs, key=lambda k: int(k.split(".")[1]))]
    r = out.shape[-1]
    idx = np.linspace(0, r - 1, min(THUMB_SIZE, r)).round().astype(int)
    small = out[:, idx][:, :, idx].astype(np.float64)
    if small.shape[0] == 1:
        activation = copy.trainer.spec.network.output_activation
        lo, hi = {"tanh": (-1.0, 1.0), "sigmoid": (0.0, 1.0)}.get(
            activation, (float(np.nanmin(small)), float(np.nanmax(small))))
        span = hi - lo if hi > lo else 1.0
        cells = np.clip(np.nan_to_num((small[0] - lo) / span, nan=0.5), 0, 1) * 255
        kind, classes = "value", 1
    else:
        cells = np.argmax(np.nan_to_num(small, nan=-np.inf), axis=0)
        kind, classes = "class", int(small.shape[0])
    student.thumb = {"size": int(cells.shape[0]), "kind": kind, "classes": classes,
                     "step": header["step"],
                     "cells": base64.b64encode(cells.round().astype(np.uint8).tobytes()).decode()}
    return student.thumb


def row(classroom: Classroom, student: Student) -> dict:
    """One line of the dashboard: the copy's own numbers as the engine gave them."""
    copy = student.copy
    base = {"id": student.id, "nickname": student.nickname,
            "connected": student.viewer is not None, "has_copy": copy is not None,
            "step": None, "train_loss": None, "test_loss": None, "accuracy": None,
            "playing": False, "changed": [], "thumb": None}
    if copy is None:
        return base
    last = copy.run.last_eval or {}
    spec = copy.trainer.spec
    if student.spec_seen != spec or student.baseline_seen != classroom.baseline_version:
        # worked out again only when the copy's settings (or the reference) changed
        now = spec.to_dict()
        student.changed = changed_settings(classroom.baseline or now, now)
        student.spec_seen = copying.deepcopy(spec)
        student.baseline_seen = classroom.baseline_version
    base.update(
        step=copy.run.step,
        train_loss=last.get("train_loss"),
        test_loss=last.get("test_loss"),
        accuracy=last.get("test_accuracy", last.get("train_accuracy")),
        eval_step=last.get("step"),
        playing=copy.playing,
        changed=student.changed,
        thumb=student.thumb if student.copy is not None else None,
    )
    if base["accuracy"] is None:
        base["accuracy"] = last.get("train_accuracy")
    return base


def refresh_thumbnails(classroom: Classroom) -> None:
    """At most THUMBS_PER_TICK thumbnails from new grid frames, those waiting longest first:
    a tick costs the same with 40 copies playing as with 250."""
    stale = [s for s in classroom.students.values()
             if s.copy is not None and s.grid is not None and s.grid is not s.thumb_of]
    stale.sort(key=lambda s: s.thumb_tick)
    for student in stale[:THUMBS_PER_TICK]:
        thumbnail(student)
        student.thumb_tick = classroom.ticks


def dashboard(classroom: Classroom) -> dict:
    classroom.ticks += 1
    refresh_thumbnails(classroom)
    projected = classroom.projected
    return {
        "type": "class_dashboard",
        "code": classroom.room.code,
        "rows": [row(classroom, s) for s in classroom.students.values()
                 if s.copy is not None or s.viewer is not None],
        "projected": projected.id if projected is not None else None,
        "hide_names": classroom.hide_names,
        "locks": sorted(classroom.locks),
        "lockable": LOCKABLE,
    }


def locks_message(classroom: Classroom) -> dict:
    """What a student's page is told: which controls are locked, and why."""
    return {"type": "class_locks",
            "locks": [{"control": c, "label": LOCKABLE[c], "reason": LOCK_REASON}
                      for c in sorted(classroom.locks)]}


# --- locks: what a student's message would change ----------------------------------------------


def controls_touched(msg: Any, spec: dict) -> set[str]:
    """The lockable controls a message to a copy would change (`spec`: the copy's, as a dict)."""
    kind = msg.type
    if kind == "set":
        touched = set()
        if msg.learning_rate is not None:
            touched.add("learning_rate")
        if msg.optimizer is not None:
            touched.add("optimizer")
        if msg.batch_size is not None:
            touched.add("batch_size")
        if msg.regularization is not None or msg.regularization_rate is not None:
            touched.add("regularization")
        return touched
    if kind in ("play", "step", "phase", "reset"):
        return {"training"}
    if kind == "regenerate":
        return {"data"}
    if kind == "set_weight":
        return {"network"}
    if kind in ("open", "open_import", "configure_csv"):
        return {"network", "data", "activation"}
    if kind == "configure":
        return _spec_controls(spec, msg.spec, whole=True)
    if kind == "compare":
        return _spec_controls(spec, msg.changes, whole=False)
    return set()


def _spec_controls(spec: dict, wanted: dict, whole: bool) -> set[str]:
    """Controls whose settings differ between the copy's spec and the one asked for (a whole
    spec for configure, a partial one for compare; what cannot be read counts as everything)."""
    from engine.spec import Spec

    try:
        if whole:
            new = flatten(Spec.from_dict(wanted).to_dict())
        else:
            merged = flatten(spec)
            merged.update(flatten(wanted if isinstance(wanted, dict) else {}))
            new = merged
    except (ValueError, TypeError):
        return set(LOCKABLE)  # an unreadable spec is refused by its handler if not by a lock
    old = flatten(spec)
    touched = set()
    for path in set(old) | set(new):
        if old.get(path) != new.get(path) and (control := control_of(path)) is not None:
            touched.add(control)
    return touched


def refusal(classroom: Classroom, msg: Any, spec: dict) -> ProtocolError | None:
    """The error for a student's message that would change a locked control, or None."""
    hit = sorted(controls_touched(msg, spec) & classroom.locks)
    if not hit:
        return None
    names = ", ".join(LOCKABLE[c] for c in hit)
    verb = "is" if len(hit) == 1 else "are"
    return ProtocolError("locked", f"the {names} {verb} {LOCK_REASON}; it stays as it is until "
                         "the teacher releases it", {"controls": hit}, id=msg.id)


# --- export -----------------------------------------------------------------------------------

CSV_COLUMNS = ("nickname", "changed settings", "step", "train loss", "test loss", "accuracy")
#: With a class challenge: its goal and each copy's score on the held-out draw.
CHALLENGE_COLUMNS = ("challenge", "held-out loss", "held-out accuracy", "parameters", "goal met",
                     "not scored because")


def safe_cell(value: Any) -> str:
    """A cell a spreadsheet shows as text: one starting = + - @ (a formula) gets a quote."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):  # a number stays a number (−0.5 is no formula)
        return f"{value:.6g}" if isinstance(value, float) else str(value)
    text = str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


def results_csv(classroom: Classroom) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    challenge = classroom.challenge
    writer.writerow(CSV_COLUMNS + (CHALLENGE_COLUMNS if challenge is not None else ()))
    for r in dashboard(classroom)["rows"]:
        cells = [r["nickname"], "; ".join(c["text"] for c in r["changed"]), r["step"],
                 r["train_loss"], r["test_loss"], r["accuracy"]]
        if challenge is not None:
            result = challenge.scores.get(r["id"])
            cells.append(challenge.goal.describe())
            cells += ([None] * 5 if result is None else [
                result.loss, result.accuracy, result.parameters, result.meets, result.not_scored])
        writer.writerow([safe_cell(v) for v in cells])
    return out.getvalue()
