"""A binary-frame decoder written from docs/protocol.md §4 alone (not from app/frames.py).

    offset 0  4 bytes  magic "PSF1"
           4  uint8    protocol version
           5  uint8    kind (1 step, 2 grid, 3 phase, 4 line, 5 points, 6 probe)
           6  uint16   array count N
           8  uint32   seq
          12  uint32   step
          16  uint32   J = JSON header length
          20  J bytes  JSON header; then P = (4 - (20+J) % 4) % 4 spaces
     20+J+P  N float32 arrays back to back, C order, named and shaped by header["arrays"]
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass

import numpy as np

KINDS = {1: "step", 2: "grid", 3: "phase", 4: "line", 5: "points", 6: "probe"}


@dataclass
class Frame:
    version: int
    kind: str
    seq: int
    step: int
    header: dict
    arrays: dict[str, np.ndarray]
    size: int


def decode(data: bytes) -> Frame:
    if data[:4] != b"PSF1":
        raise ValueError(f"bad magic {data[:4]!r}")
    version, kind, count = struct.unpack_from("<BBH", data, 4)
    seq, step, json_len = struct.unpack_from("<III", data, 8)
    header = json.loads(data[20 : 20 + json_len].decode("utf-8"))
    pad = (4 - (20 + json_len) % 4) % 4
    assert data[20 + json_len : 20 + json_len + pad] == b" " * pad, "padding must be spaces"
    offset = 20 + json_len + pad
    assert offset % 4 == 0
    arrays = {}
    for name, shape in header["arrays"]:
        n = 1
        for d in shape:
            n *= d
        arrays[name] = np.frombuffer(data, dtype="<f4", count=n, offset=offset).reshape(shape)
        offset += 4 * n
    if len(arrays) != count:
        raise ValueError(f"header lists {len(arrays)} arrays, prefix says {count}")
    if offset != len(data):
        raise ValueError(f"{len(data) - offset} trailing bytes")
    return Frame(version, KINDS[kind], seq, step, header, arrays, len(data))
