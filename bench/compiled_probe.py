"""Probe: would a compiled lean step pay? A C kernel (ctypes, the system's cc) and a numba
kernel of the engine's lean step, against the NumPy lean step and the Playground's nn.ts.

Issue 11 asks, where NumPy alone cannot reach a goal, to measure what can and to choose with the
dependency's weight in mind. The kernels (bench/compiled_lean_step.c, and :func:`_numba_step`,
the same loops in Python for numba) run the engine's lean step for a dense tanh stack with MSE
on a tanh output — the Playground's networks — in the engine's order of operations; only the
matrix products (plain loops, where NumPy calls OpenBLAS's FMA kernels) and tanh (libm's, where
NumPy has its own SIMD code) are not NumPy's. So the probe reports two things:

* **speed** — median µs per step, in turns in one process on one thread: the NumPy lean step
  (``Trainer.step(record=False)``), each kernel called the way a trainer would call it (the
  engine's own batch order, the step's record and history kept: "integrated") and the kernel
  alone, beside nn.ts in Node when ``PLAYGROUND_SRC``/``TYPESCRIPT`` are set (see
  bench/playground_nn.py; timed before and after the engine's timings, the faster kept);
* **exactness** — from the NumPy step's own parameters before each of many steps, the kernel's
  step against NumPy's: how many parameters differ at all, the largest difference in ulp, the
  loss and gradient norms' largest relative difference; and the two trajectories after N steps.

Nothing here is needed to run Propscope: each kernel is skipped (and the reason printed) when
cc or numba is missing. Run: ``.venv/bin/python bench/compiled_probe.py [--write]``; ``--write``
puts the tables into docs/performance.md between the ``bench:compiled`` markers.
"""

from __future__ import annotations

import ctypes
import functools
import math
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.engine import Network, engine_trainer, machine_info, median_us, one_thread  # noqa: E402
from bench.perf_doc import write_section  # noqa: E402
from bench.playground_nn import playground_step_us  # noqa: E402
from engine.trace import StepRecord  # noqa: E402
from engine.trainer import Trainer  # noqa: E402

C_SOURCE = Path(__file__).with_name("compiled_lean_step.c")
C_FLAGS = ("-O3", "-march=native", "-ffp-contract=off", "-shared", "-fPIC")


@dataclass(frozen=True)
class Case:
    sizes: tuple[int, ...]
    batch: int

    @property
    def name(self) -> str:
        return "-".join(str(n) for n in self.sizes)

    def network(self) -> Network:
        return Network(self.name, self.sizes, "tanh", "tanh", "mse", self.batch, "float64",
                       max(500, 2 * self.batch), 0.0)


CASES = (
    Case((2, 4, 2, 1), 10),  # the Playground's default network, its default batch
    Case((2, 4, 2, 1), 250),
    Case((2, 4, 4, 1), 10),
    Case((2, 8, 8, 8, 8, 8, 8, 1), 32),
    Case((2, 32, 32, 1), 100),
    Case((2, 128, 128, 1), 100),
)


# --- the kernels ---------------------------------------------------------------------------------


def _work_size(sizes: tuple[int, ...], batch: int, n_params: int) -> int:
    return batch * sum(sizes) + 2 * batch * max(sizes) + 2 * n_params + batch


def build_c_kernel(workdir: Path) -> tuple[Callable | None, str]:
    """lean_step from compiled_lean_step.c, or None and why not."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        return None, "no C compiler"
    lib = workdir / "lean_step.so"
    done = subprocess.run([cc, *C_FLAGS, str(C_SOURCE), "-o", str(lib), "-lm"],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return None, f"cc failed: {done.stderr.strip()[:200]}"
    version = subprocess.run([cc, "--version"], capture_output=True, text=True, check=False)
    fn = ctypes.CDLL(str(lib)).lean_step
    fn.restype = None
    vp, ci, cd = ctypes.c_void_p, ctypes.c_int, ctypes.c_double
    fn.argtypes = [ci, vp, vp, vp, vp, vp, ci, cd, vp, vp, vp]
    return fn, f"{version.stdout.splitlines()[0]} {' '.join(C_FLAGS[:3])}"


def _numba_step():
    """The C kernel's loops for numba (nopython, no fastmath: no FMA contraction)."""
    import numba

    @numba.njit(cache=False, fastmath=False, error_model="numpy")
    def pairwise(a, lo, n):
        if n < 8:
            res = 0.0
            for i in range(lo, lo + n):
                res += a[i]
            return res
        if n <= 128:
            r = np.empty(8)
            for j in range(8):
                r[j] = a[lo + j]
            i = 8
            while i < n - (n % 8):
                for j in range(8):
                    r[j] += a[lo + i + j]
                i += 8
            res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
            while i < n:
                res += a[lo + i]
                i += 1
            return res
        n2 = n // 2
        n2 -= n2 % 8
        return pairwise(a, lo, n2) + pairwise(a, lo + n2, n - n2)

    @numba.njit(cache=False, fastmath=False, error_model="numpy")
    def step(sizes, p, x_all, y_all, idx, lr, acts, delta, back, grad, squares, losses, norms):
        n_layers = len(sizes) - 1
        batch = len(idx)
        n0, n_last = sizes[0], sizes[n_layers]
        for s in range(batch):
            for i in range(n0):
                acts[s * n0 + i] = x_all[idx[s], i]
        a_off = 0
        p_off = 0
        for layer in range(n_layers):
            n_in, n_out = sizes[layer], sizes[layer + 1]
            b_off = p_off + n_in * n_out
            out_off = a_off + batch * n_in
            for s in range(batch):  # in order of i, vectorised over j (as the C loops)
                zs = out_off + s * n_out
                for j in range(n_out):
                    acts[zs + j] = 0.0
                for i in range(n_in):
                    xi = acts[a_off + s * n_in + i]
                    wi = p_off + i * n_out
                    for j in range(n_out):
                        acts[zs + j] += xi * p[wi + j]
                for j in range(n_out):
                    acts[zs + j] = math.tanh(acts[zs + j] + p[b_off + j])
            a_off = out_off
            p_off = b_off + n_out
        two_k, inv_b = 2.0 / n_last, 1.0 / batch
        sq = np.empty(n_last)
        for s in range(batch):
            for k in range(n_last):
                a = acts[a_off + s * n_last + k]
                d = a - y_all[idx[s], k]
                sq[k] = d * d
                delta[s * n_last + k] = (two_k * d) * (1.0 - a * a)
            losses[s] = pairwise(sq, 0, n_last) / n_last
        loss = pairwise(losses, 0, batch) / batch
        for layer in range(n_layers - 1, -1, -1):
            n_in, n_out = sizes[layer], sizes[layer + 1]
            p_off -= n_in * n_out + n_out
            a_off -= batch * n_in
            b_off = p_off + n_in * n_out
            for s in range(batch * n_out):
                back[s] = delta[s] * inv_b
            for i in range(p_off, b_off):
                grad[i] = 0.0
            for s in range(batch):
                for i in range(n_in):
                    xi = acts[a_off + s * n_in + i]
                    gi = p_off + i * n_out
                    for j in range(n_out):
                        grad[gi + j] += xi * back[s * n_out + j]
            for j in range(n_out):
                g = back[j]
                for s in range(1, batch):
                    g += back[s * n_out + j]
                grad[b_off + j] = g
            if layer > 0:
                for s in range(batch):
                    gs = s * n_in
                    for i in range(n_in):
                        back[gs + i] = 0.0
                    for j in range(n_out):
                        d = delta[s * n_out + j]
                        for i in range(n_in):
                            back[gs + i] += d * p[p_off + i * n_out + j]
                    for i in range(n_in):
                        a = acts[a_off + gs + i]
                        back[gs + i] = back[gs + i] * (1.0 - a * a)
                for s in range(batch * n_in):
                    delta[s] = back[s]
        p_off = 0
        for layer in range(n_layers):
            n = sizes[layer] * sizes[layer + 1] + sizes[layer + 1]
            for i in range(p_off, p_off + n):
                squares[i] = grad[i] * grad[i]
            norms[layer] = math.sqrt(squares[p_off] + pairwise(squares, p_off + 1, n - 1))
            p_off += n
        for i in range(len(p)):
            p[i] += grad[i] * -lr
        return loss

    return step, f"numba {numba.__version__} (llvmlite {_llvmlite_version()})"


def _llvmlite_version() -> str:
    import llvmlite

    return llvmlite.__version__


@functools.cache
def numba_kernel() -> tuple[Callable | None, str]:
    """The numba kernel (compiled once per process: a few seconds), or None and why not."""
    try:
        return _numba_step()
    except ImportError:
        return None, "numba is not installed"


class KernelStep:
    """A trainer's lean step run by a kernel: the engine's batch order, the parameters updated
    in place in the trainer's own flat vector, the step's scalars kept on a record and in the
    history as Trainer.step(record=False) keeps them."""

    def __init__(self, trainer: Trainer, kind: str, kernel: Callable) -> None:
        self.trainer, self.kind, self.kernel = trainer, kind, kernel
        net = trainer.network
        self.sizes = np.array(net.sizes, dtype=np.intc if kind == "c" else np.int64)
        self.x, self.y = trainer.problem.x_train, trainer.problem.y_train
        batch, n_params = trainer.batch_size, net.flat.size
        self.work = np.zeros(_work_size(tuple(net.sizes), batch, n_params))
        self.norms = np.zeros(len(net.layers))
        self.loss = np.zeros(1)
        self.idx = np.zeros(batch, dtype=np.int64)
        self.lr = trainer.optimizer.learning_rate
        if kind == "c":  # the addresses, worked out once (each .ctypes.data costs ~1 µs)
            self._layers = len(self.sizes) - 1
            self._sizes_at, self._x_at, self._y_at, self._idx_at, self._work_at, self._loss_at, \
                self._norms_at = (a.ctypes.data for a in (self.sizes, self.x, self.y, self.idx,
                                                          self.work, self.loss, self.norms))
            self._flat, self._flat_at = net.flat, net.flat.ctypes.data
        if kind == "numba":  # the same work vector, cut into the kernel's named parts
            w, total, widest = self.work, batch * sum(net.sizes), batch * max(net.sizes)
            cuts = np.cumsum([total, widest, widest, n_params, n_params])
            self.parts = np.split(w, cuts)[:6]

    def call(self, indices: np.ndarray) -> tuple[float, list[float]]:
        """One kernel step on these training rows (the parameters change in place)."""
        flat = self.trainer.network.flat
        if self.kind == "c":
            self.idx[: len(indices)] = indices
            if flat is not self._flat:  # a recorded step would have replaced the vector
                self._flat, self._flat_at = flat, flat.ctypes.data
            self.kernel(self._layers, self._sizes_at, self._flat_at, self._x_at, self._y_at,
                        self._idx_at, len(indices), self.lr, self._work_at, self._loss_at,
                        self._norms_at)
            return float(self.loss[0]), self.norms.tolist()
        acts, delta, back, grad, squares, losses = self.parts
        loss = self.kernel(self.sizes, flat, self.x, self.y, indices, self.lr, acts, delta, back,
                           grad, squares, losses[: len(indices)], self.norms)
        return float(loss), self.norms.tolist()

    def step(self) -> StepRecord:
        """As Trainer.step(record=False) would run it with this kernel."""
        trainer = self.trainer
        indices = trainer._next_batch()
        loss, norms = self.call(indices)
        record = StepRecord(step=trainer.step_count + 1, epoch=trainer.epoch,
                            batch_indices=indices, inputs=None, targets=None,
                            learning_rate=self.lr, data_loss=loss, penalty=0.0,
                            total_loss=loss, grad_norms=norms)
        trainer.optimizer.steps += 1
        trainer.step_count = record.step
        trainer.history.add(record)
        return record


# --- exactness -----------------------------------------------------------------------------------


def ulp_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """How many representable float64 values lie between a and b, elementwise."""
    def ordered(x):
        i = np.ascontiguousarray(x, dtype=np.float64).view(np.int64)
        return np.where(i < 0, np.int64(-(2**63)) - i, i)

    return np.abs(ordered(a) - ordered(b))


@dataclass(frozen=True)
class Exactness:
    steps: int
    params_compared: int
    params_different: int
    max_ulp: int
    step_rel: float  # largest |Δp| / max|p| after one step from the same parameters
    loss_rel: float
    norm_rel: float
    trajectory_steps: int
    trajectory_rel: float  # largest |Δp| / max|p| after trajectory_steps steps from one start

    @property
    def share_different(self) -> float:
        return self.params_different / self.params_compared


def exactness(case: Case, kind: str, kernel: Callable, steps: int = 300,
              trajectory_steps: int = 2000) -> Exactness:
    """Each of `steps` NumPy lean steps beside the kernel's step from the same parameters on the
    same rows; then both trajectories from the same start over `trajectory_steps` steps."""
    reference = engine_trainer(case.network())
    twin = engine_trainer(case.network())
    kstep = KernelStep(twin, kind, kernel)
    different = compared = max_ulp = 0
    loss_rel = norm_rel = step_rel = 0.0
    for _ in range(steps):
        twin.network.flat[...] = reference.network.flat
        twin._set_position(reference._position_now())
        indices = twin._next_batch()
        record = reference.step(record=False)
        loss, norms = kstep.call(indices)
        ulps = ulp_distance(twin.network.flat, reference.network.flat)
        different += int(np.count_nonzero(ulps))
        compared += ulps.size
        max_ulp = max(max_ulp, int(ulps.max()))
        p, q = twin.network.flat, reference.network.flat
        step_rel = max(step_rel, float(np.abs(p - q).max() / np.abs(q).max()))
        loss_rel = max(loss_rel, abs(loss - record.data_loss) / abs(record.data_loss))
        norm_rel = max(norm_rel, max(abs(a - b) / abs(b) for a, b in
                                     zip(norms, record.grad_norms, strict=True) if b))
    reference, twin = engine_trainer(case.network()), engine_trainer(case.network())
    kstep = KernelStep(twin, kind, kernel)
    for _ in range(trajectory_steps):
        reference.step(record=False)
        kstep.step()
    p, q = reference.network.flat, twin.network.flat
    return Exactness(steps, compared, different, max_ulp, step_rel, loss_rel, norm_rel,
                     trajectory_steps,
                     float(np.abs(p - q).max() / np.abs(p).max()))


# --- speed ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Speed:
    case: Case
    numpy_lean_us: float
    kernel_us: dict[str, float]  # "c", "c alone", "numba", "numba alone"
    nn_ts_us: float | None


def speed(case: Case, kernels: dict[str, Callable], nn_ts_us: dict[int, float],
          repeats: int) -> Speed:
    """The NumPy lean step and every kernel (integrated and alone) in turns, one thread."""
    lean = engine_trainer(case.network())
    steps: dict[str, Callable[[], object]] = {"numpy": lambda: lean.step(record=False)}
    for kind, kernel in kernels.items():
        integrated = KernelStep(engine_trainer(case.network()), kind, kernel)
        alone = KernelStep(engine_trainer(case.network()), kind, kernel)
        rows = alone.trainer._next_batch().copy()
        steps[kind] = integrated.step
        steps[f"{kind} alone"] = lambda k=alone, r=rows: k.call(r)
    work = case.batch * sum(a * b for a, b in zip(case.sizes, case.sizes[1:], strict=False))
    reps = max(50, min(repeats, int(repeats * 400 / max(work, 1))))
    times = median_us(steps, reps, max(5, reps // 20))
    kernel_us = {name: t for name, t in times.items() if name != "numpy"}
    nn_ts = nn_ts_us.get(case.batch) if case.sizes == (2, 4, 2, 1) else None
    return Speed(case, times["numpy"], kernel_us, nn_ts)


# --- report --------------------------------------------------------------------------------------


def _dependency_weight() -> str:
    parts = []
    try:
        import llvmlite
        import numba

        def size(module) -> float:
            root = Path(module.__file__).parent
            return sum(f.stat().st_size for f in root.rglob("*") if f.is_file()) / 2**20

        parts.append(f"numba {numba.__version__} installs {size(numba):.0f} MiB and llvmlite "
                     f"{llvmlite.__version__} {size(llvmlite):.0f} MiB")
    except ImportError:
        parts.append("numba not installed here")
    return "; ".join(parts)


def render(speeds: list[Speed], exact: dict[tuple[str, str], Exactness], how: dict[str, str],
           nn_ts_how: str, load_before: str) -> str:
    kinds = list(how)
    lines = [
        "A compiled lean step, measured (`bench/compiled_probe.py`): the engine's lean step for "
        "a dense tanh stack with MSE on a tanh output as C (`bench/compiled_lean_step.c` via "
        "ctypes) and as numba, beside the NumPy lean step and the Playground's nn.ts, median "
        "µs per step in turns in one process, one thread. Integrated: the engine's batch order, "
        "parameters updated in place in the trainer's vector, loss and gradient norms kept in "
        "the history, as `step(record=False)` would run it; alone: the kernel call only. "
        f"Kernels: {'; '.join(f'{k}: {v}' for k, v in how.items())}; nn.ts: {nn_ts_how}. "
        f"Machine: {machine_info()}; load average before the probe {load_before}.",
        "",
        "| network | batch | NumPy lean µs | "
        + " | ".join(f"{k} µs (alone)" for k in kinds)
        + " | "
        + " | ".join(f"NumPy / {k}" for k in kinds)
        + " | nn.ts µs | NumPy / nn.ts throughput | "
        + " | ".join(f"{k} / nn.ts throughput" for k in kinds)
        + " |",
        "|---|---:|---:|" + "---:|" * (3 * len(kinds) + 2),
    ]
    for s in speeds:
        cells = [f"{s.kernel_us[k]:,.1f} ({s.kernel_us[f'{k} alone']:,.1f})" for k in kinds]
        ratios = [f"{s.numpy_lean_us / s.kernel_us[k]:.1f}×" for k in kinds]
        nn = "—" if s.nn_ts_us is None else f"{s.nn_ts_us:,.1f}"
        nn += " | —" if s.nn_ts_us is None else f" | {s.nn_ts_us / s.numpy_lean_us:.2f}"
        thr = ["—" if s.nn_ts_us is None else f"{s.nn_ts_us / s.kernel_us[k]:.2f}"
               for k in kinds]
        lines.append(f"| {s.case.name} | {s.case.batch} | {s.numpy_lean_us:,.1f} | "
                     + " | ".join(cells) + " | " + " | ".join(ratios) + f" | {nn} | "
                     + " | ".join(thr) + " |")
    lines += [
        "",
        "Exactness against the NumPy lean step: from NumPy's parameters before each step, the "
        "kernel's step on the same rows; then both trajectories from one start.",
        "",
        "| network | batch | kernel | steps | parameters bitwise different | largest difference "
        "(ulp of that parameter) | largest \\|Δp\\| / max \\|p\\| | loss, largest relative "
        "difference | gradient norms | trajectory: max \\|Δp\\| / max \\|p\\| |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for (name, kind), e in exact.items():
        case = next(s.case for s in speeds if f"{s.case.name} b{s.case.batch}" == name)
        lines.append(
            f"| {case.name} | {case.batch} | {kind} | {e.steps} | {e.share_different:.1%} "
            f"| {e.max_ulp:,} | {e.step_rel:.1e} | {e.loss_rel:.1e} | {e.norm_rel:.1e} "
            f"| {e.trajectory_rel:.1e} after {e.trajectory_steps} |"
        )
    lines += ["", f"Dependency weight: {_dependency_weight()}."]
    return "\n".join(lines)


def main() -> None:
    load_before = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    nn_ts_before, nn_ts_how = playground_step_us((10, 250))
    with tempfile.TemporaryDirectory() as tmp:
        kernels, how = {}, {}
        c_kernel, c_how = build_c_kernel(Path(tmp))
        numba_step, numba_how = numba_kernel()
        for kind, kernel, text in (("c", c_kernel, c_how), ("numba", numba_step, numba_how)):
            if kernel is None:
                print(f"{kind}: skipped ({text})")
            else:
                kernels[kind], how[kind] = kernel, text
        if not kernels:
            print("no kernel could be built: nothing to measure")
            return
        with one_thread():
            for kind, kernel in kernels.items():  # compile (numba) and warm up before timing
                KernelStep(engine_trainer(CASES[0].network()), kind, kernel).step()
            exact = {}
            for case in CASES[:4]:
                for kind, kernel in kernels.items():
                    exact[(f"{case.name} b{case.batch}", kind)] = exactness(case, kind, kernel)
            speeds = [speed(case, kernels, {}, 20_000) for case in CASES]
        nn_ts_after, _ = playground_step_us((10, 250))
        # Node runs in its own process, so the machine's load can differ from the engine's
        # turns: nn.ts is timed on both sides of them and its faster figure is the reference.
        nn_ts = {b: min(t, nn_ts_after.get(b, t)) for b, t in nn_ts_before.items()}
        speeds = [Speed(s.case, s.numpy_lean_us, s.kernel_us,
                        nn_ts.get(s.case.batch) if s.case.sizes == (2, 4, 2, 1) else None)
                  for s in speeds]
        nn_ts_how += "".join(
            f"; nn.ts b{b}: {nn_ts_before[b]:.1f} µs before, {nn_ts_after[b]:.1f} after"
            for b in sorted(nn_ts_before) if b in nn_ts_after)
        table = render(speeds, exact, how, nn_ts_how, load_before)
    print(table)
    if "--write" in sys.argv:
        write_section("compiled", table, "A compiled lean step")


if __name__ == "__main__":
    main()
