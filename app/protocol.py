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

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

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


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False)
    id: Id


class Configure(_Message):
    type: Literal["configure"]
    spec: dict[str, Any] = Field(default_factory=dict)


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


class Select(_Message):
    type: Literal["select"]
    sample: Annotated[int, Field(ge=0)]
    split: Literal["train", "test"] = "train"


class Explain(_Message):
    type: Literal["explain"]
    layer: Annotated[int, Field(ge=0)]
    source: Annotated[int, Field(ge=0)] | None = None
    target: Annotated[int, Field(ge=0)]
    sample: Annotated[int, Field(ge=0)] | None = None


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


ClientMessage = Annotated[
    Configure | Play | Pause | Step | PhaseStep | Reset | Regenerate | SetHyper | Select
    | Explain | Grid | SetWeight | SetFps | SnapshotRequest | Ping,
    Field(discriminator="type"),
]
MESSAGE_TYPES = (
    "configure", "play", "pause", "step", "phase", "reset", "regenerate", "set", "select",
    "explain", "grid", "set_weight", "set_fps", "snapshot", "ping",
)
_adapter: TypeAdapter = TypeAdapter(ClientMessage)
#: More message types, registered by other modules (app/rooms.py, app/experiments.py):
#: type name → pydantic model. Their handlers live on the model (``async handle(session)``).
EXTRA_MESSAGES: dict[str, type[BaseModel]] = {}


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
    kind = raw.get("type")
    extra = EXTRA_MESSAGES.get(kind) if isinstance(kind, str) else None
    if kind not in MESSAGE_TYPES and extra is None:
        shown = repr(kind) if isinstance(kind, str) else "missing"
        known = ", ".join((*MESSAGE_TYPES, *EXTRA_MESSAGES))
        raise ProtocolError(
            "unknown_type",
            f"unknown message type {shown[:80]}; expected one of: {known}",
            id=msg_id,
        )
    try:
        if extra is not None:
            return extra.model_validate(raw)
        return _adapter.validate_python(raw)
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
    # Drop the discriminator tag pydantic puts first ("configure", …).
    parts = [str(p) for p in loc]
    if parts and parts[0] in MESSAGE_TYPES:
        parts = parts[1:]
    return ".".join(parts) or "message"


__all__ = ["PROTOCOL_VERSION", "ProtocolError", "parse_message", "ClientMessage", "MESSAGE_TYPES"]


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
