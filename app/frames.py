"""Binary frame encoding (docs/protocol.md §4) and NaN-safe JSON.

Layout, little-endian::

    "PSF1" | u8 version | u8 kind | u16 n_arrays | u32 seq | u32 step | u32 schema_id
    | u32 schema_len | u32 json_len | schema JSON | JSON header | spaces to a multiple of 8
    | float64 header values | arrays (float32; uint8 with per-plane float32 ranges for what is
    only drawn; float64 for a snapshot's parameter parts)

The *schema* — array names, shapes and encodings, aliases, the header fields that do not change
from frame to frame — is the same for every frame of one configuration, so a socket gets it once:
:meth:`Frame.for_peer` sends the frame with its schema the first time a peer sees the schema id
and without it (``schema_len`` 0) after that. A frame's own bytes always carry the schema, so
recordings, the notebook widget and every decoder without memory read each frame alone.
"""

from __future__ import annotations

import copy
import json
import math
import re
import struct
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping

import numpy as np

from app import PROTOCOL_VERSION

MAGIC = b"PSF1"
KIND_STEP, KIND_GRID, KIND_PHASE, KIND_LINE, KIND_POINTS, KIND_PROBE = 1, 2, 3, 4, 5, 6
#: A part of a snapshot: parameters of a network too large for the snapshot's JSON (§3), exact.
KIND_PARAMETERS = 7
#: Frame kinds where only the newest matters: a newer one may replace a queued older one.
COALESCED_KINDS = frozenset((KIND_STEP, KIND_GRID, KIND_LINE, KIND_POINTS))
_PREFIX = struct.Struct("<4sBBHIIIII")  # 28 bytes
PREFIX_SIZE = _PREFIX.size
_F32 = np.dtype("<f4")
_F64 = np.dtype("<f8")
#: A peer remembers at most this many schema ids (then it is sent them again); a decoder keeps
#: at least DECODER_SCHEMAS (static/js/frames.js), so it always holds every id a peer relies on.
PEER_SCHEMAS = 64
DECODER_SCHEMAS = 256


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

    def __reduce__(self):
        # A message made in a training process crosses to the server whole (app/training_pool.py).
        return (Text, (str(self), self.type, self.run))


def text(message: dict) -> Text:
    """A message encoded once, for every socket and recording it goes to."""
    return Text(dumps(message), message.get("type"), message.get("run"))


class Frame(bytes):
    """An encoded binary frame that knows its kind and run (senders coalesce by them without
    parsing); its bytes carry its schema, ``compact`` is the same frame without it."""

    kind: int
    run: str | None
    schema_id: int
    compact: bytes

    def __new__(cls, data: bytes, kind: int, run: str | None = None, schema_id: int = 0,
                compact: bytes | None = None) -> Frame:
        frame = super().__new__(cls, data)
        frame.kind = kind
        frame.run = run
        frame.schema_id = schema_id
        frame.compact = data if compact is None else compact
        return frame

    def __reduce__(self):
        # A frame made in a training process crosses to the server's whole (app/training_pool.py).
        return (Frame, (bytes(self), self.kind, self.run, self.schema_id, self.compact))

    def for_peer(self, known: set[int]) -> bytes:
        """The bytes for a peer that has been sent the schema ids in ``known`` (updated): the
        compact frame if it has this one's schema, else the whole frame."""
        if self.schema_id in known:
            return self.compact
        if len(known) >= PEER_SCHEMAS:
            known.clear()
        known.add(self.schema_id)
        return self

    @property
    def seq(self) -> int:
        """The frame's sequence number (from its prefix), e.g. for pacing (app/pacing.py)."""
        return _PREFIX.unpack_from(self, 0)[4]

    @property
    def newest_wins(self) -> tuple[int, str | None] | None:
        """What a newer frame replaces a queued one by — (kind, run) — or None: never."""
        return (self.kind, self.run) if self.kind in COALESCED_KINDS else None




# --- schemas ---------------------------------------------------------------------------------

_schema_lock = threading.Lock()
_schema_ids: OrderedDict[str, int] = OrderedDict()  # schema JSON → id, newest last
_next_schema_id = 1
_REGISTRY_SIZE = 4096


def set_schema_base(base: int) -> None:
    """Start this process's schema ids at ``base``: each training process (app/training_pool.py)
    numbers from its own range, so ids from different processes never meet at one peer."""
    global _next_schema_id
    with _schema_lock:
        _schema_ids.clear()
        _next_schema_id = base


def schema_id(text: str) -> int:
    """The id of a schema, the same for the same text while the process remembers it. Ids are
    never reused: a schema forgotten and seen again gets a new one, so a peer never holds a
    stale schema under a live id."""
    global _next_schema_id
    with _schema_lock:
        sid = _schema_ids.get(text)
        if sid is None:
            sid = _next_schema_id
            _next_schema_id += 1
            _schema_ids[text] = sid
            if len(_schema_ids) > _REGISTRY_SIZE:
                _schema_ids.popitem(last=False)
        else:
            _schema_ids.move_to_end(text)
        return sid


# --- encoding --------------------------------------------------------------------------------


def _quantised(a: np.ndarray) -> bytes | None:
    """uint8 planes over each plane's own [min, max] (docs/protocol.md §4: error ≤ (max−min)/510),
    preceded by the planes' float32 minima and maxima (a plane: one index of the first axis);
    None for a 0-/1-D array or one with a value that is not finite (sent as float32 then)."""
    if a.ndim < 2 or a.size == 0 or not np.isfinite(a).all():
        return None
    planes = a.reshape(a.shape[0], -1)
    lo = planes.min(axis=1)
    hi = planes.max(axis=1)
    span = (hi.astype(np.float64) - lo)[:, None]
    scale = np.divide(255.0, span, out=np.zeros_like(span), where=span > 0)
    q = np.rint((planes - lo[:, None].astype(np.float64)) * scale).astype(np.uint8)
    pad = (-q.size) % 4
    return b"".join((lo.astype(_F32).tobytes(), hi.astype(_F32).tobytes(), q.tobytes(),
                     b"\0" * pad))


_HASHED_BYTES = 4096


Quantise = bool | Callable[[str, np.ndarray], bool]


def _entries(arrays: Iterable[tuple[str, np.ndarray]], quantise: Quantise, dtype: np.dtype):
    """Schema entries and data blobs: an array equal (as sent) to an earlier one of the same
    shape is an alias of it and has no data. ``quantise``: for all arrays, or by name and
    array; ``dtype``: float32 ("f4") or float64 ("f8", every array, nothing quantised)."""
    entries, blobs = [], []
    # A step frame has dozens of small arrays, many of one shape (biases, a sample's values):
    # those are found by hash; the few large ones by comparing bytes with the others of their
    # shape (which stops at the first difference instead of hashing megabytes).
    small: dict[tuple, str] = {}  # (shape, bytes) → the name first sent with them
    large: dict[tuple, list[tuple[str, bytes]]] = {}  # shape → (name, bytes) sent
    for name, array in arrays:
        a = np.ascontiguousarray(array, dtype=dtype)
        raw = a.tobytes()
        shape = list(a.shape)
        if len(raw) <= _HASHED_BYTES:
            key = (a.shape, raw)
            source = small.get(key)
            if source is None:
                small[key] = name
        else:
            same = large.setdefault(a.shape, [])
            source = next((other for other, data in same if data == raw), None)
            if source is None:
                same.append((name, raw))
        if source is not None:
            entries.append([name, shape, "same", source])
            continue
        wanted = quantise(name, array) if callable(quantise) else quantise
        packed = _quantised(a) if wanted and dtype == _F32 else None
        if packed is None:
            entries.append([name, shape, "f4" if dtype == _F32 else "f8"])
            blobs.append(raw)
        else:
            entries.append([name, shape, "u8"])
            blobs.append(packed)
    return entries, blobs


def _value_entries(values: Mapping[str, object]) -> tuple[list, bytes]:
    """Schema entries and float64 data of the header values: a number (None as NaN) or a list
    of numbers; one equal (as sent) to an earlier one is an alias of it."""
    entries, blobs, seen = [], [], {}
    for path, value in values.items():
        many = isinstance(value, list | tuple | np.ndarray)
        items = [math.nan if v is None else v for v in (value if many else (value,))]
        raw = struct.pack(f"<{len(items)}d", *items)
        shape = [len(items)] if many else []
        key = (many, raw)
        if key in seen:
            entries.append([path, shape, "same", seen[key]])
            continue
        seen[key] = path
        entries.append([path, shape, "f8"])
        blobs.append(raw)
    return entries, b"".join(blobs)


def encode_frame(
    kind: int,
    seq: int,
    step: int,
    header: dict,
    arrays: Iterable[tuple[str, np.ndarray]],
    *,
    fixed: Mapping | None = None,
    values: Mapping[str, object] | None = None,
    quantise: Quantise = False,
    exact: bool = False,
) -> Frame:
    """One binary frame. ``header`` changes every frame (JSON); ``fixed`` are header fields that
    stay the same for a configuration (they go in the schema); ``values`` are header fields by
    dotted path ("sample.loss") holding a number or a list of numbers, sent as float64 (None
    as NaN); ``quantise`` sends arrays of ≥ 2 dimensions as uint8 planes (thumbnails, and what
    a step frame only draws): all of them, or those ``quantise(name, array)`` picks; ``exact``
    sends every array as float64 (a snapshot's parameter parts)."""
    entries, blobs = _entries(arrays, quantise, _F64 if exact else _F32)
    value_entries, floats = _value_entries(values or {})
    schema = {"arrays": entries, "header": fixed or {}, "values": value_entries}
    text = dumps(schema)
    sid = schema_id(text)
    schema_text = text.encode()
    head = dumps(header).encode()
    data = b"".join((floats, *blobs))
    n = len(entries)
    seq &= 0xFFFFFFFF
    step &= 0xFFFFFFFF

    def whole(schema_bytes: bytes) -> bytes:
        pad = (-(PREFIX_SIZE + len(schema_bytes) + len(head))) % 8
        prefix = _PREFIX.pack(MAGIC, PROTOCOL_VERSION, kind, n, seq, step, sid,
                              len(schema_bytes), len(head))
        return b"".join((prefix, schema_bytes, head, b" " * pad, data))

    return Frame(whole(schema_text), kind, header.get("run", (fixed or {}).get("run")), sid,
                 whole(b""))


# --- decoding --------------------------------------------------------------------------------


def _merge(into: dict, extra: Mapping) -> None:
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def _set_path(header: dict, path: str, value) -> None:
    *parents, leaf = path.split(".")
    for key in parents:
        header = header.setdefault(key, {})
    header[leaf] = value


def _read_values(data: bytes, offset: int, entries: list, header: dict) -> int:
    """Set the float64 header values into ``header`` (NaN as None); the offset after them."""
    got: dict[str, object] = {}
    for path, shape, enc, *alias in entries:
        if enc == "same":
            value = got[alias[0]]
            value = list(value) if isinstance(value, list) else value
        else:
            n = math.prod(shape)
            items = [v if math.isfinite(v) else None
                     for v in np.frombuffer(data, _F64, n, offset).tolist()]
            offset += 8 * n
            value = items if shape else items[0]
        got[path] = value
        _set_path(header, path, value)
    return offset


def decode_frame(
    data: bytes, schemas: dict[int, dict] | None = None
) -> tuple[dict, dict[str, np.ndarray]]:
    """The reverse of encode_frame (the server's own tests, the bench, the class dashboard).
    ``schemas`` holds the schemas seen so far by id (one dict per socket): needed for frames
    sent without their schema."""
    if data[:4] != MAGIC:
        raise ValueError("not a Propscope frame")
    if data[4] == 1:
        return _decode_v1(data)
    magic, version, kind, count, seq, step, sid, schema_len, json_len = _PREFIX.unpack_from(
        data, 0)
    if version != PROTOCOL_VERSION:
        raise ValueError(f"frame version {version}, this decoder reads {PROTOCOL_VERSION}")
    offset = PREFIX_SIZE
    if schema_len:
        schema = json.loads(data[offset : offset + schema_len])
        if schemas is not None:
            schemas[sid] = schema
        offset += schema_len
    elif schemas is not None and sid in schemas:
        schema = schemas[sid]
    else:
        raise ValueError(f"frame without its schema {sid}, which this decoder has not seen")
    header = copy.deepcopy(schema["header"])
    _merge(header, json.loads(data[offset : offset + json_len]))
    offset += json_len
    offset += (-offset) % 8
    offset = _read_values(data, offset, schema["values"], header)
    header.update(kind=kind, seq=seq, step=step, version=version, schema=sid)
    arrays: dict[str, np.ndarray] = {}
    for name, shape, enc, *alias in schema["arrays"]:
        n = math.prod(shape)
        if enc == "same":
            arrays[name] = arrays[alias[0]]
        elif enc == "f4":
            arrays[name] = np.frombuffer(data, _F32, n, offset).reshape(shape)
            offset += 4 * n
        elif enc == "f8":
            arrays[name] = np.frombuffer(data, _F64, n, offset).reshape(shape)
            offset += 8 * n
        elif enc == "u8":
            planes = shape[0]
            lo = np.frombuffer(data, _F32, planes, offset).astype(np.float64)
            hi = np.frombuffer(data, _F32, planes, offset + 4 * planes).astype(np.float64)
            offset += 8 * planes
            q = np.frombuffer(data, np.uint8, n, offset).reshape(planes, -1)
            offset += n + (-n) % 4
            step_size = (hi - lo) / 255
            arrays[name] = (lo[:, None] + q * step_size[:, None]).astype(_F32).reshape(shape)
        else:
            raise ValueError(f"array {name!r}: unknown encoding {enc!r}")
    if count != len(schema["arrays"]):
        raise ValueError("array count does not match the schema")
    if offset != len(data):
        raise ValueError(f"{len(data) - offset} bytes after the last array")
    return header, arrays


_PREFIX_V1 = struct.Struct("<4sBBHIII")


def _decode_v1(data: bytes) -> tuple[dict, dict[str, np.ndarray]]:
    """Version 1 (recordings made before schemas): every frame names its float32 arrays."""
    _, version, kind, count, seq, step, json_len = _PREFIX_V1.unpack_from(data, 0)
    offset = _PREFIX_V1.size
    header = json.loads(data[offset : offset + json_len])
    header.update(kind=kind, seq=seq, step=step, version=version, schema=None)
    offset += json_len
    offset += (-offset) % 4
    arrays = {}
    for name, shape in header["arrays"]:
        n = math.prod(shape)
        arrays[name] = np.frombuffer(data, _F32, n, offset).reshape(shape)
        offset += 4 * n
    if count != len(arrays):
        raise ValueError("array count does not match the header")
    return header, arrays
