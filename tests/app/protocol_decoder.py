"""A binary-frame decoder written from docs/protocol.md §4 alone (not from app/frames.py).

    offset 0  4 bytes  magic "PSF1"
           4  uint8    protocol version (2)
           5  uint8    kind (1 step, 2 grid, 3 phase, 4 line, 5 points, 6 probe,
                             7 parameters: a part of a snapshot)
           6  uint16   N = entries in the schema's array list
           8  uint32   seq
          12  uint32   step
          16  uint32   schema id
          20  uint32   S = schema JSON length (0: the frame refers to a schema sent before)
          24  uint32   J = JSON header length
          28  S bytes  schema JSON; then J bytes JSON header; then spaces to a multiple of 8
              then the schema's values (float64 each), then its arrays in order:
              "f4" float32 C order; "f8" float64 C order; "u8" per plane float32 lo[P],
              hi[P], uint8 data, zero bytes to a multiple of 4; "same" no data (the array
              named after it)
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass

import numpy as np

KINDS = {1: "step", 2: "grid", 3: "phase", 4: "line", 5: "points", 6: "probe", 7: "parameters"}


@dataclass
class Frame:
    version: int
    kind: str
    seq: int
    step: int
    header: dict
    arrays: dict[str, np.ndarray]
    size: int
    schema_id: int = 0
    had_schema: bool = True


def _deep_merge(into: dict, extra: dict) -> dict:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _deep_merge(into[key], value)
        else:
            into[key] = value
    return into


def _put(header: dict, path: str, value) -> None:
    keys = path.split(".")
    for key in keys[:-1]:
        header = header.setdefault(key, {})
    header[keys[-1]] = value


def decode(data: bytes, schemas: dict | None = None) -> Frame:
    """One frame; ``schemas`` (one dict per socket) collects schemas by id for later frames."""
    if data[:4] != b"PSF1":
        raise ValueError(f"bad magic {data[:4]!r}")
    version, kind, count = struct.unpack_from("<BBH", data, 4)
    assert version == 2, f"protocol version {version}"
    seq, step, sid, schema_len, json_len = struct.unpack_from("<IIIII", data, 8)
    offset = 28
    if schema_len:
        schema = json.loads(data[offset : offset + schema_len].decode("utf-8"))
        if schemas is not None:
            schemas[sid] = schema
        offset += schema_len
    else:
        assert schemas is not None and sid in schemas, f"schema {sid} was never sent"
        schema = schemas[sid]
    header = _deep_merge(json.loads(json.dumps(schema["header"])),
                         json.loads(data[offset : offset + json_len].decode("utf-8")))
    offset += json_len
    pad = (8 - offset % 8) % 8
    assert data[offset : offset + pad] == b" " * pad, "padding must be spaces"
    offset += pad
    values: dict = {}
    for path, shape, enc, *same in schema["values"]:
        if enc == "same":
            value = values[same[0]]
        else:
            assert enc == "f8"
            n = shape[0] if shape else 1
            got = struct.unpack_from(f"<{n}d", data, offset)
            offset += 8 * n
            got = [None if math.isnan(v) else v for v in got]
            value = got if shape else got[0]
        values[path] = value
        _put(header, path, value)
    arrays = {}
    for name, shape, enc, *same in schema["arrays"]:
        n = 1
        for d in shape:
            n *= d
        if enc == "same":
            arrays[name] = arrays[same[0]]
        elif enc == "f4":
            arrays[name] = np.frombuffer(data, dtype="<f4", count=n, offset=offset).reshape(shape)
            offset += 4 * n
        elif enc == "f8":
            arrays[name] = np.frombuffer(data, dtype="<f8", count=n, offset=offset).reshape(shape)
            offset += 8 * n
        else:
            assert enc == "u8", enc
            planes = shape[0]
            lo = np.frombuffer(data, dtype="<f4", count=planes, offset=offset)
            hi = np.frombuffer(data, dtype="<f4", count=planes, offset=offset + 4 * planes)
            q = np.frombuffer(data, dtype=np.uint8, count=n, offset=offset + 8 * planes)
            offset += 8 * planes + n
            pad = (4 - n % 4) % 4
            assert data[offset : offset + pad] == b"\0" * pad
            offset += pad
            step_ = (hi.astype(np.float64) - lo) / 255
            flat = lo.astype(np.float64)[:, None] + q.reshape(planes, -1) * step_[:, None]
            arrays[name] = flat.astype(np.float32).reshape(shape)
    if len(schema["arrays"]) != count:
        raise ValueError(f"schema lists {len(schema['arrays'])} arrays, prefix says {count}")
    if offset != len(data):
        raise ValueError(f"{len(data) - offset} trailing bytes")
    return Frame(version, KINDS[kind], seq, step, header, arrays, len(data), sid,
                 bool(schema_len))
