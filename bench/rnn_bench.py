"""Benchmark: a recorded recurrent training step against PyTorch CPU, in the same run.

The issue's network: an Elman RNN with 1 input, 16 tanh units over 20 steps, batch 16, float64,
followed by a dense output of 1, MSE loss, SGD (an LSTM of the same size is reported beside it,
against ``nn.LSTM``, with no goal). Two shapes of the task:

* **many-to-one** — the dense output reads the last hidden state (the adding-problem shape);
* **many-to-many** — it reads every step's hidden state (``sine_next``'s shape).

Each is timed two ways, taking turns in blocks so a slow phase of the machine hits both:

* **engine** — the step as ``engine.trainer._StepRun`` runs it on ``engine.layers``: batch gather,
  every layer's traced forward, the loss, every layer's backward into one flat gradient vector
  with the gradients named on the traces, the SGD update of the flat vector. Every number the
  visualiser shows (per-step hidden states, δ_t, ‖δ_t‖, each step's ∂L/∂W_hh share) is made;
* **torch** — ``nn.RNN`` + ``nn.Linear``, ``MSELoss``, ``backward()``, ``torch.optim.SGD.step()``.

Run: ``.venv/bin/python bench/rnn_bench.py``; it prints the table with the ratio (goal ≤ 0.5×).
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from engine.activations import get_activation  # noqa: E402
from engine.layers import LSTM, RNN, Dense  # noqa: E402
from engine.losses import get_loss  # noqa: E402
from engine.network import Network  # noqa: E402
from engine.sequence_data import make_adding, make_sine_next  # noqa: E402

try:
    import torch
except ImportError:  # the table then shows the engine alone
    torch = None

LEARNING_RATE = 0.01
N_IN, UNITS, STEPS, BATCH, N_SAMPLES = 1, 16, 20, 16, 512
GOAL = 0.5  # engine step / PyTorch step, for the Elman RNN


@dataclass(frozen=True)
class Case:
    name: str
    sequences: bool  # many-to-many (a target at every step)
    cell: str = "rnn"  # "rnn" (the goal) or "lstm" (reported beside it, no goal)
    goal: float | None = GOAL


CASES = (
    Case("RNN many-to-one", False),
    Case("RNN many-to-many", True),
    Case("LSTM many-to-one", False, "lstm", None),
)


@dataclass(frozen=True)
class Result:
    case: Case
    engine_us: float
    torch_us: float | None  # torch's default thread count
    torch_1t_us: float | None  # one thread (the faster of the two at these sizes on a busy box)
    repeats: int

    @property
    def ratio(self) -> float | None:
        """Engine over the *faster* PyTorch configuration: the stricter comparison."""
        best = [t for t in (self.torch_us, self.torch_1t_us) if t is not None]
        return None if not best else self.engine_us / min(best)


def task_data(case: Case) -> tuple[np.ndarray, np.ndarray]:
    """1-feature sequences of 20 steps: sine_next's (many-to-many) or its last target."""
    rng = np.random.default_rng(0)
    if case.sequences:
        return make_sine_next(STEPS)(rng, N_SAMPLES, 0.1)
    x, y = make_adding(STEPS)(rng, N_SAMPLES, 0.0)
    return x[:, :, :1].copy(), y  # one input channel, as the network has


def engine_network(case: Case) -> Network:
    if case.cell == "rnn":
        rnn = RNN((STEPS, N_IN), UNITS, get_activation("tanh"), return_sequences=case.sequences)
    else:
        rnn = LSTM((STEPS, N_IN), UNITS, return_sequences=case.sequences)
    dense = Dense(rnn.output_shape, 1, get_activation("linear"))
    return Network.build([rnn, dense], "xavier_uniform", "float64", seed=0)


def engine_step_function(case: Case) -> tuple[Callable[[], float], Network]:
    """The engine's step on the layers, phase by phase as the step loop runs it."""
    network = engine_network(case)
    loss = get_loss("mse")
    x_all, y_all = task_data(case)
    rng = np.random.default_rng(0)
    state = {"order": rng.permutation(N_SAMPLES), "cursor": 0}
    layers, layouts = network.layers, network.layouts
    last = len(layers) - 1

    def step() -> float:
        cursor = state["cursor"]
        if cursor >= N_SAMPLES:
            state["order"], cursor = rng.permutation(N_SAMPLES), 0
        idx = state["order"][cursor : cursor + BATCH]
        state["cursor"] = cursor + len(idx)
        x, y = x_all.take(idx, 0), y_all.take(idx, 0)
        traces = []
        h = x
        for k, layer in enumerate(layers):
            traces.append(layer.forward(h, k))
            h = traces[-1].output
        out = traces[-1]
        batch = len(idx)
        z, a, yy = (v.reshape(batch, -1) for v in (out.pre_activation, out.activation, y))
        value = float(np.add.reduce(loss.per_sample(z, a, yy))) / batch
        grad_a, delta = loss.output_delta(z, a, yy, layers[-1].activation)
        out.grad_activation, out.delta = grad_a, delta.reshape(out.pre_activation.shape)
        grad = np.empty_like(network.flat)
        upstream = None
        for k in range(last, -1, -1):
            layer, trace = layers[k], traces[k]
            if k < last:
                layer.backward(trace, upstream)
            views = layouts[k].views(grad)
            layer.accumulate(trace, views)
            for name, g in views.items():  # the step loop's naming, without a penalty
                setattr(trace, f"{name}_grad", g)
                if name in layer.regularized:
                    setattr(trace, f"{name}_grad_data", g)
                    setattr(trace, f"{name}_grad_penalty", None)
            if k:
                upstream = layer.grad_input(trace)
        update = grad * -LEARNING_RATE
        network.bind(network.flat + update)
        for trace, layout in zip(traces, layouts, strict=True):
            trace.flat_update, trace.layout = update, layout
        return value

    return step, network


def torch_step_function(case: Case, network: Network) -> Callable[[], float]:
    """The same network in PyTorch, started from the engine's parameters."""
    rnn_layer, dense_layer = network.layers
    module = torch.nn.RNN if case.cell == "rnn" else torch.nn.LSTM
    rnn = module(N_IN, UNITS, batch_first=True, dtype=torch.float64)
    linear = torch.nn.Linear(UNITS, 1, dtype=torch.float64)
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(torch.from_numpy(rnn_layer.weight_ih.T.copy()))
        rnn.weight_hh_l0.copy_(torch.from_numpy(rnn_layer.weight_hh.T.copy()))
        rnn.bias_ih_l0.copy_(torch.from_numpy(rnn_layer.bias))
        rnn.bias_hh_l0.zero_()
        linear.weight.copy_(torch.from_numpy(dense_layer.weight.T.copy()))
        linear.bias.copy_(torch.from_numpy(dense_layer.bias))
    params = [*rnn.parameters(), *linear.parameters()]
    optimizer = torch.optim.SGD(params, lr=LEARNING_RATE)
    loss_fn = torch.nn.MSELoss()
    x_np, y_np = task_data(case)
    x_all, y_all = torch.from_numpy(x_np), torch.from_numpy(y_np)
    generator = torch.Generator().manual_seed(0)
    state = {"order": torch.randperm(N_SAMPLES, generator=generator), "cursor": 0}

    def step() -> float:
        cursor = state["cursor"]
        if cursor >= N_SAMPLES:
            state["order"], cursor = torch.randperm(N_SAMPLES, generator=generator), 0
        idx = state["order"][cursor : cursor + BATCH]
        state["cursor"] = cursor + len(idx)
        optimizer.zero_grad(set_to_none=True)
        hidden, _ = rnn(x_all[idx])
        out = linear(hidden if case.sequences else hidden[:, -1])
        loss = loss_fn(out, y_all[idx])
        loss.backward()
        optimizer.step()
        return loss.item()

    return step


def timings_ns(step: Callable[[], object], repeats: int) -> list[int]:
    clock = time.perf_counter_ns
    samples = []
    for _ in range(repeats):
        start = clock()
        step()
        samples.append(clock() - start)
    return samples


def median_us(
    steps: dict[str, Callable[[], object]], repeats: int, warmup: int, rounds: int = 10
) -> dict[str, float]:
    """Median µs per call; the functions take turns in `rounds` blocks."""
    for step in steps.values():
        for _ in range(warmup):
            step()
    samples: dict[str, list[int]] = {name: [] for name in steps}
    per_round = max(1, repeats // rounds)
    for _ in range(rounds):
        for name, step in steps.items():
            samples[name].extend(timings_ns(step, per_round))
    return {name: statistics.median(values) / 1000.0 for name, values in samples.items()}


def measure(
    repeats: int = 2000, warmup: int = 200, cases: tuple[Case, ...] = CASES
) -> list[Result]:
    """Each task twice: beside torch at its default thread count, then at one thread (the
    engine is timed in both passes, its median over both is reported)."""
    results = []
    for case in cases:
        engine_step, network = engine_step_function(case)
        steps = {"engine": engine_step}
        if torch is None:
            times = median_us(steps, repeats, warmup)
            results.append(Result(case, times["engine"], None, None, repeats))
            continue
        steps["torch"] = torch_step_function(case, network)
        default = median_us(steps, repeats, warmup)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            single = median_us(steps, repeats, warmup)
        finally:
            torch.set_num_threads(threads)
        engine_us = statistics.median([default["engine"], single["engine"]])
        results.append(Result(case, engine_us, default["torch"], single["torch"], repeats))
    return results


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:,.1f}"


def render(results: list[Result], load: float | None = None) -> str:
    torch_part = (
        f"torch {torch.__version__} ({torch.get_num_threads()} threads)" if torch else "no torch"
    )
    lines = [
        f"Median µs per recorded training step: RNN (or LSTM) {N_IN} input → {UNITS} units × "
        f"{STEPS} steps → dense 1, MSE, SGD, batch {BATCH}, float64. NumPy {np.__version__}, "
        f"{torch_part}.",
        "",
        "| task | engine µs | PyTorch µs (default threads) | PyTorch µs (1 thread) "
        "| engine / faster PyTorch | goal | met |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    for r in results:
        goal = r.case.goal
        met = "—" if r.ratio is None or goal is None else ("yes" if r.ratio <= goal else "no")
        ratio = "—" if r.ratio is None else f"{r.ratio:.2f}"
        goal_text = "—" if goal is None else f"≤ {goal}×"
        lines.append(
            f"| {r.case.name} | {r.engine_us:,.1f} | {_fmt(r.torch_us)} | {_fmt(r.torch_1t_us)} "
            f"| {ratio} | {goal_text} | {met} |"
        )
    load_text = "" if load is None else f"; load average before the run {load:.2f}"
    lines.append(
        f"\nRepetitions: {results[0].repeats} per task and pass, after warm-up; "
        f"{os.cpu_count()} CPUs{load_text}."
    )
    return "\n".join(lines)


def main() -> None:
    started, load = time.perf_counter(), os.getloadavg()[0]
    print(render(measure(), load))
    print(f"\nmeasured in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
