"""The compiled-step probe (bench/compiled_probe.py) measures what it claims: its kernels run the
engine's lean step, agreeing with NumPy's to float64 rounding (not bit for bit: their products
and tanh are not NumPy's). Each kernel is skipped when its compiler is missing."""

import shutil

import numpy as np
import pytest

from bench.compiled_probe import Case, KernelStep, build_c_kernel, numba_kernel, ulp_distance
from bench.engine import engine_trainer

PLAYGROUND = Case((2, 4, 2, 1), 10)
DEEP = Case((2, 8, 8, 8, 1), 32)


def _kernel(kind: str, tmp_path):
    if kind == "c":
        if shutil.which("cc") is None and shutil.which("gcc") is None:
            pytest.skip("no C compiler")
        kernel, why = build_c_kernel(tmp_path)
    else:
        kernel, why = numba_kernel()
    if kernel is None:
        pytest.skip(why)
    return kernel


@pytest.mark.parametrize("kind", ["c", "numba"])
@pytest.mark.parametrize("case", [PLAYGROUND, DEEP], ids=lambda c: c.name)
def test_a_kernel_step_agrees_with_the_numpy_lean_step_to_float64_rounding(kind, case, tmp_path):
    kernel = _kernel(kind, tmp_path)
    numpy_side, kernel_side = engine_trainer(case.network()), engine_trainer(case.network())
    step = KernelStep(kernel_side, kind, kernel)
    for _ in range(20):
        record = numpy_side.step(record=False)
        kernel_record = step.step()
        assert kernel_record.step == record.step
        assert np.array_equal(kernel_record.batch_indices, record.batch_indices)
        assert kernel_record.data_loss == pytest.approx(record.data_loss, rel=1e-13)
        assert kernel_record.grad_norms == pytest.approx(record.grad_norms, rel=1e-12)
    p, q = kernel_side.network.flat, numpy_side.network.flat
    assert np.abs(p - q).max() <= 1e-14 * np.abs(q).max()
    assert kernel_side.history.loss == pytest.approx(numpy_side.history.loss, rel=1e-13)


def test_ulp_distance_counts_representable_values_across_zero():
    one_up = np.nextafter(1.0, 2.0)
    tiny = np.nextafter(0.0, 1.0)
    assert ulp_distance(np.array([1.0]), np.array([one_up])).tolist() == [1]
    assert ulp_distance(np.array([-0.0]), np.array([0.0])).tolist() == [0]
    assert ulp_distance(np.array([-tiny]), np.array([tiny])).tolist() == [2]
    assert ulp_distance(np.array([2.0]), np.array([2.0])).tolist() == [0]
