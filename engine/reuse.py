"""Parameter-sized vectors that recorded steps reuse once no record holds them any more.

A recorded step hands its record vectors it must never touch again: the parameters before the
update (the record keeps them), the gradients and the update (its traces keep views of them).
Allocating those and making their per-layer views anew every step costs a small network's
recorded step more than a third of its arithmetic. A :class:`VectorPool` keeps a few such vectors,
each with its per-layer views made once, and hands one out again only when nothing but the pool
refers to it or to any of its views. CPython's reference counts say so exactly: every NumPy view,
a view of a view included, refers to the vector that owns the memory, and whoever keeps one of
the pool's own view objects holds a reference to it. A vector someone still holds is left alone
and the pool makes another, up to ``size``; beyond that a step gets a fresh, unpooled one.
"""

from __future__ import annotations

from sys import getrefcount

import numpy as np

from engine.layers.base import ParamLayout


class PooledVector:
    """One vector, its views per layer (as ParamLayout.views makes them) and its idle count."""

    __slots__ = ("vector", "views", "_members", "_idle")

    def __init__(self, like: np.ndarray, layouts: list[ParamLayout]) -> None:
        self.vector = np.empty_like(like)
        self.views = [layout.views(self.vector) for layout in layouts]
        self._members = (self.vector, *(v for views in self.views for v in views.values()))
        self._idle = self._count()  # measured while nothing else refers to any of them

    def _count(self) -> int:
        # One sum instead of a list per member: no count can fall below its idle value (the
        # pool's own references), so the sum equals the idle sum exactly when each count does.
        return sum(map(getrefcount, self._members))

    @property
    def idle(self) -> bool:
        """Nothing outside the pool refers to the vector or to any of its views."""
        return sum(map(getrefcount, self._members)) == self._idle


class VectorPool:
    def __init__(self, like: np.ndarray, layouts: list[ParamLayout], size: int = 3) -> None:
        self._like, self._layouts, self._size = like, layouts, size
        self._vectors: list[PooledVector] = []
        self._next = 0  # round robin: the vector handed out longest ago is tried first

    def take(self) -> PooledVector:
        """A vector no one else holds (its contents are stale: the caller overwrites them).
        Called up to five times a recorded step, so the loop is kept to the bare check."""
        pooled = self._vectors
        n, i = len(pooled), self._next
        for _ in range(n):
            candidate = pooled[i]
            i = i + 1 if i + 1 < n else 0
            if sum(map(getrefcount, candidate._members)) == candidate._idle:
                self._next = i
                return candidate
        fresh = PooledVector(self._like, self._layouts)
        if n < self._size:
            pooled.append(fresh)
        return fresh
