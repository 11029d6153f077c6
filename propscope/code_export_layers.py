"""Code export for networks with convolutional, pooling, flatten or recurrent layers.

The dense-only scripts (:mod:`propscope.code_export`) spell a network out as weight matrices
and one loop; a network of layer kinds needs a layer each. The scripts written here hold the
same things as literals — the training data as the network sees it, every layer's description
(``Layer.describe()``), its named parameters in the engine's layouts, the optimiser's state,
the batch position and both random generators — and rebuild the layers:

* the NumPy script with small layer classes that run the engine's own algorithms (im2col
  convolution, pooling with routed maxima, backpropagation through time with truncation) in the
  engine's order of operations, so it continues the engine's run bit for bit;
* the PyTorch script with ``torch.nn`` modules (``Conv2d``, ``MaxPool2d``, ``AvgPool2d``,
  ``Linear``, ``RNN``, ``LSTM``) and ``torch.optim``, converting the layouts: a Linear or
  recurrent weight is the transpose of the engine's (``out × in``), a convolution kernel is the
  same (F, C, k, k); ``nn.RNN``/``nn.LSTM`` have two biases where the engine has one, so the
  engine's goes into ``bias_ih_l0`` and ``bias_hh_l0`` is a frozen zero. The LSTM's gate order
  is i, f, g, o in both. Truncated backpropagation through time (each loss contribution reaches
  at most k steps back) is rebuilt by rerunning each output's last k + 1 steps from a detached
  state, which gives the engine's gradient exactly.

``--save out.npz`` writes each parameter after the run under ``<short name><layer index>`` —
``W`` (dense weight), ``b`` (bias), ``K`` (kernel), ``W_ih``, ``W_hh`` — in the engine's layout,
and the last step's gradients under the same names prefixed with ``g``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine import persistence
from engine.trainer import Trainer
from propscope.layers_numpy_script import NUMPY_BODY
from propscope.layers_torch_script import TORCH_BODY

SHORT_NAMES = {"weight": "W", "bias": "b", "kernel": "K", "weight_ih": "W_ih", "weight_hh": "W_hh"}


def numpy_script(trainer: Trainer) -> str:
    """A NumPy script that rebuilds the layers with their current parameters and trains on."""
    return _header(trainer, "NumPy") + _constants(trainer) + NUMPY_BODY


def torch_script(trainer: Trainer) -> str:
    """A PyTorch script (torch.nn + torch.optim) that rebuilds the layers and trains on."""
    return _header(trainer, "PyTorch") + _constants(trainer) + TORCH_BODY


def layer_summary(trainer: Trainer) -> str:
    """'conv2d 4×3×3 relu → maxpool 2 → flatten → dense 3 softmax': the docstring's one line."""
    parts = []
    for layer in trainer.network.layers:
        d = layer.describe()
        kind = d["kind"]
        if kind == "conv2d":
            text = f"conv2d {d['filters']}×{d['kernel']}×{d['kernel']} {d['activation']}"
            if d["stride"] != 1:
                text += f" stride {d['stride']}"
        elif kind in ("maxpool", "avgpool"):
            text = f"{kind} {d['size']}" + (f" stride {d['stride']}" if d["stride"] != d["size"]
                                             else "")
        elif kind == "flatten":
            text = "flatten"
        elif kind in ("rnn", "lstm"):
            text = f"{kind} {d['units']}" + (f" {d['activation']}" if kind == "rnn" else "")
            if d["truncation"] is not None:
                text += f" truncated at {d['truncation']}"
        else:
            text = f"dense {d['units']} {d['activation']}"
        parts.append(text)
    return " → ".join(parts)


def _header(trainer: Trainer, flavour: str) -> str:
    spec = trainer.spec
    imports = "import math\n\nimport numpy as np\n" if flavour == "NumPy" else (
        "\nimport numpy as np  # the engine's batch order and dropout masks, drawn identically\n"
        "import torch\n"
    )
    return (
        "#!/usr/bin/env python3\n"
        f'"""Propscope network exported as a standalone {flavour} script at step '
        f"{trainer.step_count}.\n\n"
        f"Dataset {spec.data.dataset!r}, inputs {_shape(trainer.network.input_shape)}, layers "
        f"{layer_summary(trainer)}; loss {spec.training.loss}, optimiser "
        f"{spec.training.optimizer.name}.\n"
        "It rebuilds the network with the parameters it had when exported and continues\n"
        "training exactly as Propscope would: same batches, same dropout masks, same optimiser\n"
        "state.\n\n"
        "    python this.py --steps 100               # print each step's loss\n"
        "    python this.py --steps 1 --save out.npz  # parameters after, last gradients\n"
        '"""\n\n'
        "import argparse\n"
        f"{imports}\n"
    )


def _shape(shape: tuple[int, ...]) -> str:
    return "×".join(str(n) for n in shape)


def _constants(trainer: Trainer) -> str:
    state = persistence.to_dict(trainer)
    network, problem, spec = trainer.network, trainer.problem, trainer.spec
    optimizer = state["optimizer"]
    position = state["position"]
    layouts = network.layouts
    lines = [
        f"DTYPE = np.{trainer.dtype.name}",
        "",
        f"# The training data as the network sees it: inputs {_shape(network.input_shape)} per "
        f"sample{' (standardised)' if spec.data.standardize else ''}; targets encoded "
        f"{problem.encoding!r}.",
        f"X = np.array({_literal(problem.x_train)}, dtype=DTYPE)",
        f"Y = np.array({_literal(problem.y_train)}, dtype=DTYPE)",
        "",
        "# Every layer as the engine describes it, in order; the last is the output layer.",
        "LAYERS = [",
        *(f"    {_description(layer)!r}," for layer in network.layers),
        "]",
        "# Each layer's parameters in the engine's layout: dense weight[i, j] links input i to",
        "# unit j (z = x @ weight + bias); kernel[f, c, i, j]; recurrent weight_ih (inputs × units",
        "# · gates) and weight_hh (units × units · gates), gate columns i, f, g, o for an LSTM.",
        "PARAMETERS = [",
        *(f"    {_named(layout.views(network.flat))}," for layout in layouts),
        "]",
        f"LOSS = {spec.training.loss!r}",
        f"REGULARIZATION = {trainer.regularization.kind!r}",
        f"REGULARIZATION_RATE = {float(trainer.regularization.rate)!r}",
        f"OPTIMIZER = {optimizer['name']!r}",
        f"LEARNING_RATE = {float(optimizer['learning_rate'])!r}",
        f"HYPERPARAMETERS = {optimizer['hyperparameters']!r}",
        f"OPTIMIZER_STEPS = {int(optimizer['steps'])}",
        "# The optimiser's running state, per layer and parameter (the layout of PARAMETERS).",
        "OPTIMIZER_STATE = {",
        *(
            f"    {key!r}: [\n"
            + "".join(
                f"        {_named(layout.views(np.asarray(flat, dtype=trainer.dtype)))},\n"
                for layout in layouts
            )
            + "    ],"
            for key, flat in trainer.optimizer.state.items()
        ),
        "}",
        f"BATCH_SIZE = {int(trainer.batch_size)}",
        f"STEP = {int(position['step'])}",
        f"EPOCH = {int(position['epoch'])}",
        f"ORDER = {list(map(int, position['order']))!r}  # this epoch's batch order",
        f"CURSOR = {int(position['cursor'])}  # next row of ORDER",
        f"ORDER_RNG_STATE = {position['order_rng']!r}",
        f"DROPOUT_RNG_STATE = {position['dropout_rng']!r}",
        "",
    ]
    return "\n".join(lines) + "\n"


def _description(layer: Any) -> dict[str, Any]:
    """describe() plus what the script needs that it leaves out (a dense layer's dropout is
    in it; the recurrent activation of an LSTM is fixed)."""
    record = dict(layer.describe())
    record["regularized"] = list(layer.regularized)
    return record


def _named(params: dict[str, np.ndarray]) -> str:
    if not params:
        return "{}"
    body = "".join(
        f"        {name!r}: np.array({_literal(value, indent=12)}, dtype=DTYPE),\n"
        for name, value in params.items()
    )
    return "{\n" + body + "    }"


def _literal(array: np.ndarray, indent: int = 4) -> str:
    """Nested lists of Python floats (repr round-trips exactly), one line per leading index."""
    values: Any = np.asarray(array, dtype=np.float64).tolist()
    if np.ndim(array) <= 1:
        return repr(values)
    pad = " " * indent
    return "[\n" + "".join(f"{pad}{row!r},\n" for row in values) + pad[:-4] + "]"
