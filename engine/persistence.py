"""Save and restore a whole training run: spec, parameters, optimiser state and position.

Everything needed to continue bit-identically is stored — including the random generators'
states and the current epoch's batch order — so a restored trainer takes exactly the steps the
original would have. Built-in datasets are regenerated from the spec (they are seeded); custom
data travels with the file.
"""

from __future__ import annotations

import io
import json
from dataclasses import asdict
from typing import Any

import numpy as np

from engine.datasets import DATASETS, Dataset, DatasetInfo
from engine.spec import Spec
from engine.trainer import Trainer

FORMAT = "propscope-trainer"
FORMAT_VERSION = 1


def to_dict(trainer: Trainer) -> dict[str, Any]:
    """A JSON-serialisable snapshot (floats written exactly: Python's repr round-trips)."""
    state = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "spec": trainer.spec.to_dict(),
        "parameters": [p.tolist() for p in trainer.network.parameters()],
        "optimizer": _tolists(trainer.optimizer.state_dict()),
        "position": _tolists(trainer.position()),
    }
    if trainer.dataset.info.name not in DATASETS:
        state["dataset"] = _dataset_to_dict(trainer.dataset)
    return state


def from_dict(state: dict[str, Any]) -> Trainer:
    if state.get("format") != FORMAT:
        raise ValueError("not a Propscope trainer file (missing format 'propscope-trainer')")
    if state.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"unsupported trainer file version {state.get('format_version')!r}")
    spec = Spec.from_dict(state["spec"])
    dataset = _dataset_from_dict(state["dataset"]) if "dataset" in state else None
    trainer = Trainer(spec, dataset)
    dtype = trainer.dtype
    params = [np.asarray(p, dtype=dtype) for p in state["parameters"]]
    expected = [p.shape for p in trainer.network.parameters()]
    if [p.shape for p in params] != expected:
        raise ValueError("the saved parameters do not match the network described by the spec")
    trainer.network.set_parameters(params)
    trainer.optimizer.load_state(state["optimizer"], dtype)
    trainer.restore_position(state["position"])
    return trainer


def to_json(trainer: Trainer) -> str:
    return json.dumps(to_dict(trainer))


def from_json(text: str) -> Trainer:
    return from_dict(json.loads(text))


def to_npz(trainer: Trainer) -> bytes:
    """Arrays as arrays (exact, compact); the rest as one JSON string inside the archive."""
    state = to_dict(trainer)
    arrays = {f"param_{k}": p for k, p in enumerate(trainer.network.parameters())}
    arrays.update({f"opt_{key}": a for key, a in trainer.optimizer.state.items()})
    arrays["order"] = np.asarray(state["position"]["order"], dtype=np.int64)
    meta = {k: v for k, v in state.items() if k not in ("parameters",)}
    meta["optimizer"] = {k: v for k, v in meta["optimizer"].items() if k != "state"}
    meta["optimizer_slots"] = list(trainer.optimizer.state)
    meta["position"] = {k: v for k, v in meta["position"].items() if k != "order"}
    buffer = io.BytesIO()
    np.savez_compressed(buffer, meta=np.asarray(json.dumps(meta)), **arrays)
    return buffer.getvalue()


def from_npz(data: bytes) -> Trainer:
    with np.load(io.BytesIO(data), allow_pickle=False) as archive:
        meta = json.loads(str(archive["meta"]))
        n_params = sum(1 for name in archive.files if name.startswith("param_"))
        meta["parameters"] = [archive[f"param_{k}"] for k in range(n_params)]
        meta["optimizer"]["state"] = {
            key: archive[f"opt_{key}"] for key in meta.pop("optimizer_slots")
        }
        meta["position"]["order"] = archive["order"]
    return from_dict(meta)


def _tolists(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, dict):
        return {k: _tolists(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_tolists(v) for v in value]
    return value


def _dataset_to_dict(dataset: Dataset) -> dict[str, Any]:
    return {
        "info": asdict(dataset.info),
        "x_train": dataset.x_train.tolist(),
        "y_train": dataset.y_train.tolist(),
        "x_test": dataset.x_test.tolist(),
        "y_test": dataset.y_test.tolist(),
        "input_names": list(dataset.input_names),
        "target_name": dataset.target_name,
        "class_names": list(dataset.class_names),
        "bounds": None if dataset.bounds is None else list(dataset.bounds),
    }


def _dataset_from_dict(raw: dict[str, Any]) -> Dataset:
    info = DatasetInfo(
        **{k: tuple(v) if isinstance(v, list) else v for k, v in raw["info"].items()}
    )
    label_dtype = np.int64 if info.task == "classification" else np.float64
    return Dataset(
        info=info,
        x_train=np.asarray(raw["x_train"], dtype=np.float64),
        y_train=np.asarray(raw["y_train"], dtype=label_dtype),
        x_test=np.asarray(raw["x_test"], dtype=np.float64),
        y_test=np.asarray(raw["y_test"], dtype=label_dtype),
        input_names=list(raw["input_names"]),
        target_name=raw["target_name"],
        class_names=list(raw["class_names"]),
        bounds=None if raw["bounds"] is None else tuple(raw["bounds"]),
    )
