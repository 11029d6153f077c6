"""How many bytes a session holds: the arrays reachable from its trainer, each counted once.

The session registry bounds total session memory by bytes (``max_session_bytes``), not only by
count. A detached session of a heavy spec (10 000 rows, two layers of 300, a batch of 9 000)
keeps its last step's activations and gradients — hundreds of megabytes — so the count alone
says little. The walk is generic (object attributes, lists, dicts, arrays; views count their
base once), so it follows the engine's own layout without depending on its private names.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.cost import step_floats, traced_floats

MAX_DEPTH = 6
MAX_ITEMS = 4096  # elements of one list/dict looked at (lists of numbers hold no arrays)


def array_bytes(root: Any) -> int:
    """Bytes of the distinct numpy buffers reachable from `root` (a Trainer, a Session…)."""
    seen: set[int] = set()
    total = 0
    stack: list[tuple[Any, int]] = [(root, 0)]
    while stack:
        obj, depth = stack.pop()
        if isinstance(obj, np.ndarray):
            base = obj
            while isinstance(base.base, np.ndarray):
                base = base.base
            if id(base) not in seen:
                seen.add(id(base))
                total += base.nbytes
            continue
        if depth >= MAX_DEPTH or id(obj) in seen or isinstance(obj, str | bytes | int | float):
            continue
        seen.add(id(obj))
        if isinstance(obj, dict):
            children = list(obj.values())[:MAX_ITEMS]
        elif isinstance(obj, list | tuple):
            if obj and isinstance(obj[0], int | float):
                continue  # numbers (a metrics buffer): no arrays inside
            children = list(obj[:MAX_ITEMS])
        else:
            children = _attributes(obj)
        stack.extend((child, depth + 1) for child in children)
    return total


def _attributes(obj: Any) -> list[Any]:
    """An object's attribute values: its __dict__ and its __slots__ (records use slots)."""
    attrs = getattr(obj, "__dict__", None)
    values = list(attrs.values()) if isinstance(attrs, dict) else []
    for cls in type(obj).__mro__:
        for name in getattr(cls, "__slots__", ()):
            value = getattr(obj, name, None)
            if value is not None:
                values.append(value)
    return values


def step_bytes_estimate(trainer: Any) -> int:
    """What one training step adds (activations, gradients and deltas of a batch, kept as the
    last step's record): a bound from the network's layers, before the first step is taken."""
    layers = [layer.describe() for layer in trainer.network.layers]
    per_sample = sum(traced_floats(layer) for layer in layers)
    floats = int(trainer.spec.training.batch_size) * per_sample + step_floats(layers)
    return floats * trainer.dtype.itemsize
