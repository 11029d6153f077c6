"""The spec: one JSON-serialisable description of data, network and training.

The same dictionary travels through the server protocol, the page URL and saved files, so it is
validated in one place with messages a learner can act on. ``Spec.from_dict`` accepts partial input
(missing keys take defaults) and raises :class:`SpecError` listing every problem found.
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass, field
from typing import Any

from engine.activations import ACTIVATIONS
from engine.datasets import DATASETS
from engine.features import FEATURES
from engine.initializers import INITIALIZERS
from engine.losses import LOSSES
from engine.optimizers import OPTIMIZERS
from engine.regularization import REGULARIZATIONS

SPEC_VERSION = 1

# Limits that keep one request from exhausting the server; published in the catalog.
LIMITS: dict[str, int | float] = {
    "max_hidden_layers": 10,
    "max_units_per_layer": 512,
    "max_parameters": 250_000,
    "max_samples": 10_000,
    "max_batch_size": 10_000,
    "max_learning_rate": 10.0,
    "max_regularization_rate": 10.0,
    "max_seed": 2**31 - 1,
    "max_filters": 32,
    "max_kernel": 7,
    "max_recurrent_units": 64,
    "max_sequence_length": 64,
    # Values one sample produces across all layers: bounds a step's memory and time for any
    # architecture, whatever mix of convolutions and widths it has.
    "max_activations_per_sample": 20_000,
    # Forward multiply-adds per sample: four times what the largest dense network costs, so a
    # convolution stack cannot be a hundred times heavier than anything dense.
    "max_multiply_adds_per_sample": 1_000_000,
}

CUSTOM_DATASET = "custom"


class SpecError(ValueError):
    """One or more problems with a spec; ``problems`` holds (field path, message) pairs."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{path}: {message}" for path, message in problems))


@dataclass
class DataSpec:
    dataset: str = "circle"
    n_samples: int | None = None  # None: the dataset's default size
    noise: float = 0.0  # 0 … 1 (the Playground's 0–50 % slider / 100)
    train_ratio: float = 0.5
    validation_ratio: float = 0.0  # share of the training part held out (early stopping)
    seed: int = 1
    features: list[str] = field(default_factory=lambda: ["x1", "x2"])
    standardize: bool = True
    sequence_length: int | None = None  # sequence sets only; None: the set's default length


@dataclass
class LayerSpec:
    units: int = 4
    activation: str = "tanh"
    dropout: float = 0.0


@dataclass
class DenseLayerSpec:
    type: str = "dense"
    units: int = 16
    activation: str = "relu"
    dropout: float = 0.0


@dataclass
class Conv2DLayerSpec:
    type: str = "conv2d"
    filters: int = 4
    kernel: int = 3
    stride: int = 1
    padding: str | int = "same"  # "same", "valid" or zeros added on each side
    activation: str = "relu"


@dataclass
class PoolLayerSpec:
    type: str = "maxpool"  # or "avgpool"
    size: int = 2
    stride: int | None = None  # None: the window size (windows do not overlap)


@dataclass
class FlattenLayerSpec:
    type: str = "flatten"


@dataclass
class RecurrentLayerSpec:
    type: str = "rnn"  # or "lstm"
    units: int = 8
    activation: str = "tanh"  # rnn only; an LSTM's gates are fixed
    truncation: int | None = None  # backpropagate at most this many time steps (None: all)


LayerEntry = (
    DenseLayerSpec | Conv2DLayerSpec | PoolLayerSpec | FlattenLayerSpec | RecurrentLayerSpec
)

LAYER_TYPES: dict[str, type] = {
    "dense": DenseLayerSpec,
    "conv2d": Conv2DLayerSpec,
    "maxpool": PoolLayerSpec,
    "avgpool": PoolLayerSpec,
    "flatten": FlattenLayerSpec,
    "rnn": RecurrentLayerSpec,
    "lstm": RecurrentLayerSpec,
}


@dataclass
class NetworkSpec:
    hidden: list[LayerSpec] = field(
        default_factory=lambda: [LayerSpec(4, "tanh"), LayerSpec(2, "tanh")]
    )
    # The typed layer list before the (always dense) output layer. When given, it replaces the
    # dense shorthand `hidden` (which is then empty).
    layers: list[LayerEntry] | None = None
    output_activation: str = "tanh"
    initializer: str = "xavier_uniform"
    dtype: str = "float64"
    seed: int = 1


@dataclass
class OptimizerSpec:
    name: str = "sgd"
    learning_rate: float = 0.03
    momentum: float = 0.9
    nesterov: bool = False
    rho: float = 0.99
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8

    def hyperparameters(self) -> dict[str, float | bool]:
        return {
            "momentum": self.momentum,
            "nesterov": self.nesterov,
            "rho": self.rho,
            "beta1": self.beta1,
            "beta2": self.beta2,
            "eps": self.eps,
        }


@dataclass
class TrainingSpec:
    loss: str = "mse"
    optimizer: OptimizerSpec = field(default_factory=OptimizerSpec)
    batch_size: int = 10
    regularization: str = "none"
    regularization_rate: float = 0.0
    max_epochs: int | None = None
    target_loss: float | None = None
    seed: int = 1  # batch order and dropout masks


@dataclass
class Spec:
    data: DataSpec = field(default_factory=DataSpec)
    network: NetworkSpec = field(default_factory=NetworkSpec)
    training: TrainingSpec = field(default_factory=TrainingSpec)
    version: int = SPEC_VERSION

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: Any) -> Spec:
        """Parse and validate; raises SpecError with every problem found."""
        problems: list[tuple[str, str]] = []
        spec = _parse(raw, problems)
        if spec is not None:
            problems.extend(validate(spec))
        if problems:
            raise SpecError(problems)
        return spec

    def layer_list(self) -> list[LayerEntry]:
        """The layers before the output layer, typed: `network.layers`, or the dense stack that
        the shorthand `network.hidden` stands for."""
        network = self.network
        if network.layers is not None:
            return list(network.layers)
        return [DenseLayerSpec("dense", h.units, h.activation, h.dropout) for h in network.hidden]

    def copy(self) -> Spec:
        return Spec.from_dict(self.to_dict())


# --- parsing: shape and types ------------------------------------------------------------------


def overlay(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """A copy of base with changes laid over it: objects merged key by key, anything else (lists
    such as ``network.hidden`` too) replaced whole — how a fork or a lesson's comparison says
    what differs from a spec."""
    out = copy.deepcopy(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = overlay(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _parse(raw: Any, problems: list[tuple[str, str]]) -> Spec | None:
    if not isinstance(raw, dict):
        problems.append(("spec", "must be a JSON object"))
        return None
    _unknown_keys(raw, {"data", "network", "training", "version"}, "spec", problems)
    version = raw.get("version", SPEC_VERSION)
    if version != SPEC_VERSION:
        problems.append(
            ("version", f"unsupported spec version {version!r}; this is {SPEC_VERSION}")
        )
    data = _fields(DataSpec, raw.get("data", {}), "data", problems)
    network_raw = raw.get("network", {})
    hidden = None
    if isinstance(network_raw, dict) and "hidden" in network_raw:
        hidden_raw = network_raw["hidden"]
        if not isinstance(hidden_raw, list):
            problems.append(("network.hidden", "must be a list of layers"))
        elif len(hidden_raw) > LIMITS["max_hidden_layers"]:
            limit = LIMITS["max_hidden_layers"]
            problems.append(("network.hidden", f"{len(hidden_raw)} hidden layers; at most {limit}"))
        else:
            hidden = [
                _fields(LayerSpec, layer, f"network.hidden[{i}]", problems)
                for i, layer in enumerate(hidden_raw)
            ]
        network_raw = {k: v for k, v in network_raw.items() if k != "hidden"}
    layers = None
    if isinstance(network_raw, dict) and network_raw.get("layers") is not None:
        layers = _parse_layers(network_raw["layers"], problems)
        if hidden:
            problems.append(
                ("network.hidden", "give the layers in network.layers or network.hidden, not both")
            )
        hidden = []
    if isinstance(network_raw, dict):
        network_raw = {k: v for k, v in network_raw.items() if k != "layers"}
    network = _fields(NetworkSpec, network_raw, "network", problems, extra={"hidden", "layers"})
    training_raw = raw.get("training", {})
    optimizer = None
    if isinstance(training_raw, dict) and "optimizer" in training_raw:
        optimizer = _fields(
            OptimizerSpec, training_raw["optimizer"], "training.optimizer", problems
        )
        training_raw = {k: v for k, v in training_raw.items() if k != "optimizer"}
    training = _fields(TrainingSpec, training_raw, "training", problems, extra={"optimizer"})
    if None in (data, network, training) or (hidden is not None and None in hidden):
        return None
    if layers is not None and None in layers:
        return None
    if hidden is not None:
        network.hidden = hidden
    network.layers = layers
    if optimizer is not None:
        training.optimizer = optimizer
    return Spec(data=data, network=network, training=training)


def _parse_layers(raw: Any, problems) -> list | None:
    if not isinstance(raw, list):
        problems.append(("network.layers", "must be a list of layers"))
        return None
    if len(raw) > LIMITS["max_hidden_layers"]:
        limit = LIMITS["max_hidden_layers"]
        problems.append(("network.layers", f"{len(raw)} layers before the output; at most {limit}"))
        return None
    parsed = []
    for i, entry in enumerate(raw):
        path = f"network.layers[{i}]"
        kind = entry.get("type") if isinstance(entry, dict) else None
        if kind not in LAYER_TYPES:
            problems.append(
                (
                    f"{path}.type",
                    f"unknown layer type {kind!r}; choose one of: {', '.join(LAYER_TYPES)}",
                )
            )
            parsed.append(None)
            continue
        parsed.append(_fields(LAYER_TYPES[kind], entry, path, problems))
    return parsed


_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "str": (str,),
    "str | int": (str, int),
}


def _fields(cls, raw: Any, path: str, problems, extra: set[str] = frozenset()):
    if not isinstance(raw, dict):
        problems.append((path, "must be a JSON object"))
        return None
    defaults = cls()
    names = {f for f in defaults.__dataclass_fields__}
    _unknown_keys(raw, names | extra, path, problems)
    values = {}
    ok = True
    for name, value in raw.items():
        if name not in names or name in extra:
            continue
        expected = _expected_type(defaults, name)
        if not _type_ok(value, expected):
            problems.append((f"{path}.{name}", f"must be {_describe(expected)}, got {value!r}"))
            ok = False
            continue
        values[name] = list(value) if isinstance(value, list) else value
    return cls(**values) if ok else None


def _expected_type(defaults, name: str) -> str:
    hint = str(defaults.__dataclass_fields__[name].type)
    if hint.startswith("list"):
        return "list[str]"
    nullable = "None" in hint
    base = hint.replace(" | None", "")
    return base + ("?" if nullable else "")


def _type_ok(value: Any, expected: str) -> bool:
    if expected.endswith("?"):
        if value is None:
            return True
        expected = expected[:-1]
    if expected == "list[str]":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if isinstance(value, bool) and expected != "bool":
        return False
    if expected == "float" and isinstance(value, float) and not math.isfinite(value):
        return False
    return isinstance(value, _TYPES[expected])


def _describe(expected: str) -> str:
    nullable = expected.endswith("?")
    base = expected.rstrip("?")
    words = {
        "int": "a whole number",
        "float": "a finite number",
        "bool": "true or false",
        "str": "a string",
        "list[str]": "a list of strings",
        "str | int": "a string or a whole number",
    }[base]
    return words + (" or null" if nullable else "")


def _unknown_keys(raw: dict, allowed: set[str], path: str, problems) -> None:
    for key in raw:
        if key not in allowed:
            problems.append(
                (f"{path}.{key}", f"unknown field (allowed: {', '.join(sorted(allowed))})")
            )


# --- validation: meaning -----------------------------------------------------------------------


def _choice(value: str, options, path: str, what: str, problems) -> bool:
    if value not in options:
        problems.append((path, f"unknown {what} {value!r}; choose one of: {', '.join(options)}"))
        return False
    return True


def validate(spec: Spec, n_train: int | None = None) -> list[tuple[str, str]]:
    """Problems with a well-typed spec; ``n_train`` (when known) checks the batch size."""
    problems: list[tuple[str, str]] = []
    _validate_data(spec.data, problems)
    _validate_network(spec.network, problems)
    _validate_training(spec, problems, n_train)
    return problems


def _validate_data(data: DataSpec, problems) -> None:
    if data.dataset != CUSTOM_DATASET:
        _choice(data.dataset, list(DATASETS), "data.dataset", "dataset", problems)
    if data.n_samples is not None and not 4 <= data.n_samples <= LIMITS["max_samples"]:
        problems.append(("data.n_samples", f"must be between 4 and {LIMITS['max_samples']}"))
    if not 0.0 <= data.noise <= 1.0:
        problems.append(("data.noise", "must be between 0 and 1 (0 % to 100 %)"))
    if not 0.05 <= data.train_ratio <= 0.95:
        problems.append(("data.train_ratio", "must be between 0.05 and 0.95"))
    if not 0.0 <= data.validation_ratio <= 0.5:
        problems.append(
            ("data.validation_ratio", "must be between 0 and 0.5 (a share of the training part)")
        )
    elif data.validation_ratio > 0 and data.dataset == CUSTOM_DATASET:
        problems.append(
            ("data.validation_ratio", "a validation split is available for built-in datasets only")
        )
    _seed(data.seed, "data.seed", problems)
    info = DATASETS.get(data.dataset)
    if data.sequence_length is not None:
        if info is not None and info.family != "sequence":
            problems.append(("data.sequence_length", f"{data.dataset} is not a sequence set"))
        else:
            _between(
                data.sequence_length,
                2,
                LIMITS["max_sequence_length"],
                "data.sequence_length",
                problems,
            )
    if info is not None and info.plane:
        if not data.features:
            problems.append(("data.features", "choose at least one input feature"))
        for name in data.features:
            _choice(name, list(FEATURES), "data.features", "feature", problems)
        if len(set(data.features)) != len(data.features):
            problems.append(("data.features", "a feature is listed twice"))


def _validate_network(network: NetworkSpec, problems) -> None:
    for i, layer in enumerate(network.layers or []):
        _validate_layer(layer, f"network.layers[{i}]", problems)
    for i, layer in enumerate(network.hidden):
        path = f"network.hidden[{i}]"
        if not 1 <= layer.units <= LIMITS["max_units_per_layer"]:
            problems.append(
                (f"{path}.units", f"must be between 1 and {LIMITS['max_units_per_layer']}")
            )
        if _choice(
            layer.activation, list(ACTIVATIONS), f"{path}.activation", "activation", problems
        ):
            if ACTIVATIONS[layer.activation].output_only:
                problems.append(
                    (
                        f"{path}.activation",
                        f"{layer.activation} is only allowed on the output layer",
                    )
                )
        if not 0.0 <= layer.dropout < 1.0:
            problems.append((f"{path}.dropout", "must be at least 0 and below 1"))
    _choice(
        network.output_activation,
        list(ACTIVATIONS),
        "network.output_activation",
        "activation",
        problems,
    )
    _choice(network.initializer, list(INITIALIZERS), "network.initializer", "initializer", problems)
    _choice(network.dtype, ["float64", "float32"], "network.dtype", "precision", problems)
    _seed(network.seed, "network.seed", problems)


def _between(value: int, low: int, high: int, path: str, problems) -> None:
    if not low <= value <= high:
        problems.append((path, f"must be between {low} and {high}"))


def _hidden_activation(name: str, path: str, problems) -> None:
    if _choice(name, list(ACTIVATIONS), path, "activation", problems):
        if ACTIVATIONS[name].output_only:
            problems.append((path, f"{name} is only allowed on the output layer"))


def _validate_layer(layer, path: str, problems) -> None:
    """What a layer's own settings must satisfy; shapes are checked when the data is known."""
    if isinstance(layer, DenseLayerSpec):
        _between(layer.units, 1, LIMITS["max_units_per_layer"], f"{path}.units", problems)
        _hidden_activation(layer.activation, f"{path}.activation", problems)
        if not 0.0 <= layer.dropout < 1.0:
            problems.append((f"{path}.dropout", "must be at least 0 and below 1"))
    elif isinstance(layer, Conv2DLayerSpec):
        _between(layer.filters, 1, LIMITS["max_filters"], f"{path}.filters", problems)
        _between(layer.kernel, 1, LIMITS["max_kernel"], f"{path}.kernel", problems)
        _between(layer.stride, 1, 4, f"{path}.stride", problems)
        if isinstance(layer.padding, str):
            _choice(layer.padding, ["same", "valid"], f"{path}.padding", "padding", problems)
        else:
            _between(layer.padding, 0, LIMITS["max_kernel"] // 2, f"{path}.padding", problems)
        _hidden_activation(layer.activation, f"{path}.activation", problems)
    elif isinstance(layer, PoolLayerSpec):
        _between(layer.size, 2, 8, f"{path}.size", problems)
        if layer.stride is not None:
            _between(layer.stride, 1, 8, f"{path}.stride", problems)
    elif isinstance(layer, RecurrentLayerSpec):
        _between(layer.units, 1, LIMITS["max_recurrent_units"], f"{path}.units", problems)
        if layer.type == "rnn":
            _hidden_activation(layer.activation, f"{path}.activation", problems)
        if layer.truncation is not None:
            _between(
                layer.truncation, 1, LIMITS["max_sequence_length"], f"{path}.truncation", problems
            )


def _validate_training(spec: Spec, problems, n_train: int | None) -> None:
    training = spec.training
    if _choice(training.loss, list(LOSSES), "training.loss", "loss", problems):
        needed = LOSSES[training.loss].requires_output
        if needed and spec.network.output_activation != needed:
            problems.append(
                (
                    "training.loss",
                    f"{training.loss} needs a {needed} output layer, "
                    f"not {spec.network.output_activation}",
                )
            )
    optimizer = training.optimizer
    _choice(optimizer.name, list(OPTIMIZERS), "training.optimizer.name", "optimizer", problems)
    if not 0.0 < optimizer.learning_rate <= LIMITS["max_learning_rate"]:
        problems.append(
            (
                "training.optimizer.learning_rate",
                f"must be above 0 and at most {LIMITS['max_learning_rate']}",
            )
        )
    for name in ("momentum", "rho", "beta1", "beta2"):
        if not 0.0 <= getattr(optimizer, name) < 1.0:
            problems.append((f"training.optimizer.{name}", "must be at least 0 and below 1"))
    if not 0.0 < optimizer.eps <= 1.0:
        problems.append(("training.optimizer.eps", "must be above 0 and at most 1"))
    if not 1 <= training.batch_size <= LIMITS["max_batch_size"]:
        problems.append(
            ("training.batch_size", f"must be between 1 and {LIMITS['max_batch_size']}")
        )
    elif n_train is not None and training.batch_size > n_train:
        problems.append(
            (
                "training.batch_size",
                f"{training.batch_size} is larger than the {n_train} training samples",
            )
        )
    _choice(
        training.regularization,
        list(REGULARIZATIONS),
        "training.regularization",
        "regularization",
        problems,
    )
    if not 0.0 <= training.regularization_rate <= LIMITS["max_regularization_rate"]:
        problems.append(
            (
                "training.regularization_rate",
                f"must be between 0 and {LIMITS['max_regularization_rate']}",
            )
        )
    if training.max_epochs is not None and training.max_epochs < 1:
        problems.append(("training.max_epochs", "must be at least 1 (or null for no limit)"))
    if training.target_loss is not None and training.target_loss <= 0:
        problems.append(("training.target_loss", "must be above 0 (or null for no target)"))
    _seed(training.seed, "training.seed", problems)


def _seed(value: int, path: str, problems) -> None:
    if not 0 <= value <= LIMITS["max_seed"]:
        problems.append((path, f"must be between 0 and {LIMITS['max_seed']}"))


def parameter_count(layer_sizes: list[int]) -> int:
    return sum((a + 1) * b for a, b in zip(layer_sizes, layer_sizes[1:], strict=False))
