"""Ready-made lessons: one setup per idea a course teaches, where to look, how fast to play it.

Each lesson is one JSON file in this directory (its name is the file's stem, which is also what
``#lesson=<name>`` links and the catalog use). A file holds::

    {
      "order": 30,                   # place in the menu (teaching order), unique
      "title": "Learning rate too low",
      "concept": "learning rate",    # the course topic, shown beside the title
      "look_for": "…",               # the sentence telling the learner where the idea shows
      "speed": 10,                   # steps per second the page should play the lesson at
      "watch_seconds": 60,           # how long a learner watches it: speed × this = steps shown
      "spec": {…},                   # a partial spec; the rest takes the defaults
      "compare": [                   # optional: up to 3 runs to train beside it, in lockstep
        {"changes": {…}, "label": "ReLU"},              # the spec with these settings changed
        {"trainer": "evolution", "evolution": {…}}      # or a genetic algorithm, no gradients
      ]
    }

Files are untrusted like every spec: they are validated on load (unknown or missing fields,
types, ranges, and the spec through :meth:`engine.spec.Spec.from_dict`), and a bad one stops the
import with a :class:`LessonError` naming the file and the field. ``tests/engine/test_lessons.py``
trains every lesson for the steps a learner watches at its own speed and checks that it shows
what it claims there, so a teacher can trust the button.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.evolution import EvolutionSettings
from engine.spec import Spec, SpecError, overlay

LESSONS_DIR = Path(__file__).parent

# The page's playback runs from one step a second to its "max" setting; a lesson needs a number
# (its watched steps follow from it), and more than 1000 steps a second is no longer watching.
MAX_LESSON_SPEED = 1000.0
MAX_WATCH_SECONDS = 600.0

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_TEXT_FIELDS = ("title", "concept", "look_for")
_REQUIRED = ("order", "title", "concept", "look_for", "speed", "watch_seconds", "spec")
_OPTIONAL = ("compare",)
_COMPARE_FIELDS = ("trainer", "changes", "evolution", "label")
MAX_COMPARED = 3  # a session holds four runs side by side


class LessonError(ValueError):
    """A lesson file that cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class Lesson:
    name: str
    title: str
    concept: str
    look_for: str
    spec: dict[str, Any]
    speed: float  # steps per second the page plays the lesson at
    watch_seconds: float  # how long a learner watches it at that speed
    order: int = 0
    #: runs to train beside the lesson's (the `compare` message's fields), in order
    compare: tuple[dict[str, Any], ...] = ()

    @property
    def steps_watched(self) -> int:
        """The steps a learner sees: the budget within which the lesson must show its claim."""
        return int(self.speed * self.watch_seconds)


def load_lesson(path: Path) -> Lesson:
    """Read and validate one lesson file; raises LessonError naming the file and the field."""
    where = path.name
    name = path.stem
    if not _NAME.match(name):
        raise LessonError(
            f"{where}: the file name must be a lesson name: lower-case letters, digits and _"
        )
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise LessonError(f"{where}: not readable JSON ({error})") from error
    if not isinstance(raw, dict):
        raise LessonError(f"{where}: must hold a JSON object")
    unknown = sorted(set(raw) - set(_REQUIRED) - set(_OPTIONAL))
    if unknown:
        raise LessonError(f"{where}: unknown field {unknown[0]!r} (allowed: "
                          f"{', '.join(_REQUIRED + _OPTIONAL)})")
    missing = [key for key in _REQUIRED if key not in raw]
    if missing:
        raise LessonError(f"{where}: missing field {missing[0]!r}")
    for key in _TEXT_FIELDS:
        if not isinstance(raw[key], str) or not raw[key].strip():
            raise LessonError(f"{where}: field {key!r} must be a non-empty string")
    order = raw["order"]
    if isinstance(order, bool) or not isinstance(order, int):
        raise LessonError(f"{where}: field 'order' must be a whole number")
    speed = _number(raw["speed"], where, "speed", MAX_LESSON_SPEED)
    watch = _number(raw["watch_seconds"], where, "watch_seconds", MAX_WATCH_SECONDS)
    if not isinstance(raw["spec"], dict):
        raise LessonError(f"{where}: field 'spec' must be a JSON object (a partial spec)")
    try:
        Spec.from_dict(raw["spec"])
    except SpecError as error:
        found = "; ".join(f"{field}: {message}" for field, message in error.problems)
        raise LessonError(f"{where}: field 'spec' → {found}") from error
    compare = _compared(raw.get("compare", []), raw["spec"], where)
    return Lesson(
        name=name,
        compare=compare,
        title=raw["title"],
        concept=raw["concept"],
        look_for=raw["look_for"],
        spec=raw["spec"],
        speed=speed,
        watch_seconds=watch,
        order=order,
    )


def _compared(raw: Any, spec: dict[str, Any], where: str) -> tuple[dict[str, Any], ...]:
    """The runs a lesson trains beside its own, each checked as the server checks `compare`."""
    if not isinstance(raw, list) or len(raw) > MAX_COMPARED:
        raise LessonError(f"{where}: field 'compare' must be a list of at most {MAX_COMPARED}")
    base = Spec.from_dict(spec).to_dict()
    out = []
    for i, entry in enumerate(raw):
        at = f"{where}: compare[{i}]"
        if not isinstance(entry, dict):
            raise LessonError(f"{at} must be a JSON object")
        unknown = sorted(set(entry) - set(_COMPARE_FIELDS))
        if unknown:
            raise LessonError(f"{at}: unknown field {unknown[0]!r} (allowed: "
                              f"{', '.join(_COMPARE_FIELDS)})")
        trainer = entry.get("trainer", "backprop")
        if trainer not in ("backprop", "evolution"):
            raise LessonError(f"{at}: 'trainer' must be \"backprop\" or \"evolution\"")
        changes = entry.get("changes", {})
        if not isinstance(changes, dict) or set(changes) - {"network", "training"}:
            raise LessonError(f"{at}: 'changes' may change network and training settings only")
        if not isinstance(entry.get("label", ""), str) or len(entry.get("label", "")) > 60:
            raise LessonError(f"{at}: 'label' must be a string of at most 60 characters")
        if "evolution" in entry and trainer != "evolution":
            raise LessonError(f"{at}: 'evolution' settings need \"trainer\": \"evolution\"")
        try:
            Spec.from_dict(overlay(base, changes))
            if trainer == "evolution":
                EvolutionSettings.from_dict(entry.get("evolution", {}))
        except (SpecError, TypeError) as error:
            raise LessonError(f"{at} → {error}") from error
        out.append(dict(entry))
    return tuple(out)


def _number(value: Any, where: str, key: str, most: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise LessonError(f"{where}: field {key!r} must be a number, got {value!r}")
    if not 0 < value <= most:
        raise LessonError(f"{where}: field {key!r} must be above 0 and at most {most:g}")
    return value


def load_lessons(directory: Path = LESSONS_DIR) -> dict[str, Lesson]:
    """Every ``*.json`` lesson of a directory, in teaching order (their ``order`` field)."""
    lessons = [load_lesson(path) for path in sorted(directory.glob("*.json"))]
    seen: dict[int, str] = {}
    for lesson in lessons:
        if lesson.order in seen:
            raise LessonError(
                f"{lesson.name}.json: field 'order' {lesson.order} is taken by "
                f"{seen[lesson.order]}.json"
            )
        seen[lesson.order] = lesson.name
    return {lesson.name: lesson for lesson in sorted(lessons, key=lambda item: item.order)}


LESSONS: dict[str, Lesson] = load_lessons()
