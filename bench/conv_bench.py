"""Benchmark: the convolution layers' training step against PyTorch's, in the same run.

The issue's digits CNN — 1×8×8 → conv 8@3×3 "same" (ReLU) → max-pool 2 → flatten → dense 10
(softmax + cross-entropy), batch 32, float64 — trained on the bundled digits two ways:

* **layers** — the engine's layers composed as the step loop composes them: every layer's
  ``forward`` returns its trace, the loss's ``output_delta``, every ``backward``/``accumulate``/
  ``grad_input`` into one flat gradient vector, then the SGD update. All traces are kept, as a
  recorded step keeps them (this is the step without the trainer's record bookkeeping);
* **torch** — ``model(x)``, ``CrossEntropyLoss``, ``backward()``, ``torch.optim.SGD.step()``.

Each is timed whole (batch gather to update) and as forward + backward only. The two start
from the same weights and are checked to compute the same gradient before timing. Run:
``.venv/bin/python bench/conv_bench.py [repeats]``; it prints medians and the ratios.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.engine import machine_info, median_us  # noqa: E402
from engine.activations import get_activation  # noqa: E402
from engine.image_data import digits  # noqa: E402
from engine.layers import Conv2D, Dense, Flatten, MaxPool2D  # noqa: E402
from engine.losses import get_loss  # noqa: E402
from engine.network import Network  # noqa: E402

try:
    import torch
except ImportError:
    torch = None

BATCH = 32
LEARNING_RATE = 0.05
GOAL = 1.0  # engine step / PyTorch step, at most
# PyTorch on one thread: for tensors this small its intra-op workers only add hand-offs (on a
# busy 2-CPU machine a 2-thread step measured 20–50× slower), so one thread is its best case.
TORCH_THREADS = 1


def digits_cnn(seed: int = 0) -> Network:
    conv = Conv2D((1, 8, 8), 8, 3, 1, "same", get_activation("relu"))
    pool = MaxPool2D(conv.output_shape, 2)
    flatten = Flatten(pool.output_shape)
    dense = Dense(flatten.output_shape, 10, get_activation("softmax"))
    return Network.build([conv, pool, flatten, dense], "he_uniform", "float64", seed)


class Batches:
    """Consecutive batches of a fresh permutation per epoch, as the trainer draws them."""

    def __init__(self, n: int, seed: int = 0) -> None:
        self.n, self.rng = n, np.random.default_rng(seed)
        self.order, self.cursor = self.rng.permutation(n), 0

    def next(self) -> np.ndarray:
        if self.cursor >= self.n:
            self.order, self.cursor = self.rng.permutation(self.n), 0
        indices = self.order[self.cursor : self.cursor + BATCH]
        self.cursor += len(indices)
        return indices


def engine_functions(
    network: Network, x_all: np.ndarray, onehot_all: np.ndarray
) -> tuple[Callable[[], None], Callable[[], np.ndarray]]:
    """(whole step, forward + backward of one fixed batch returning the flat gradient)."""
    loss = get_loss("cce")
    layers, layouts = network.layers, network.layouts
    last = len(layers) - 1
    batches = Batches(len(x_all))
    state: dict[str, float] = {}

    def gradient(x: np.ndarray, onehot: np.ndarray) -> np.ndarray:
        traces = []
        h = x
        for k, layer in enumerate(layers):
            trace = layer.forward(h, k)
            traces.append(trace)
            h = trace.output
        out = traces[-1]
        losses = loss.per_sample(out.pre_activation, out.activation, onehot)
        state["loss"] = float(np.add.reduce(losses)) / len(losses)  # every loop reports it
        grad = np.empty_like(network.flat)
        grad_output = None
        for k in range(last, -1, -1):
            layer, trace = layers[k], traces[k]
            if k == last:
                trace.grad_activation, trace.delta = loss.output_delta(
                    trace.pre_activation, trace.activation, onehot, layer.activation
                )
            else:
                layer.backward(trace, grad_output)
            if layouts[k].size:
                layer.accumulate(trace, layouts[k].views(grad))
            if k > 0:
                grad_output = layer.grad_input(trace)
        return grad

    def step() -> None:
        indices = batches.next()
        grad = gradient(x_all.take(indices, 0), onehot_all.take(indices, 0))
        network.bind(network.flat - LEARNING_RATE * grad)

    fixed = np.arange(BATCH)
    x_fixed, y_fixed = x_all[fixed], onehot_all[fixed]
    return step, lambda: gradient(x_fixed, y_fixed)


def torch_functions(
    network: Network, x_all: np.ndarray, labels: np.ndarray
) -> tuple[Callable[[], None], Callable[[], np.ndarray]]:
    conv, _, _, dense = network.layers
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 8, 3, padding=1, dtype=torch.float64),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(128, 10, dtype=torch.float64),
    )
    with torch.no_grad():
        model[0].weight.copy_(torch.from_numpy(conv.kernel))
        model[0].bias.copy_(torch.from_numpy(conv.bias))
        model[4].weight.copy_(torch.from_numpy(dense.weight.T.copy()))
        model[4].bias.copy_(torch.from_numpy(dense.bias))
    loss_fn = torch.nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE)
    x_t, y_t = torch.from_numpy(x_all), torch.from_numpy(labels)
    batches = Batches(len(x_all))

    def step() -> None:
        indices = torch.from_numpy(batches.next())
        optimizer.zero_grad(set_to_none=True)
        loss_fn(model(x_t[indices]), y_t[indices]).backward()
        optimizer.step()

    x_fixed, y_fixed = x_t[:BATCH], y_t[:BATCH]

    def gradient() -> np.ndarray:
        optimizer.zero_grad(set_to_none=True)
        loss_fn(model(x_fixed), y_fixed).backward()
        weight, bias = model[0].weight.grad, model[0].bias.grad
        w, b = model[4].weight.grad.T, model[4].bias.grad
        return torch.cat([t.reshape(-1) for t in (weight, bias, w, b)]).numpy()

    return step, gradient


def measure(repeats: int = 5000, warmup: int = 300) -> dict[str, float]:
    """Median µs of the whole step and of forward + backward, engine and PyTorch."""
    x, y = digits(np.random.default_rng(0), 1797)
    onehot = np.eye(10)[y]
    engine_net, torch_net = digits_cnn(), digits_cnn()
    engine_step, engine_grad = engine_functions(engine_net, x, onehot)
    functions = {"engine step": engine_step, "engine forward+backward": engine_grad}
    if torch is None:
        return median_us(functions, repeats, warmup)
    threads = torch.get_num_threads()
    torch.set_num_threads(TORCH_THREADS)
    try:
        torch_step, torch_grad = torch_functions(torch_net, x, y)
        difference = np.abs(engine_grad() - torch_grad()).max()
        assert difference < 1e-12, f"the engine's gradient differs from PyTorch's by {difference}"
        functions |= {"torch step": torch_step, "torch forward+backward": torch_grad}
        return median_us(functions, repeats, warmup)
    finally:
        torch.set_num_threads(threads)


def main() -> None:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    started = time.perf_counter()
    machine = machine_info()
    times = measure(repeats)
    print(f"digits CNN 1×8×8 → conv 8@3×3 same → maxpool 2 → flatten → dense 10, batch {BATCH}")
    print(f"Machine: {machine}")
    if torch is not None:
        print(f"PyTorch timed on {torch.get_num_threads()} thread(s)")
    for name, us in times.items():
        print(f"  {name:26s} {us:8.1f} µs (median of {repeats})")
    if torch is not None:
        for part in ("step", "forward+backward"):
            ratio = times[f"engine {part}"] / times[f"torch {part}"]
            print(f"  engine / PyTorch, {part:17s} {ratio:.2f}  (goal ≤ {GOAL})")
    print(f"in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
