"""Per-session metrics history (loss and gradient norms) and run recordings.

Both are fed by a *tap* on :meth:`app.session.Session.send`: every message the session sends
passes through ``tap(message, kind)`` (``kind`` is the type of a dict message, None for messages
that were already text or binary frames).

* :class:`History` keeps every `metrics` bucket the session produced, compacting pairs of
  neighbouring rows when it grows past ``max_rows`` (weighted mean, min of mins, max of maxes), so
  memory stays bounded however long a run lasts. It is saved with experiments and exported as CSV.
* :class:`Recording` keeps the exact messages (text and binary) with their times; :func:`encode`
  writes them in the ``PSR1`` format of docs/protocol.md §9.4, :func:`decode` reads it back.
"""

from __future__ import annotations

import io
import json
import math
import struct
import time

LOSS_KEYS = ("loss", "data_loss", "penalty")
STATS = ("mean", "min", "max")
HISTORY_MAX_ROWS = 4096

REC_MAGIC = b"PSR1"
REC_VERSION = 1
REC_TEXT, REC_BINARY = 1, 2
_REC_HEAD = struct.Struct("<4sII")  # magic, version, header JSON length
_REC_ITEM = struct.Struct("<dIB3x")  # time, payload length, type, 3 zero bytes
NOT_RECORDED = frozenset({"ack", "error", "pong"})


def _num(v) -> float:
    return float("nan") if v is None else float(v)


class History:
    """Rows of (step, n, loss mean/min/max, data_loss …, penalty …, grad_norm_k mean/min/max)."""

    def __init__(self, n_layers: int = 0, max_rows: int = HISTORY_MAX_ROWS) -> None:
        self.max_rows = max_rows
        self.reset(n_layers)

    def reset(self, n_layers: int) -> None:
        self.n_layers = n_layers
        self.rows: list[list[float]] = []

    @property
    def width(self) -> int:
        return 2 + 3 * len(LOSS_KEYS) + 3 * self.n_layers

    def columns(self) -> list[str]:
        cols = ["step", "n"]
        for key in LOSS_KEYS:
            cols += [f"{key}_{s}" for s in STATS]
        for k in range(self.n_layers):
            cols += [f"grad_norm_{k}_{s}" for s in STATS]
        return cols

    def add_metrics(self, message: dict) -> None:
        """Append the buckets of one `metrics` message (docs/protocol.md §3)."""
        b = message.get("buckets") or {}
        steps = b.get("step") or []
        if not steps:
            return
        norms = b.get("grad_norms") or []
        if len(norms) != self.n_layers:
            if self.rows:  # a different network: history restarts
                self.rows = []
            self.n_layers = len(norms)
        if self.rows and steps[0] <= self.rows[-1][0]:
            # The step counter went back (configure/reset/open): keep only the earlier steps.
            first = steps[0]
            self.rows = [r for r in self.rows if r[0] < first]
        for i, step in enumerate(steps):
            row = [float(step), float(b["n"][i])]
            for key in LOSS_KEYS:
                row += [_num(b[key][s][i]) for s in STATS]
            for layer in norms:
                row += [_num(layer[s][i]) for s in STATS]
            self.rows.append(row)
        if len(self.rows) > self.max_rows:
            self._compact()

    def _compact(self) -> None:
        merged = []
        rows = self.rows
        for i in range(0, len(rows) - 1, 2):
            merged.append(_merge(rows[i], rows[i + 1]))
        if len(rows) % 2:
            merged.append(rows[-1])
        self.rows = merged

    def to_dict(self) -> dict:
        return {
            "columns": self.columns(),
            "n_layers": self.n_layers,
            "rows": [[None if math.isnan(v) else v for v in r] for r in self.rows],
        }

    @classmethod
    def from_dict(cls, raw: dict | None) -> History:
        h = cls()
        if raw:
            h.n_layers = int(raw.get("n_layers", 0))
            h.rows = [[_num(v) for v in r] for r in raw.get("rows", [])]
        return h

    def copy(self) -> History:
        h = History(self.n_layers, self.max_rows)
        h.rows = [list(r) for r in self.rows]
        return h

    def to_csv(self) -> str:
        out = io.StringIO()
        out.write(",".join(self.columns()) + "\n")
        for r in self.rows:
            cells = [str(int(r[0])), str(int(r[1]))]
            cells += ["" if math.isnan(v) else repr(v) for v in r[2:]]
            out.write(",".join(cells) + "\n")
        return out.getvalue()


def _merge(a: list[float], b: list[float]) -> list[float]:
    na, nb = a[1], b[1]
    row = [b[0], na + nb]
    for j in range(2, len(a), 3):
        mean = (a[j] * na + b[j] * nb) / (na + nb)
        low = a[j + 1] if not (b[j + 1] < a[j + 1]) else b[j + 1]
        high = a[j + 2] if not (b[j + 2] > a[j + 2]) else b[j + 2]
        if math.isnan(a[j + 1]) or math.isnan(b[j + 1]):
            low = float("nan")
        if math.isnan(a[j + 2]) or math.isnan(b[j + 2]):
            high = float("nan")
        row += [mean, low, high]
    return row


class Recording:
    """The messages a session sent, with their times, up to ``max_bytes`` of payload."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.t0 = time.monotonic()
        self.started = time.time()
        self.items: list[tuple[float, str | bytes]] = []
        self.bytes = 0
        self.truncated = False

    def add(self, message: str | bytes, kind: str | None) -> None:
        if kind in NOT_RECORDED or self.truncated:
            return
        size = len(message) if isinstance(message, bytes) else len(message.encode())
        if self.bytes + size > self.max_bytes:
            self.truncated = True
            return
        self.bytes += size
        self.items.append((time.monotonic() - self.t0, message))

    @property
    def duration(self) -> float:
        return self.items[-1][0] if self.items else 0.0


def encode(recording: Recording, header: dict | None = None) -> bytes:
    """The PSR1 file: prefix, JSON header (padded to 4 bytes), then 16-byte-headed records."""
    head = {
        "format": "propscope-recording",
        "version": REC_VERSION,
        "started": recording.started,
        "duration": recording.duration,
        "count": len(recording.items),
        "truncated": recording.truncated,
        **(header or {}),
    }
    text = json.dumps(head, separators=(",", ":")).encode()
    text += b" " * ((-(_REC_HEAD.size + len(text))) % 4)
    parts = [_REC_HEAD.pack(REC_MAGIC, REC_VERSION, len(text)), text]
    for t, message in recording.items:
        if isinstance(message, bytes):
            payload, kind = message, REC_BINARY
        else:
            payload, kind = message.encode(), REC_TEXT
        parts.append(_REC_ITEM.pack(t, len(payload), kind))
        parts.append(payload)
        parts.append(b"\0" * ((-len(payload)) % 4))
    return b"".join(parts)


def decode(data: bytes) -> tuple[dict, list[tuple[float, str | bytes]]]:
    """The reverse of :func:`encode`: (header, [(t, text or frame bytes), …])."""
    magic, version, head_len = _REC_HEAD.unpack_from(data, 0)
    if magic != REC_MAGIC or version != REC_VERSION:
        raise ValueError("not a Propscope recording")
    offset = _REC_HEAD.size
    header = json.loads(data[offset : offset + head_len])
    offset += head_len
    items = []
    while offset < len(data):
        t, length, kind = _REC_ITEM.unpack_from(data, offset)
        offset += _REC_ITEM.size
        payload = data[offset : offset + length]
        offset += length + (-length) % 4
        items.append((t, payload if kind == REC_BINARY else payload.decode()))
    return header, items
