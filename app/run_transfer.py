"""A session's runs on their way to a training process and back.

Out: the runs pickled whole (the process gets its own copies). Back: each run's state and its
trainer's, with every reference to a trainer written as the run's id, so that the server's own
:class:`~app.run.Run` and :class:`~engine.trainer.Trainer` objects take the new state in place —
a handler or a room that holds a run or its trainer keeps the live one.

Both ways keep NumPy views as views: a layer's weights are a view into the network's flat
parameter vector (and the step's pooled vectors have views made once, engine/reuse.py), and
plain pickle would give each view its own copy, so an update of the vector would no longer
reach the layers. Here a view travels as (the array that owns its memory, offset, shape,
strides) and is made again over the owner, which travels once.
"""

from __future__ import annotations

import io
import pickle

import numpy as np

from app.run import Run
from engine.trainer import Trainer

PROTOCOL = 4  # 5 rebuilds arrays over a bytearray: views of them would not point at them


def _view(owner: np.ndarray, offset: int, shape: tuple, strides: tuple, dtype: np.dtype,
          writeable: bool) -> np.ndarray:
    size = int(np.prod(shape))
    if owner.dtype == dtype and offset % dtype.itemsize == 0 and \
            strides == np.empty(shape, dtype).strides:
        # a contiguous run of the owner's items, sliced from it: its base is the owner itself,
        # as the original's was (engine/reuse.py counts the references views make to it)
        start = offset // dtype.itemsize
        view = owner.reshape(-1)[start:start + size].reshape(shape)
    else:
        view = np.ndarray(shape, dtype, buffer=owner, offset=offset, strides=strides)
    view.flags.writeable = writeable
    return view


def _owner(a: np.ndarray) -> np.ndarray:
    while isinstance(a.base, np.ndarray):
        a = a.base
    return a


class _Pickler(pickle.Pickler):
    def __init__(self, file, names: dict[int, str] | None = None) -> None:
        super().__init__(file, protocol=PROTOCOL)
        self.names = names or {}

    def persistent_id(self, obj):
        if self.names and isinstance(obj, Trainer):
            return self.names.get(id(obj))
        return None

    def reducer_override(self, obj):
        if type(obj) is not np.ndarray or obj.base is None:
            return NotImplemented
        owner = _owner(obj)
        if owner is obj or owner.dtype.hasobject or not owner.flags.c_contiguous:
            return NotImplemented  # memory that is not a plain array's: a copy, as pickle does
        offset = obj.__array_interface__["data"][0] - owner.__array_interface__["data"][0]
        return _view, (owner, offset, obj.shape, obj.strides, obj.dtype, obj.flags.writeable)


class _Unpickler(pickle.Unpickler):
    def __init__(self, file, trainers: dict[str, Trainer] | None = None) -> None:
        super().__init__(file)
        self.trainers = trainers or {}

    def persistent_load(self, pid: str) -> Trainer:
        return self.trainers[pid]


def dumps(obj) -> bytes:
    """obj pickled with its arrays' views kept as views (what crosses the pipe)."""
    buf = io.BytesIO()
    _Pickler(buf).dump(obj)
    return buf.getvalue()


def loads(data: bytes):
    return _Unpickler(io.BytesIO(data)).load()


def state_of(runs: list[Run]) -> bytes:
    """(Training process.) Every run's state and its trainer's, trainers named by run id."""
    buf = io.BytesIO()
    _Pickler(buf, {id(r.trainer): r.id for r in runs}).dump(
        [(r.id, vars(r), vars(r.trainer)) for r in runs])
    return buf.getvalue()


def adopt(runs: list[Run], data: bytes) -> None:
    """(Server.) Give the server's runs and trainers the state in `data` (from
    :func:`state_of` of the same runs), keeping each object's identity."""
    by_id = {r.id: r for r in runs}
    trainers = {r.id: r.trainer for r in runs}
    for run_id, run_state, trainer_state in _Unpickler(io.BytesIO(data), trainers).load():
        run, trainer = by_id[run_id], trainers[run_id]
        vars(trainer).clear()
        vars(trainer).update(trainer_state)
        vars(run).clear()
        vars(run).update(run_state)
