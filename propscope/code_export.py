"""The current network as a standalone script: NumPy or PyTorch, ready to continue training.

A script holds everything it needs as literals — the training data as the network sees it
(features chosen, standardised, targets encoded), the weights now, the optimiser's state, the
position in the epoch and the states of the engine's two random generators (batch order and
dropout masks) — so it takes exactly the steps the engine would take next. Floats are written
with Python's repr, which round-trips exactly. Nothing from Propscope is imported: the NumPy
script needs NumPy, the PyTorch script PyTorch (and NumPy for the same batch order and masks).

Both scripts run ``--steps N`` steps, print each step's loss and with ``--save out.npz`` write
the parameters after the run (``W0, b0, …`` in the engine's layout: weight[i, j] from input i to
neuron j) and the last step's gradients (``gW0, gb0, …``) — which is how the tests compare them
with the engine. This module writes dense stacks; networks with convolution, pooling, flatten or
recurrent layers are written by :mod:`propscope.code_export_layers` (same conventions, one class
per layer).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine import persistence
from engine.trainer import Trainer
from propscope import code_export_layers as layers

LANGUAGES = ("numpy", "pytorch")


def export_code(trainer: Trainer, language: str = "numpy") -> str:
    """The script for ``language`` ("numpy" or "pytorch"). A dense stack is written as weight
    matrices and one loop (below); a network with convolution, pooling, flatten or recurrent
    layers as one class per layer (:mod:`propscope.code_export_layers`)."""
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {', '.join(LANGUAGES)}, not {language!r}")
    return numpy_script(trainer) if language == "numpy" else torch_script(trainer)


def _layered(trainer: Trainer) -> bool:
    return set(trainer.network.kinds) != {"dense"}


def numpy_script(trainer: Trainer) -> str:
    """A NumPy script that rebuilds the network with its current weights and trains on."""
    if _layered(trainer):
        return layers.numpy_script(trainer)
    return _header(trainer, "NumPy") + _constants(trainer) + _NUMPY_BODY


def torch_script(trainer: Trainer) -> str:
    """A PyTorch script (torch.nn + torch.optim) that rebuilds the network and trains on."""
    if _layered(trainer):
        return layers.torch_script(trainer)
    return _header(trainer, "PyTorch") + _constants(trainer) + _TORCH_BODY


# --- pieces ------------------------------------------------------------------------------------


def _header(trainer: Trainer, flavour: str) -> str:
    spec = trainer.spec
    sizes = " → ".join(str(n) for n in trainer.network.sizes)
    acts = ", ".join(layer.activation.name for layer in trainer.network.layers)
    imports = "import numpy as np\n" if flavour == "NumPy" else (
        "import numpy as np  # the engine's batch order and dropout masks, drawn identically\n"
        "import torch\n"
    )
    return (
        "#!/usr/bin/env python3\n"
        f'"""Propscope network exported as a standalone {flavour} script at step '
        f"{trainer.step_count}.\n\n"
        f"Dataset {spec.data.dataset!r}, layers {sizes} ({acts}), loss {spec.training.loss}, "
        f"optimiser {spec.training.optimizer.name}.\n"
        "It rebuilds the network with the weights it had when exported and continues training\n"
        "exactly as Propscope would: same batches, same dropout masks, same optimiser state.\n\n"
        "    python this.py --steps 100               # print each step's loss\n"
        "    python this.py --steps 1 --save out.npz  # parameters after, last gradients\n"
        '"""\n\n'
        "import argparse\n\n"
        f"{imports}\n"
    )


def _constants(trainer: Trainer) -> str:
    state = persistence.to_dict(trainer)
    network, problem, spec = trainer.network, trainer.problem, trainer.spec
    optimizer = state["optimizer"]
    slots = {
        key: _per_layer(trainer, np.asarray(flat, dtype=trainer.dtype))
        for key, flat in trainer.optimizer.state.items()
    }
    position = state["position"]
    lines = [
        f"DTYPE = np.{trainer.dtype.name}",
        "",
        f"# The training data as the network sees it: inputs {problem.input_labels}"
        f"{' standardised' if spec.data.standardize else ''}; targets encoded "
        f"{problem.encoding!r}.",
        f"X = np.array({_rows(problem.x_train)}, dtype=DTYPE)",
        f"Y = np.array({_rows(problem.y_train)}, dtype=DTYPE)",
        "",
        "# Layer k: z = x @ WEIGHTS[k] + BIASES[k], a = f(z); WEIGHTS[k][i, j] links input i to "
        "neuron j.",
        f"ACTIVATIONS = {[layer.activation.name for layer in network.layers]!r}",
        f"DROPOUT = {[float(layer.dropout) for layer in network.layers]!r}",
        "WEIGHTS = [",
        *(f"    np.array({_rows(layer.weight)}, dtype=DTYPE)," for layer in network.layers),
        "]",
        "BIASES = [",
        *(f"    np.array({_values(layer.bias)}, dtype=DTYPE)," for layer in network.layers),
        "]",
        f"LOSS = {spec.training.loss!r}",
        f"REGULARIZATION = {trainer.regularization.kind!r}",
        f"REGULARIZATION_RATE = {float(trainer.regularization.rate)!r}",
        f"OPTIMIZER = {optimizer['name']!r}",
        f"LEARNING_RATE = {float(optimizer['learning_rate'])!r}",
        f"HYPERPARAMETERS = {optimizer['hyperparameters']!r}",
        f"OPTIMIZER_STEPS = {int(optimizer['steps'])}",
        "# The optimiser's running state per layer: (for the weights, for the biases).",
        "OPTIMIZER_STATE = {",
        *(
            f"    {key!r}: [\n" + "".join(
                f"        (np.array({_rows(w)}, dtype=DTYPE), "
                f"np.array({_values(b)}, dtype=DTYPE)),\n" for w, b in pairs
            ) + "    ],"
            for key, pairs in slots.items()
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


def _per_layer(trainer: Trainer, flat: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    return [
        (layout.view("weight", flat), layout.view("bias", flat))
        for layout in trainer.network.layouts
    ]


def _values(vector: np.ndarray) -> str:
    return repr([float(v) for v in np.asarray(vector).ravel()])


def _rows(matrix: np.ndarray) -> str:
    rows: list[Any] = np.asarray(matrix).tolist()
    return "[\n" + "".join(f"    {[float(v) for v in row]!r},\n" for row in rows) + "]"


_COMMON = '''
def generator(state):
    """A NumPy generator continuing exactly where the engine's stood."""
    rng = np.random.Generator(np.random.PCG64())
    rng.bit_generator.state = state
    return rng


class Position:
    """Where training stands: step and epoch counts, this epoch's order, the generators."""

    def __init__(self):
        self.step, self.epoch = STEP, EPOCH
        self.order, self.cursor = np.asarray(ORDER, dtype=np.int64), CURSOR
        self.order_rng = generator(ORDER_RNG_STATE)
        self.dropout_rng = generator(DROPOUT_RNG_STATE)

    def next_batch(self):
        """Rows of the next batch; a new shuffled order when the epoch is used up."""
        if self.cursor >= len(self.order):
            if len(self.order):
                self.epoch += 1
            self.order = self.order_rng.permutation(len(X))
            self.cursor = 0
        rows = self.order[self.cursor:self.cursor + BATCH_SIZE]
        self.cursor += len(rows)
        self.step += 1
        return rows

    def dropout_masks(self, batch):
        """Inverted-dropout masks (0 or 1/(1−p)) for the layers that have dropout."""
        masks = []
        for rate, weight in zip(DROPOUT, WEIGHTS):
            if rate > 0.0:
                keep = 1.0 - rate
                shape = (batch, weight.shape[1])
                masks.append((self.dropout_rng.random(shape) < keep).astype(DTYPE) / keep)
            else:
                masks.append(None)
        return masks
'''

_NUMPY_BODY = _COMMON + '''

def activate(name, z):
    if name == "linear":
        return z
    if name == "relu":
        return np.maximum(z, 0)
    if name == "leaky_relu":
        return np.where(z > 0, z, 0.01 * z)
    if name == "tanh":
        return np.tanh(z)
    if name == "sigmoid":
        e = np.exp(-np.abs(z))
        return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    if name == "softmax":
        shifted = np.exp(z - z.max(axis=-1, keepdims=True))
        return shifted / shifted.sum(axis=-1, keepdims=True)
    raise ValueError(name)


def activation_backward(name, z, a, grad_a):
    """dL/dz from dL/da through the activation."""
    if name == "softmax":
        return a * (grad_a - (grad_a * a).sum(axis=-1, keepdims=True))
    slope = {
        "linear": lambda: np.ones_like(z),
        "relu": lambda: (z > 0).astype(z.dtype),
        "leaky_relu": lambda: np.where(z > 0, 1.0, 0.01).astype(z.dtype),
        "tanh": lambda: 1.0 - a * a,
        "sigmoid": lambda: a * (1.0 - a),
    }[name]()
    return grad_a * slope


def loss_and_output_delta(z, a, y):
    """Per-sample loss and dL/dz of the output layer (cross-entropies fused with their
    sigmoid/softmax and computed from the logits z)."""
    k = a.shape[1]
    if LOSS == "mse":
        diff = a - y
        return (diff * diff).sum(axis=1) / k, activation_backward(
            ACTIVATIONS[-1], z, a, (2.0 / k) * diff)
    if LOSS == "bce":
        losses = (np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))).mean(axis=1)
        return losses, (a - y) / k
    shifted = z - z.max(axis=1, keepdims=True)  # relative to the largest logit: precise
    log_sum = np.log(np.add.reduce(np.exp(shifted), axis=1))
    return log_sum - np.add.reduce(y * shifted, axis=1), a - y


def penalty_and_gradients(weights):
    if REGULARIZATION == "none" or REGULARIZATION_RATE <= 0.0:
        return 0.0, [None] * len(weights)
    if REGULARIZATION == "l1":
        return (REGULARIZATION_RATE * float(sum(np.abs(w).sum() for w in weights)),
                [REGULARIZATION_RATE * np.sign(w) for w in weights])
    return (0.5 * REGULARIZATION_RATE * float(sum((w * w).sum() for w in weights)),
            [REGULARIZATION_RATE * w for w in weights])


class Optimizer:
    """SGD, momentum (Nesterov), RMSProp or Adam, as in Propscope (and torch.optim)."""

    def __init__(self):
        self.steps = OPTIMIZER_STEPS
        self.state = {key: [[w.copy(), b.copy()] for w, b in pairs]
                      for key, pairs in OPTIMIZER_STATE.items()}

    def slot(self, key, k, which, like):
        if key not in self.state:
            self.state[key] = [[np.zeros_like(w), np.zeros_like(b)]
                               for w, b in zip(WEIGHTS, BIASES)]
        return self.state[key][k][which]

    def update(self, k, which, g):
        """The change of one parameter array given its gradient."""
        h, lr = HYPERPARAMETERS, LEARNING_RATE
        if OPTIMIZER == "sgd":
            return g * -lr
        if OPTIMIZER == "momentum":
            v = self.slot("velocity", k, which, g)
            v *= h["momentum"]
            v += g
            return (g + h["momentum"] * v if h["nesterov"] else v) * -lr
        if OPTIMIZER == "rmsprop":
            s = self.slot("square_avg", k, which, g)
            s *= h["rho"]
            s += (1.0 - h["rho"]) * g * g
            return -lr * g / (np.sqrt(s) + h["eps"])
        b1, b2, t = h["beta1"], h["beta2"], self.steps
        m, v = self.slot("m", k, which, g), self.slot("v", k, which, g)
        m *= b1
        m += (1.0 - b1) * g
        v *= b2
        v += (1.0 - b2) * g * g
        return -(lr / (1.0 - b1**t)) * m / (np.sqrt(v) / np.sqrt(1.0 - b2**t) + h["eps"])


def train_step(position, optimizer):
    """Forward, loss, backward, update on the next batch; returns (loss, gradients)."""
    rows = position.next_batch()
    x, y = X[rows], Y[rows]
    masks = position.dropout_masks(len(rows))
    inputs, zs, activations = [], [], []
    h = x
    for k, (weight, bias) in enumerate(zip(WEIGHTS, BIASES)):
        inputs.append(h)
        z = np.dot(h, weight)
        z += bias
        a = activate(ACTIVATIONS[k], z)
        zs.append(z)
        activations.append(a)
        h = a if masks[k] is None else a * masks[k]
    losses, delta = loss_and_output_delta(zs[-1], activations[-1], y)
    penalty, penalty_grads = penalty_and_gradients(WEIGHTS)
    loss = float(np.add.reduce(losses)) / len(losses) + penalty
    grads = [None] * len(WEIGHTS)
    for k in reversed(range(len(WEIGHTS))):
        if k < len(WEIGHTS) - 1:
            grad_out = delta_next @ WEIGHTS[k + 1].T
            grad_a = grad_out if masks[k] is None else grad_out * masks[k]
            delta = activation_backward(ACTIVATIONS[k], zs[k], activations[k], grad_a)
        mean_delta = delta * (1.0 / delta.shape[0])
        weight_grad = np.dot(inputs[k].T, mean_delta)
        if penalty_grads[k] is not None:
            weight_grad = weight_grad + penalty_grads[k]
        grads[k] = (weight_grad, np.add.reduce(mean_delta, axis=0))
        delta_next = delta
    optimizer.steps += 1
    for k, (weight_grad, bias_grad) in enumerate(grads):
        WEIGHTS[k] = WEIGHTS[k] + optimizer.update(k, 0, weight_grad)
        BIASES[k] = BIASES[k] + optimizer.update(k, 1, bias_grad)
    return loss, grads


def main():
    parser = argparse.ArgumentParser(description="Continue training the exported network.")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--save", help="write parameters and the last gradients to this .npz")
    args = parser.parse_args()
    position, optimizer, grads = Position(), Optimizer(), []
    for _ in range(args.steps):
        loss, grads = train_step(position, optimizer)
        print(f"step {position.step} epoch {position.epoch} loss {loss!r}")
    if args.save:
        arrays = {}
        for k in range(len(WEIGHTS)):
            arrays[f"W{k}"], arrays[f"b{k}"] = WEIGHTS[k], BIASES[k]
            if grads:
                arrays[f"gW{k}"], arrays[f"gb{k}"] = grads[k]
        np.savez(args.save, **arrays)


if __name__ == "__main__":
    main()
'''

_TORCH_BODY = _COMMON + '''

TORCH_DTYPE = {np.float64: torch.float64, np.float32: torch.float32}[DTYPE]
FUSED = {"bce": "sigmoid", "cce": "softmax"}  # losses computed from the logits


def activation_module(name):
    return {
        "linear": torch.nn.Identity(),
        "relu": torch.nn.ReLU(),
        "leaky_relu": torch.nn.LeakyReLU(0.01),
        "tanh": torch.nn.Tanh(),
        "sigmoid": torch.nn.Sigmoid(),
        "softmax": torch.nn.Softmax(dim=1),
    }[name]


class Net(torch.nn.Module):
    """The exported layers; forward returns the output layer's z (logits) and a."""

    def __init__(self):
        super().__init__()
        self.linears = torch.nn.ModuleList()
        self.activations = torch.nn.ModuleList(activation_module(n) for n in ACTIVATIONS)
        for weight, bias in zip(WEIGHTS, BIASES):
            linear = torch.nn.Linear(*weight.shape, dtype=TORCH_DTYPE)
            with torch.no_grad():  # torch keeps (out, in): the transpose of Propscope's layout
                linear.weight.copy_(torch.from_numpy(weight.T.copy()))
                linear.bias.copy_(torch.from_numpy(bias))
            self.linears.append(linear)

    def forward(self, x, masks=None):
        h = x
        for k, (linear, activation) in enumerate(zip(self.linears, self.activations)):
            z = linear(h)
            a = activation(z)
            h = a if masks is None or masks[k] is None else a * masks[k]
        return z, a


def loss_of(net, z, a, y):
    """Mean data loss over the batch plus the L1/L2 penalty on the weights (not the biases)."""
    if LOSS == "mse":
        loss = torch.nn.functional.mse_loss(a, y)
    elif LOSS == "bce":
        loss = torch.nn.functional.binary_cross_entropy_with_logits(z, y)
    else:
        loss = torch.nn.functional.cross_entropy(z, y)  # y: one-hot class probabilities
    if REGULARIZATION != "none" and REGULARIZATION_RATE > 0.0:
        weights = [linear.weight for linear in net.linears]
        if REGULARIZATION == "l1":
            loss = loss + REGULARIZATION_RATE * sum(w.abs().sum() for w in weights)
        else:
            loss = loss + 0.5 * REGULARIZATION_RATE * sum((w * w).sum() for w in weights)
    return loss


def make_optimizer(net):
    """torch.optim with Propscope's hyperparameters and its running state loaded."""
    params = [p for linear in net.linears for p in (linear.weight, linear.bias)]
    h = HYPERPARAMETERS
    if OPTIMIZER in ("sgd", "momentum"):
        momentum = h["momentum"] if OPTIMIZER == "momentum" else 0.0
        nesterov = bool(h["nesterov"]) if OPTIMIZER == "momentum" else False
        optimizer = torch.optim.SGD(params, lr=LEARNING_RATE, momentum=momentum,
                                    nesterov=nesterov)
        names = {"velocity": "momentum_buffer"}
    elif OPTIMIZER == "rmsprop":
        optimizer = torch.optim.RMSprop(params, lr=LEARNING_RATE, alpha=h["rho"], eps=h["eps"])
        names = {"square_avg": "square_avg"}
    else:
        optimizer = torch.optim.Adam(params, lr=LEARNING_RATE, betas=(h["beta1"], h["beta2"]),
                                     eps=h["eps"])
        names = {"m": "exp_avg", "v": "exp_avg_sq"}
    for key, pairs in OPTIMIZER_STATE.items():
        for k, (w, b) in enumerate(pairs):
            for param, value in ((params[2 * k], w.T), (params[2 * k + 1], b)):
                state = optimizer.state[param]
                state[names[key]] = torch.from_numpy(value.copy())
                if OPTIMIZER in ("rmsprop", "adam"):
                    state["step"] = torch.tensor(float(OPTIMIZER_STEPS))
    return optimizer


def train_step(net, optimizer, position, x_all, y_all):
    rows = position.next_batch()
    masks = [None if m is None else torch.from_numpy(m)
             for m in position.dropout_masks(len(rows))]
    index = torch.from_numpy(rows)
    optimizer.zero_grad()
    z, a = net(x_all[index], masks)
    loss = loss_of(net, z, a, y_all[index])
    loss.backward()
    grads = [(linear.weight.grad.T.clone(), linear.bias.grad.clone()) for linear in net.linears]
    optimizer.step()
    return loss.item(), grads


def main():
    parser = argparse.ArgumentParser(description="Continue training the exported network.")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--save", help="write parameters and the last gradients to this .npz")
    args = parser.parse_args()
    net, position, grads = Net(), Position(), []
    optimizer = make_optimizer(net)
    x_all, y_all = torch.from_numpy(X), torch.from_numpy(Y)
    for _ in range(args.steps):
        loss, grads = train_step(net, optimizer, position, x_all, y_all)
        print(f"step {position.step} epoch {position.epoch} loss {loss!r}")
    if args.save:
        arrays = {}
        for k, linear in enumerate(net.linears):
            arrays[f"W{k}"] = linear.weight.detach().numpy().T
            arrays[f"b{k}"] = linear.bias.detach().numpy()
            if grads:
                arrays[f"gW{k}"], arrays[f"gb{k}"] = (g.numpy() for g in grads[k])
        np.savez(args.save, **arrays)


if __name__ == "__main__":
    main()
'''
