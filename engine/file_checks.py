"""Checks on a trainer file (an export or a stored experiment) before anything is built from it.

A file is untrusted input: it may come from another person, be edited by hand or be made to
hurt. :func:`read_export` turns the bytes of a JSON or ``.npz`` export into the state dict that
``engine.persistence.from_dict`` reads, checking every field against the limits a spec must meet
(rows, columns, shapes, positions, random-generator states, strings that are valid text) and,
for ``.npz`` archives, every member's declared decompressed size *before* it is read. Problems
raise :class:`FileProblem` naming the field, so the person who sent the file learns what is
wrong. :func:`check_restored` checks what can only be known once the dataset exists (the
batch order must be a permutation of the training rows).
"""

from __future__ import annotations

import gc
import io
import json
import math
import re
import zipfile
from typing import Any

import numpy as np

from engine.spec import LIMITS, Spec, SpecError

FORMAT = "propscope-trainer"
FORMAT_VERSION = 1
MAX_COLUMNS = 64  # input columns of a custom dataset (the CSV upload's default limit)
MAX_CLASSES = int(LIMITS["max_units_per_layer"])  # one output unit per class
MAX_TEXT = 2000  # characters in any one string of a file
MAX_MEMBERS = 64  # entries in an .npz archive
#: Decompressed bytes an .npz may declare in total (the largest legitimate export, a 10 000-row
#: 64-column custom dataset held as numpy text plus 250 000 parameters with two optimiser slots,
#: is about 60 MiB).
MAX_DECOMPRESSED = 96 * 1024 * 1024
MAX_INT = 2**53  # step counters and the like: exact in a double, far beyond any real run
_MEMBER = re.compile(r"^(meta|order|param_\d{1,3}|opt_[a-z][a-z0-9_]{0,31})\.npy$")
_SLOT = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class FileProblem(ValueError):
    """What is wrong with a file: ``path`` is the field (``position.order[3]``), ``message`` why."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}")


# --- entry points ----------------------------------------------------------------------------


def read_export(data: bytes, max_decompressed: int = MAX_DECOMPRESSED) -> dict[str, Any]:
    """The checked state dict of an export: ``.npz`` bytes (a zip archive) or JSON text."""
    if data[:2] == b"PK":
        state, suspect = _npz_state(data, max_decompressed)
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as err:
            raise FileProblem("file", f"not UTF-8 text (byte {err.start})") from None
        suspect = _may_hold_surrogates(text)
        try:
            state = _loads(text)
        except RecursionError:
            raise FileProblem("file", "JSON nested too deeply") from None
        except ValueError as err:
            raise FileProblem("file", f"not JSON ({err})") from None
    return check_state(state, walk_text=suspect)


def _loads(text: str) -> Any:
    """json.loads without the cyclic garbage collector: a file of many small rows makes
    millions of lists, and collections during the parse would more than double its time (the
    parse holds the GIL). JSON cannot build cycles, so nothing is lost."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return json.loads(text)
    finally:
        if enabled:
            gc.enable()


def _may_hold_surrogates(text: str) -> bool:
    """Whether decoding this JSON text can give a lone surrogate (a \\ud800–\\udfff escape or a raw
    one): only then is every string looked at (walking 10 000 rows of numbers costs seconds)."""
    return bool(_SURROGATE_ESCAPE.search(text) or _SURROGATE.search(text))


def check_state(state: Any, walk_text: bool = True) -> dict[str, Any]:
    """Check a state dict (arrays may be lists or numpy arrays); returns it unchanged.
    Sizes are checked before anything costly; strings are checked for lone surrogates when
    `walk_text` (read_export passes whether the text could hold any)."""
    if not isinstance(state, dict):
        raise FileProblem("file", "must be a JSON object")
    if state.get("format") != FORMAT:
        raise FileProblem("format", f"not a Propscope trainer file (expected {FORMAT!r})")
    if state.get("format_version") != FORMAT_VERSION:
        raise FileProblem("format_version", f"unsupported version; this reads {FORMAT_VERSION}")
    allowed = {"format", "format_version", "spec", "parameters", "optimizer", "position",
               "dataset"}
    _known_keys(state, allowed, "")
    try:
        spec = Spec.from_dict(state.get("spec"))
    except SpecError as err:
        path, message = err.problems[0]
        raise FileProblem(f"spec.{path}", message) from None
    n_train = None
    if "dataset" in state:
        n_train = _check_dataset(state["dataset"], spec)
    n_params = _check_parameters(state.get("parameters"), _parameter_ranks(spec))
    _check_optimizer(state.get("optimizer"), n_params)
    _check_position(state.get("position"), n_train)
    if walk_text:
        _check_text(state, "")
    return state


def check_restored(trainer: Any, state: dict[str, Any]) -> None:
    """After ``persistence.from_dict``: the batch order must index the training rows."""
    n_train = len(trainer.dataset.x_train)
    order = np.asarray(state["position"]["order"])
    if len(order) not in (0, n_train):
        raise FileProblem("position.order", f"has {len(order)} entries; the data set has "
                          f"{n_train} training rows")


# --- .npz ------------------------------------------------------------------------------------


def _npz_state(data: bytes, max_decompressed: int) -> tuple[dict[str, Any], bool]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError) as err:
        raise FileProblem("file", f"not a valid .npz archive ({err})") from None
    with archive:
        infos = archive.infolist()
        if len(infos) > MAX_MEMBERS:
            raise FileProblem("file", f"{len(infos)} archive members; at most {MAX_MEMBERS}")
        total = 0
        for info in infos:
            if not _MEMBER.match(info.filename):
                raise FileProblem(info.filename[:80], "unexpected archive member")
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise FileProblem(info.filename, "unsupported compression")
            total += info.file_size
            if total > max_decompressed:
                raise FileProblem(info.filename, f"the archive declares more than "
                                  f"{max_decompressed} decompressed bytes")
        names = {info.filename[:-4]: info for info in infos}
        for required in ("meta", "order"):
            if required not in names:
                raise FileProblem(required, "missing from the archive")
        arrays = {name: _read_member(archive, info) for name, info in names.items()}
    meta_array = arrays.pop("meta")
    if meta_array.dtype.kind != "U" or meta_array.shape != ():
        raise FileProblem("meta", "must be a text scalar")
    meta_text = str(meta_array)
    try:
        meta = _loads(meta_text)
    except (ValueError, RecursionError):
        raise FileProblem("meta", "not JSON") from None
    if not isinstance(meta, dict):
        raise FileProblem("meta", "must be a JSON object")
    n_params = sum(1 for name in arrays if name.startswith("param_"))
    missing = [k for k in range(n_params) if f"param_{k}" not in arrays]
    if missing:
        raise FileProblem(f"param_{missing[0]}", "missing from the archive")
    meta["parameters"] = [arrays[f"param_{k}"] for k in range(n_params)]
    slots = meta.pop("optimizer_slots", [])
    if not isinstance(slots, list) or not all(isinstance(s, str) for s in slots):
        raise FileProblem("optimizer_slots", "must be a list of names")
    optimizer = meta.get("optimizer")
    if not isinstance(optimizer, dict):
        raise FileProblem("optimizer", "must be an object")
    state = {}
    for slot in slots:
        if f"opt_{slot}" not in arrays:
            raise FileProblem(f"opt_{slot[:40]}", "missing from the archive")
        state[slot] = arrays[f"opt_{slot}"]
    optimizer["state"] = state
    position = meta.get("position")
    if not isinstance(position, dict):
        raise FileProblem("position", "must be an object")
    position["order"] = arrays["order"]
    return meta, _may_hold_surrogates(meta_text)


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> np.ndarray:
    """One .npy member, its header checked against its declared size before the data is read."""
    name = info.filename[:-4]
    try:
        with archive.open(info) as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
            elif version in ((2, 0), (3, 0)):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
            else:
                raise FileProblem(name, "unsupported .npy version")
            if dtype.hasobject or dtype.kind not in "fiuU" or fortran:
                raise FileProblem(name, f"unsupported array type {dtype.str}")
            needed = math.prod(shape) * dtype.itemsize
            if needed > info.file_size:
                raise FileProblem(name, f"declares {needed} bytes of data in a member of "
                                  f"{info.file_size}")
            raw = f.read(needed)
            if len(raw) != needed:
                raise FileProblem(name, "the data is shorter than its header says")
            return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
    except FileProblem:
        raise
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as err:
        raise FileProblem(name, f"unreadable ({err})"[:200]) from None


# --- fields ----------------------------------------------------------------------------------


def _known_keys(raw: dict, allowed: set[str], path: str) -> None:
    for key in raw:
        if key not in allowed:
            raise FileProblem(f"{path}{key}"[:120], "unknown field")


def _check_text(value: Any, path: str) -> None:
    """Every string (keys too) must be valid text: no lone surrogates, at most MAX_TEXT long."""
    stack = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            _text_ok(item, where)
        elif isinstance(item, dict):
            for key, v in item.items():
                _text_ok(str(key), f"{where}{key!s:.40}")
                stack.append((v, f"{where}{key!s:.40}."))
        elif isinstance(item, list):
            if item and isinstance(item[0], int | float) and not isinstance(item[0], bool):
                # a row of numbers: only its non-numbers need a look
                stack.extend((v, f"{where}[{i}]") for i, v in enumerate(item)
                             if not isinstance(v, int | float))
            else:
                stack.extend((v, f"{where}[{i}]") for i, v in enumerate(item))
        elif isinstance(item, np.ndarray) and item.dtype.kind == "U":
            for text in item.reshape(-1).tolist():
                _text_ok(text, where)


def _text_ok(text: str, where: str) -> None:
    if len(text) > MAX_TEXT:
        raise FileProblem(where.rstrip(".") or "file", f"a string of {len(text)} characters; "
                          f"at most {MAX_TEXT}")
    if _SURROGATE.search(text):
        raise FileProblem(where.rstrip(".") or "file", "not valid text (a lone surrogate)")


def _int(value: Any, path: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise FileProblem(path, "must be a whole number")
    if not low <= int(value) <= high:
        raise FileProblem(path, f"must be between {low} and {high}")
    return int(value)


def _str(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise FileProblem(path, "must be a string")
    return value


def _matrix(value: Any, path: str, dtype, ndim: int) -> np.ndarray:
    try:
        array = np.asarray(value, dtype=dtype)
    except (ValueError, TypeError, OverflowError):
        raise FileProblem(path, f"must be a {ndim}-dimensional array of numbers") from None
    if array.ndim != ndim and not (array.size == 0 and ndim == 2):
        raise FileProblem(path, f"must be a {ndim}-dimensional array of numbers")
    return array


def _check_dataset(raw: Any, spec: Spec) -> int:
    """A custom dataset: rows, columns, labels and names within the limits; returns n_train."""
    if not isinstance(raw, dict):
        raise FileProblem("dataset", "must be an object")
    _known_keys(raw, {"info", "x_train", "y_train", "x_test", "y_test", "input_names",
                      "target_name", "class_names", "bounds"}, "dataset.")
    info = raw.get("info")
    if not isinstance(info, dict):
        raise FileProblem("dataset.info", "must be an object")
    _known_keys(info, {"name", "title", "task", "n_classes", "n_inputs", "plane",
                       "default_samples", "description", "input_names", "input_shape"},
                "dataset.info.")
    if info.get("input_shape", []) != []:  # a file carries tables only (CSV data)
        raise FileProblem("dataset.info.input_shape", "must be empty: files carry tables of rows")
    for key in ("name", "title", "task", "description"):
        _text_ok(_str(info.get(key), f"dataset.info.{key}"), f"dataset.info.{key}")
    task = info["task"]
    if task not in ("classification", "regression"):
        raise FileProblem("dataset.info.task", "must be classification or regression")
    n_inputs = _int(info.get("n_inputs"), "dataset.info.n_inputs", 1, MAX_COLUMNS)
    n_classes = _int(info.get("n_classes"), "dataset.info.n_classes", 0, MAX_CLASSES)
    if task == "classification" and n_classes < 2:
        raise FileProblem("dataset.info.n_classes", "a classification needs at least 2 classes")
    if not isinstance(info.get("plane"), bool):
        raise FileProblem("dataset.info.plane", "must be true or false")
    _int(info.get("default_samples"), "dataset.info.default_samples", 0,
         int(LIMITS["max_samples"]))
    names = info.get("input_names", [])
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise FileProblem("dataset.info.input_names", "must be a list of strings")
    rows = 0
    sizes = {}
    label_type = np.int64 if task == "classification" else np.float64
    for split in ("train", "test"):
        x = _matrix(raw.get(f"x_{split}"), f"dataset.x_{split}", np.float64, 2)
        rows += len(x)
        if rows > LIMITS["max_samples"]:
            raise FileProblem(f"dataset.x_{split}", f"{rows} rows or more; at most "
                              f"{LIMITS['max_samples']}")
        if len(x) and x.shape[1] != n_inputs:
            raise FileProblem(f"dataset.x_{split}", f"rows must have {n_inputs} values "
                              f"(dataset.info.n_inputs), not {x.shape[1]}")
        if not np.isfinite(x).all():
            raise FileProblem(f"dataset.x_{split}", "every value must be a finite number")
        y_raw = raw.get(f"y_{split}")
        if task == "classification" and isinstance(y_raw, list) and any(
                isinstance(v, float) for v in y_raw):
            raise FileProblem(f"dataset.y_{split}", "class labels must be whole numbers")
        y = _matrix(y_raw, f"dataset.y_{split}", label_type,
                    1 if task == "classification" else 2)
        if task == "regression" and len(y):
            outputs = sizes.setdefault("outputs", y.shape[1])
            if not 1 <= y.shape[1] <= MAX_CLASSES or y.shape[1] != outputs:
                raise FileProblem(f"dataset.y_{split}", "every row needs the same number of "
                                  f"targets, 1 … {MAX_CLASSES}")
        if len(y) != len(x):
            raise FileProblem(f"dataset.y_{split}", f"{len(y)} labels for {len(x)} rows")
        if task == "classification" and len(y) and (y.min() < 0 or y.max() >= n_classes):
            raise FileProblem(f"dataset.y_{split}", f"class labels must be 0 … {n_classes - 1}")
        if task == "regression" and not np.isfinite(y).all():
            raise FileProblem(f"dataset.y_{split}", "every value must be a finite number")
        sizes[split] = len(x)
    if sizes["train"] < 1:
        raise FileProblem("dataset.x_train", "needs at least one row")
    inputs = raw.get("input_names")
    if not isinstance(inputs, list) or len(inputs) != n_inputs \
            or not all(isinstance(n, str) for n in inputs):
        raise FileProblem("dataset.input_names", f"must be a list of {n_inputs} strings")
    _text_ok(_str(raw.get("target_name"), "dataset.target_name"), "dataset.target_name")
    for i, name in enumerate([*inputs, *names]):
        _text_ok(name, f"dataset.input_names[{i}]")
    classes = raw.get("class_names")
    expected = n_classes if task == "classification" else 0
    if not isinstance(classes, list) or not all(isinstance(n, str) for n in classes) \
            or len(classes) != expected:
        raise FileProblem("dataset.class_names", f"must be a list of {expected} strings")
    for i, name in enumerate(classes):
        _text_ok(name, f"dataset.class_names[{i}]")
    bounds = raw.get("bounds")
    if bounds is not None:
        if not (isinstance(bounds, list) and len(bounds) == 2
                and all(isinstance(b, int | float) and not isinstance(b, bool)
                        and math.isfinite(b) for b in bounds) and bounds[0] < bounds[1]):
            raise FileProblem("dataset.bounds", "must be null or [low, high] with low < high")
    if info["plane"] and (n_inputs != 2 or bounds is None):
        raise FileProblem("dataset.info.plane", "a plane dataset has 2 inputs and bounds")
    if spec.training.batch_size > sizes["train"]:
        raise FileProblem("spec.training.batch_size", f"{spec.training.batch_size} is larger "
                          f"than the {sizes['train']} training rows")
    return sizes["train"]


# Each layer type's parameters in flat-vector order, by rank (the shapes are checked against the
# network the spec builds once the data is known: engine.persistence.from_dict).
_RANKS = {"dense": (2, 1), "conv2d": (4, 1), "maxpool": (), "avgpool": (), "flatten": (),
          "rnn": (2, 2, 1), "lstm": (2, 2, 1)}


def _parameter_ranks(spec: Spec) -> list[int]:
    """The rank of every parameter array the spec's network has, the output layer's last."""
    ranks = [rank for layer in spec.layer_list() for rank in _RANKS[layer.type]]
    return ranks + list(_RANKS["dense"])


def _check_parameters(raw: Any, ranks: list[int]) -> int:
    """One array per named parameter of each layer, at most max_parameters numbers; returns the
    count."""
    if not isinstance(raw, list) or len(raw) != len(ranks):
        raise FileProblem("parameters", f"must be a list of {len(ranks)} arrays (each layer's "
                          "weights or kernels and biases, in order)")
    total = 0
    for k, value in enumerate(raw):
        array = _matrix(value, f"parameters[{k}]", np.float64, ranks[k])
        total += array.size
        if total > LIMITS["max_parameters"]:
            raise FileProblem(f"parameters[{k}]", f"more than {LIMITS['max_parameters']} "
                              "parameters")
    return total


def _check_optimizer(raw: Any, n_params: int) -> None:
    if not isinstance(raw, dict):
        raise FileProblem("optimizer", "must be an object")
    _known_keys(raw, {"name", "learning_rate", "steps", "hyperparameters", "state"},
                "optimizer.")
    _str(raw.get("name"), "optimizer.name")
    rate = raw.get("learning_rate")
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not math.isfinite(rate) \
            or not 0 < rate <= LIMITS["max_learning_rate"]:
        raise FileProblem("optimizer.learning_rate",
                          f"must be above 0 and at most {LIMITS['max_learning_rate']}")
    _int(raw.get("steps"), "optimizer.steps", 0, MAX_INT)
    if not isinstance(raw.get("hyperparameters", {}), dict):
        raise FileProblem("optimizer.hyperparameters", "must be an object")
    state = raw.get("state", {})
    if not isinstance(state, dict) or len(state) > 4:
        raise FileProblem("optimizer.state", "must be an object of at most 4 arrays")
    for key, value in state.items():
        if not _SLOT.match(key):
            raise FileProblem("optimizer.state", f"unexpected slot {key[:40]!r}")
        array = _matrix(value, f"optimizer.state.{key}", np.float64, 1)
        if array.shape != (n_params,):
            raise FileProblem(f"optimizer.state.{key}", f"must hold {n_params} numbers, one "
                              "per parameter")


def _check_position(raw: Any, n_train: int | None) -> None:
    if not isinstance(raw, dict):
        raise FileProblem("position", "must be an object")
    _known_keys(raw, {"step", "epoch", "order", "cursor", "order_rng", "dropout_rng",
                      "phases_done"}, "position.")
    _int(raw.get("step"), "position.step", 0, MAX_INT)
    # Phases of a step begun phase by phase (restoring replays them; the trainer checks the
    # plan's length): 2 per layer and 2 more at the most.
    _int(raw.get("phases_done", 0), "position.phases_done", 0, 2 * LIMITS["max_hidden_layers"] + 3)
    _int(raw.get("epoch"), "position.epoch", 0, MAX_INT)
    order_raw = raw.get("order")
    if isinstance(order_raw, list) and any(isinstance(v, float | bool) for v in order_raw):
        raise FileProblem("position.order", "must be a list of whole numbers")
    order = _matrix(order_raw, "position.order", np.int64, 1)
    if isinstance(order_raw, np.ndarray) and order_raw.dtype.kind not in "iu":
        raise FileProblem("position.order", "must be a list of whole numbers")
    n = len(order)
    if n > LIMITS["max_samples"] or (n_train is not None and n not in (0, n_train)):
        raise FileProblem("position.order", f"has {n} entries; it must list every training row")
    if n and not np.array_equal(np.sort(order), np.arange(n)):
        raise FileProblem("position.order", "must be a permutation of the training rows "
                          f"0 … {n - 1}")
    _int(raw.get("cursor"), "position.cursor", 0, n)
    for name in ("order_rng", "dropout_rng"):
        _check_rng(raw.get(name), f"position.{name}")


def _check_rng(raw: Any, path: str) -> None:
    """A PCG64 generator state as numpy writes it (what Trainer's default_rng uses)."""
    if not isinstance(raw, dict) or raw.get("bit_generator") != "PCG64":
        raise FileProblem(f"{path}.bit_generator", "must be 'PCG64'")
    _known_keys(raw, {"bit_generator", "state", "has_uint32", "uinteger"}, f"{path}.")
    inner = raw.get("state")
    if not isinstance(inner, dict) or set(inner) != {"state", "inc"}:
        raise FileProblem(f"{path}.state", "must be an object with state and inc")
    for key in ("state", "inc"):
        _int(inner[key], f"{path}.state.{key}", 0, 2**128 - 1)
    _int(raw.get("has_uint32"), f"{path}.has_uint32", 0, 1)
    _int(raw.get("uinteger"), f"{path}.uinteger", 0, 2**32 - 1)
