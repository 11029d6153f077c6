"""Binary frame encoding (docs/protocol.md §4) and NaN-safe JSON.

Layout, little-endian::

    "PSF1" | u8 version | u8 kind | u16 n_arrays | u32 seq | u32 step | u32 json_len
    | JSON header (UTF-8) | spaces to a multiple of 4 | float32 arrays back to back

``header["arrays"]`` lists ``[name, shape]`` in data order.
"""

from __future__ import annotations

import json
import math
import re
import struct
from collections.abc import Iterable

import numpy as np

from app import PROTOCOL_VERSION

MAGIC = b"PSF1"
KIND_STEP, KIND_GRID, KIND_PHASE, KIND_LINE, KIND_POINTS, KIND_PROBE = 1, 2, 3, 4, 5, 6
#: Frame kinds where only the newest matters: a newer one may replace a queued older one.
COALESCED_KINDS = frozenset((KIND_STEP, KIND_GRID, KIND_LINE, KIND_POINTS))
_PREFIX = struct.Struct("<4sBBHIII")  # 20 bytes
PREFIX_SIZE = _PREFIX.size
_F32 = np.dtype("<f4")


def clean(value):
    """JSON-safe copy: NaN/±Inf → None, numpy scalars/arrays → Python, tuples → lists."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "f" and not np.isfinite(value).all():
            return clean(value.tolist())
        return value.tolist()
    if isinstance(value, np.floating):
        return clean(float(value))
    if isinstance(value, np.integer | np.bool_):
        return value.item()
    return value


_SURROGATE = re.compile("[\ud800-\udfff]")


def dumps(message: dict) -> str:
    """JSON text for a message; never emits NaN or Infinity (they become null), and is always
    valid text: a lone surrogate (which cannot be encoded as UTF-8, so no socket could send the
    message) is written as a JSON escape instead."""
    try:
        text = json.dumps(message, allow_nan=False, separators=(",", ":"), ensure_ascii=False)
    except (ValueError, TypeError):
        message = clean(message)
        text = json.dumps(message, allow_nan=False, separators=(",", ":"), ensure_ascii=False)
    if not text.isascii() and _SURROGATE.search(text):  # isascii() is O(1) on str
        text = json.dumps(message, allow_nan=False, separators=(",", ":"), ensure_ascii=True)
    return text


class Text(str):
    """An encoded JSON message that knows its type (taps and recordings route by it without
    parsing); on the wire it is just its text."""

    type: str | None
    run: str | None  # the run it is about, if any (docs/protocol.md §10)

    def __new__(cls, text: str, type: str | None, run: str | None = None) -> Text:
        message = super().__new__(cls, text)
        message.type = type
        message.run = run
        return message


def text(message: dict) -> Text:
    """A message encoded once, for every socket and recording it goes to."""
    return Text(dumps(message), message.get("type"), message.get("run"))


class Frame(bytes):
    """An encoded binary frame that knows its kind and run (senders coalesce by them without
    parsing); on the wire it is just its bytes."""

    kind: int
    run: str | None

    def __new__(cls, data: bytes, kind: int, run: str | None = None) -> Frame:
        frame = super().__new__(cls, data)
        frame.kind = kind
        frame.run = run
        return frame

    @property
    def seq(self) -> int:
        """The frame's sequence number (from its prefix), e.g. for pacing (app/pacing.py)."""
        return _PREFIX.unpack_from(self, 0)[4]

    @property
    def newest_wins(self) -> tuple[int, str | None] | None:
        """What a newer frame replaces a queued one by — (kind, run) — or None: never."""
        return (self.kind, self.run) if self.kind in COALESCED_KINDS else None


def encode_frame(
    kind: int,
    seq: int,
    step: int,
    header: dict,
    arrays: Iterable[tuple[str, np.ndarray]],
) -> Frame:
    """One binary frame: prefix, JSON header (with the array directory), float32 data."""
    names_shapes = []
    blobs = []
    for name, array in arrays:
        a = np.ascontiguousarray(array, dtype=_F32)
        names_shapes.append([name, list(a.shape)])
        blobs.append(a.tobytes())
    head = dict(header)
    head["arrays"] = names_shapes
    text = dumps(head).encode()
    pad = (-(PREFIX_SIZE + len(text))) % 4
    prefix = _PREFIX.pack(
        MAGIC, PROTOCOL_VERSION, kind, len(blobs), seq & 0xFFFFFFFF, step & 0xFFFFFFFF,
        len(text),
    )
    return Frame(b"".join((prefix, text, b" " * pad, *blobs)), kind, header.get("run"))


def decode_frame(data: bytes) -> tuple[dict, dict[str, np.ndarray]]:
    """The reverse of encode_frame (used by the server's own tests and the bench)."""
    magic, version, kind, count, seq, step, json_len = _PREFIX.unpack_from(data, 0)
    if magic != MAGIC:
        raise ValueError("not a Propscope frame")
    header = json.loads(data[PREFIX_SIZE : PREFIX_SIZE + json_len])
    header.update(kind=kind, seq=seq, step=step, version=version)
    offset = PREFIX_SIZE + json_len
    offset += (-offset) % 4
    arrays = {}
    for name, shape in header["arrays"]:
        n = int(np.prod(shape)) if shape else 1
        arrays[name] = np.frombuffer(data, _F32, n, offset).reshape(shape)
        offset += 4 * n
    if count != len(arrays):
        raise ValueError("array count does not match the header")
    return header, arrays
