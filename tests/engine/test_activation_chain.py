"""Every activation's backward pass gives the bytes of dL/da · f'(z), however it computes them."""

import numpy as np
import pytest

from engine.activations import ACTIVATIONS

ELEMENTWISE = sorted(name for name, act in ACTIVATIONS.items() if act.elementwise)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", ELEMENTWISE)
def test_backward_is_the_product_of_upstream_and_derivative_bit_for_bit(name, dtype):
    rng = np.random.default_rng(3)
    z = rng.normal(scale=3.0, size=(40, 9)).astype(dtype)
    z[0, :4] = [0.0, -0.0, 50.0, -50.0]
    grad_a = rng.normal(size=z.shape).astype(dtype)
    grad_a[1, :3] = [-0.0, np.inf, -np.inf]
    act = ACTIVATIONS[name]
    a = act.value(z)
    with np.errstate(invalid="ignore"):
        expected = grad_a * act.derivative(z, a)
        got = act.backward(z, a, grad_a)
    assert got.dtype == expected.dtype
    assert got.tobytes() == expected.tobytes()
    assert got is not grad_a
