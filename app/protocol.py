"""Client → server message models (protocol version 1, see docs/protocol.md §2).

Each message is validated into one pydantic model of a discriminated union on ``type``;
:func:`parse_message` turns raw text into a model or a :class:`ProtocolError` whose code and
sentence go back to the client.
"""

from __future__ import annotations

import json
import math
import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from app import PROTOCOL_VERSION, __version__

MAX_STEPS_PER_MESSAGE = 10_000
MAX_SPEED = 100_000.0
MAX_SEED = 2**31 - 1
Id = int | Annotated[str, Field(max_length=64)]


class ProtocolError(Exception):
    """An error reply: a code from docs/protocol.md and a human sentence."""

    def __init__(self, code: str, message: str, details: dict | None = None, id: Any = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details
        self.id = id

    def reply(self) -> dict:
        out = {"type": "error", "id": self.id, "code": self.code, "message": self.message}
        if self.details:
            out["details"] = self.details
        return out


RunId = Annotated[str, Field(min_length=1, max_length=16)]


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False)
    id: Id
    #: Which of the session's runs the message is for (§10); None: the first run.
    run: RunId | None = None


class Configure(_Message):
    type: Literal["configure"]
    spec: dict[str, Any] = Field(default_factory=dict)
    #: The lesson this setup belongs to (engine/lessons), so viewers and replays show its card.
    lesson: Annotated[str, Field(max_length=64)] | None = None


class Play(_Message):
    type: Literal["play"]
    speed: Literal["max"] | Annotated[float, Field(gt=0, le=MAX_SPEED)] = "max"


class Pause(_Message):
    type: Literal["pause"]


class Step(_Message):
    type: Literal["step"]
    n: Annotated[int, Field(ge=1, le=MAX_STEPS_PER_MESSAGE)] = 1


class PhaseStep(_Message):
    type: Literal["phase"]


class Reset(_Message):
    type: Literal["reset"]
    reinitialize: bool = False


class Regenerate(_Message):
    type: Literal["regenerate"]
    seed: Annotated[int, Field(ge=0, le=MAX_SEED)] | None = None


class OptimizerChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Literal["sgd", "momentum", "rmsprop", "adam"]
    momentum: Annotated[float, Field(ge=0, lt=1)] | None = None
    nesterov: bool | None = None
    rho: Annotated[float, Field(ge=0, lt=1)] | None = None
    beta1: Annotated[float, Field(ge=0, lt=1)] | None = None
    beta2: Annotated[float, Field(ge=0, lt=1)] | None = None
    eps: Annotated[float, Field(gt=0, le=1)] | None = None


class SetHyper(_Message):
    type: Literal["set"]
    learning_rate: Annotated[float, Field(gt=0, le=10)] | None = None
    regularization: Literal["none", "l1", "l2"] | None = None
    regularization_rate: Annotated[float, Field(ge=0, le=10)] | None = None
    batch_size: Annotated[int, Field(ge=1)] | None = None
    optimizer: OptimizerChange | None = None


class Probe(_Message):
    """A drawn input (the drawing pad): its values in the data set's units, row-major."""

    type: Literal["probe"]
    input: Annotated[list[float], Field(min_length=1, max_length=4096)]

    @field_validator("input")
    @classmethod
    def _finite(cls, v: list[float]) -> list[float]:
        if not all(math.isfinite(x) for x in v):
            raise ValueError("every value must be a finite number")
        return v


class Select(_Message):
    type: Literal["select"]
    sample: Annotated[int, Field(ge=0)]
    split: Literal["train", "test"] = "train"


class Explain(_Message):
    """A dense weight by (source, target) — source None for the bias — or any layer's named
    parameter by its index (a kernel weight [f, c, i, j], a recurrent weight [i, j])."""

    type: Literal["explain"]
    layer: Annotated[int, Field(ge=0)]
    source: Annotated[int, Field(ge=0)] | None = None
    target: Annotated[int, Field(ge=0)] | None = None
    parameter: Annotated[str, Field(pattern=r"^[a-z_]{1,32}$")] | None = None
    index: Annotated[list[Annotated[int, Field(ge=0, le=1_000_000)]],
                     Field(min_length=1, max_length=4)] | None = None
    sample: Annotated[int, Field(ge=0)] | None = None

    @model_validator(mode="after")
    def _one_way(self) -> Explain:
        if self.parameter is None and self.target is None:
            raise ValueError("name the weight: target (and source), or parameter and index")
        if (self.parameter is None) != (self.index is None):
            raise ValueError("parameter and index go together")
        return self


class Grid(_Message):
    type: Literal["grid"]
    resolution: Annotated[int, Field(ge=8, le=128)] | None = None


class SetWeight(_Message):
    type: Literal["set_weight"]
    layer: Annotated[int, Field(ge=0)]
    source: Annotated[int, Field(ge=0)] | None = None
    target: Annotated[int, Field(ge=0)]
    value: float

    @field_validator("value")
    @classmethod
    def _finite(cls, v: float) -> float:
        if not math.isfinite(v):
            raise ValueError("must be a finite number")
        return v


class SetFps(_Message):
    type: Literal["set_fps"]
    fps: Annotated[float, Field(ge=1)]  # upper bound (max_fps) is a server setting


class SnapshotRequest(_Message):
    type: Literal["snapshot"]


class Ping(_Message):
    type: Literal["ping"]
    t: float | None = None


class Painted(_Message):
    """The page drew the step frame (run, seq): pacing, not a request — no reply (§5)."""

    type: Literal["painted"]
    seq: Annotated[int, Field(ge=0, le=0xFFFFFFFF)]
    #: milliseconds until the page can draw new data again (it throttles redraws while playing)
    ready_in: Annotated[float, Field(ge=0, le=1000)] = 0.0


class Compare(_Message):
    """Fork a run with some settings changed, to train beside it in lockstep (§10)."""

    type: Literal["compare"]
    #: A partial spec laid over the forked run's: {"network": {...}, "training": {...}}.
    changes: dict[str, Any] = Field(default_factory=dict)
    label: Annotated[str, Field(max_length=60)] = ""
    #: True: every run starts again from step 0; False: the fork starts from the run's present
    #: state (only for settings a run can change while training); None: False when possible.
    restart: bool | None = None
    #: "evolution": the fork trains the same network by a genetic algorithm, no gradients
    trainer: Literal["backprop", "evolution"] = "backprop"
    #: the genetic algorithm's settings (engine EvolutionSettings; defaults for what is missing)
    evolution: dict[str, Any] | None = None


class CloseRun(_Message):
    type: Literal["close_run"]


class PromoteRun(_Message):
    """Make a run the first one (the one shown alone, saved and handed out by default)."""

    type: Literal["promote_run"]


CORE_MESSAGES = (
    Configure, Play, Pause, Step, PhaseStep, Reset, Regenerate, SetHyper, Select, Explain,
    Grid, SetWeight, SetFps, SnapshotRequest, Ping, Painted, Compare, CloseRun, PromoteRun,
)


def type_of(model: type[BaseModel]) -> str:
    """The `type` a message model accepts (its Literal)."""
    return model.model_fields["type"].annotation.__args__[0]


class _NotFinite(ValueError):
    pass


def _no_constant(name: str):
    # Python's json accepts NaN, Infinity and -Infinity; JSON does not.
    raise _NotFinite(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotFinite(f"the number {text[:40]} is too large")
    return value


def parse_message(text: str | bytes) -> BaseModel:
    """Raw text → a validated message; raises ProtocolError (with the id when known)."""
    if isinstance(text, bytes):
        raise ProtocolError("invalid_message", "binary messages are not accepted; send JSON text")
    try:
        raw = json.loads(text, parse_constant=_no_constant, parse_float=_finite_float)
    except _NotFinite as err:
        raise ProtocolError("invalid_json", f"the message is not valid JSON: {err}") from None
    except (ValueError, RecursionError):  # JSONDecodeError; ints over 4300 digits; nesting
        raise ProtocolError("invalid_json", "the message is not valid JSON") from None
    if not isinstance(raw, dict):
        raise ProtocolError("invalid_json", "the message must be a JSON object")
    if "\\u" in text and (where := _lone_surrogate(raw)) is not None:
        # JSON escapes can spell a lone surrogate, which is not text: no reply quoting it
        # could be sent, so it is refused here (and the id is not echoed if it is the culprit).
        msg_id = raw.get("id") if where != "id" else None
        raise ProtocolError("invalid_message", f"{where}: not valid text (a lone surrogate "
                            "escape such as \\ud800)",
                            id=msg_id if isinstance(msg_id, int | str) else None)
    msg_id = raw.get("id")
    if not isinstance(msg_id, int | str) or isinstance(msg_id, bool):
        msg_id = None
    from app.wiring import ROUTES  # the one table of message types (it imports this module)

    kind = raw.get("type")
    route = ROUTES.get(kind) if isinstance(kind, str) else None
    if route is None:
        shown = repr(kind) if isinstance(kind, str) else "missing"
        raise ProtocolError(
            "unknown_type",
            f"unknown message type {shown[:80]}; expected one of: {', '.join(ROUTES)}",
            id=msg_id,
        )
    try:
        return route.model.model_validate(raw)
    except ValidationError as err:
        problems = [[_path(e["loc"]), e["msg"]] for e in err.errors()]
        sentence = "; ".join(f"{p}: {m}" for p, m in problems[:5])
        raise ProtocolError(
            "invalid_message",
            f"invalid {kind} message: {sentence}",
            {"problems": problems},
            id=msg_id,
        ) from None


_SURROGATE = re.compile("[\ud800-\udfff]")


def _lone_surrogate(raw: Any) -> str | None:
    """The path of the first string (or key) holding a lone surrogate, or None."""
    stack: list[tuple[Any, str]] = [(raw, "")]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return path or "message"
        elif isinstance(item, dict):
            for key, value in item.items():
                where = f"{path}.{key}" if path else str(key)
                if _SURROGATE.search(key):
                    return path or "message"
                stack.append((value, where))
        elif isinstance(item, list):
            stack.extend((v, f"{path}[{i}]") for i, v in enumerate(item))
    return None


def _path(loc: tuple) -> str:
    return ".".join(str(p) for p in loc) or "message"


__all__ = ["PROTOCOL_VERSION", "ProtocolError", "parse_message", "CORE_MESSAGES", "type_of"]


def welcome(settings: Any, **fields: Any) -> dict[str, Any]:
    """The first message on every socket (§3 `welcome`): the protocol, the caller's fields
    (token, resumed, role, room …) and the server's rates and limits."""
    return {
        "type": "welcome",
        "protocol": PROTOCOL_VERSION,
        **fields,
        "session_ttl": settings.session_ttl,
        "server": {
            "version": __version__,
            "display_fps": settings.display_fps,
            "max_fps": settings.max_fps,
            "grid_fps": settings.grid_fps,
            "grid_resolution": settings.grid_resolution,
            "max_message_bytes": settings.max_message_bytes,
        },
    }
