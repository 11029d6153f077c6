"""Specification: pooling and flatten pass true values forward and true gradients back.

Max pooling keeps each window's largest value and routes the window's gradient, whole, to the
first input holding it — the routing is in the trace; average pooling shares it equally. Both
equal central finite differences and PyTorch's ``max_pool2d`` / ``avg_pool2d`` (float64, 1e-9
relative) over random sizes and strides, overlapping windows included. Flatten is a reshape in
PyTorch's ``flatten(1)`` order, both ways. None of them has parameters.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.layers import AvgPool2D, Flatten, FlattenTrace, MaxPool2D, PoolTrace

STEP = 1e-6
FD_TOLERANCE = 1e-6
TORCH_RTOL = 1e-9
TORCH_ATOL = 1e-12
POOLS = {"maxpool": MaxPool2D, "avgpool": AvgPool2D}


@st.composite
def pool_geometries(draw):
    """(channels, height, width, size, stride or None): windows that fit, overlapping or not."""
    size = draw(st.integers(1, 3))
    stride = draw(st.one_of(st.none(), st.integers(1, 3)))
    height, width = draw(st.integers(size, 7)), draw(st.integers(size, 7))
    return draw(st.integers(1, 3)), height, width, size, stride


def numeric_gradient(loss, array: np.ndarray) -> np.ndarray:
    grad = np.empty_like(array)
    for index in np.ndindex(array.shape):
        saved = array[index]
        array[index] = saved + STEP
        plus = loss()
        array[index] = saved - STEP
        minus = loss()
        array[index] = saved
        grad[index] = (plus - minus) / (2 * STEP)
    return grad


# --- finite differences -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", POOLS)
@settings(max_examples=25, deadline=None)
@given(geometry=pool_geometries(), batch=st.integers(1, 3), seed=st.integers(0, 2**32 - 1))
def test_input_gradient_equals_finite_differences(kind, geometry, batch, seed):
    channels, height, width, size, stride = geometry
    layer = POOLS[kind]((channels, height, width), size, stride)
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(batch, channels, height, width))  # distinct values: no ties
    weights = rng.normal(size=(batch, *layer.output_shape))

    def loss() -> float:
        return float((weights * layer.forward(x, 0).output).sum())

    trace = layer.forward(x, 0)
    layer.backward(trace, weights)
    numeric = numeric_gradient(loss, x)
    scale = max(float(np.abs(numeric).max()), 1e-3)
    assert np.abs(layer.grad_input(trace) - numeric).max() <= FD_TOLERANCE * scale


# --- PyTorch --------------------------------------------------------------------------------------


@pytest.mark.torch
@pytest.mark.parametrize("kind", POOLS)
@settings(max_examples=40, deadline=None)
@given(geometry=pool_geometries(), batch=st.integers(1, 4), seed=st.integers(0, 2**32 - 1))
def test_forward_and_input_gradient_equal_pytorch(kind, geometry, batch, seed):
    torch = pytest.importorskip("torch")
    functional = torch.nn.functional
    channels, height, width, size, stride = geometry
    layer = POOLS[kind]((channels, height, width), size, stride)
    rng = np.random.default_rng(seed)
    # a coarse grid of values, so that maxima tie now and then
    x = rng.integers(-3, 4, size=(batch, channels, height, width)).astype(np.float64)
    x += rng.normal(0.0, 1.0, x.shape) * (rng.random(x.shape) < 0.5)
    weights = rng.normal(size=(batch, *layer.output_shape))
    trace = layer.forward(x, 0)
    layer.backward(trace, weights)

    xt = torch.tensor(x, requires_grad=True)
    stride_t = size if stride is None else stride
    if kind == "maxpool":
        out, indices = functional.max_pool2d(xt, size, stride_t, return_indices=True)
        np.testing.assert_array_equal(trace.routing, indices.numpy())
    else:
        out = functional.avg_pool2d(xt, size, stride_t)
    (out * torch.from_numpy(weights)).sum().backward()
    np.testing.assert_allclose(trace.output, out.detach().numpy(), TORCH_RTOL, TORCH_ATOL)
    np.testing.assert_allclose(layer.grad_input(trace), xt.grad.numpy(), TORCH_RTOL, TORCH_ATOL)


# --- max-pool routing -----------------------------------------------------------------------


def test_max_pool_routes_each_gradient_to_its_windows_maximum():
    layer = MaxPool2D((1, 4, 4), 2)
    x = np.array(
        [
            [1.0, 5.0, 0.0, 2.0],
            [3.0, 2.0, 7.0, 1.0],
            [0.0, 0.0, 4.0, 9.0],
            [8.0, 1.0, 3.0, 2.0],
        ]
    )[None, None]
    trace = layer.forward(x, 0)
    np.testing.assert_array_equal(trace.output[0, 0], [[5.0, 7.0], [8.0, 9.0]])
    # flat input index y·4 + x of each window's winner
    np.testing.assert_array_equal(trace.routing[0, 0], [[1, 6], [12, 11]])
    layer.backward(trace, np.array([[10.0, 20.0], [30.0, 40.0]])[None, None])
    expected = np.zeros((4, 4))
    expected[0, 1], expected[1, 2], expected[3, 0], expected[2, 3] = 10.0, 20.0, 30.0, 40.0
    np.testing.assert_array_equal(trace.grad_input_value[0, 0], expected)


def test_max_pool_ties_route_to_the_first_maximum():
    layer = MaxPool2D((1, 2, 4), 2)
    x = np.array([[3.0, 1.0, 0.0, 6.0], [3.0, 3.0, 6.0, 6.0]])[None, None]
    trace = layer.forward(x, 0)
    np.testing.assert_array_equal(trace.routing[0, 0], [[0, 3]])  # row-major first
    layer.backward(trace, np.ones((1, 1, 1, 2)))
    np.testing.assert_array_equal(trace.grad_input_value[0, 0], [[1, 0, 0, 1], [0, 0, 0, 0]])


def test_overlapping_windows_add_up_at_a_pixel_that_wins_both():
    layer = MaxPool2D((1, 2, 3), 2, 1)  # two 2×2 windows sharing the middle column
    x = np.array([[0.0, 9.0, 1.0], [2.0, 3.0, 4.0]])[None, None]
    trace = layer.forward(x, 0)
    np.testing.assert_array_equal(trace.routing[0, 0], [[1, 1]])
    layer.backward(trace, np.array([[[[2.0, 5.0]]]]))
    np.testing.assert_array_equal(trace.grad_input_value[0, 0], [[0, 7, 0], [0, 0, 0]])


def test_average_pool_shares_the_gradient_equally():
    layer = AvgPool2D((1, 4, 4), 2)
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    trace = layer.forward(x, 0)
    np.testing.assert_array_equal(trace.output[0, 0], [[2.5, 4.5], [10.5, 12.5]])
    assert trace.routing is None
    layer.backward(trace, np.array([[[[4.0, 8.0], [12.0, 16.0]]]]))
    np.testing.assert_array_equal(
        trace.grad_input_value[0, 0], [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]]
    )


def test_rows_no_window_reaches_get_no_gradient():
    layer = MaxPool2D((1, 5, 5), 2)  # the last row and column are never looked at
    assert layer.output_shape == (1, 2, 2)
    trace = layer.forward(np.random.default_rng(0).normal(size=(1, 1, 5, 5)), 0)
    layer.backward(trace, np.ones((1, 1, 2, 2)))
    assert not trace.grad_input_value[0, 0, 4].any()
    assert not trace.grad_input_value[0, 0, :, 4].any()


# --- the protocol -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", POOLS)
def test_pools_have_no_parameters(kind):
    layer = POOLS[kind]((2, 8, 8), 2)
    assert layer.kind == kind
    assert layer.parameter_shapes() == {}
    assert layer.regularized == ()
    assert layer.output_shape == (2, 4, 4)
    trace = layer.forward(np.ones((3, 2, 8, 8)), 5)
    assert isinstance(trace, PoolTrace) and trace.kind == kind and trace.index == 5
    layer.backward(trace, np.ones((3, 2, 4, 4)))
    grads: dict[str, np.ndarray] = {}
    layer.accumulate(trace, grads)
    assert grads == {}


def test_pool_trace_names_what_a_phase_shows():
    assert PoolTrace.FORWARD_FIELDS == ("input", "output", "routing")
    assert PoolTrace.BACKWARD_FIELDS == ("grad_output", "grad_input_value")


@pytest.mark.parametrize("kind", POOLS)
def test_infer_equals_the_training_forward_pass(kind):
    layer = POOLS[kind]((2, 7, 6), 3, 2)
    x = np.random.default_rng(1).normal(size=(4, 2, 7, 6))
    np.testing.assert_array_equal(layer.infer(x), layer.forward(x, 0).output)


def test_describe_names_size_and_stride():
    assert MaxPool2D((3, 8, 8), 2).describe() == {
        "kind": "maxpool",
        "input_shape": [3, 8, 8],
        "output_shape": [3, 4, 4],
        "size": 2,
        "stride": 2,
    }


@pytest.mark.parametrize("kind", POOLS)
def test_float32_stays_float32(kind):
    layer = POOLS[kind]((1, 4, 4), 2, 1)
    trace = layer.forward(np.ones((2, 1, 4, 4), dtype=np.float32), 0)
    layer.backward(trace, np.ones((2, 1, 3, 3), dtype=np.float32))
    assert trace.output.dtype == np.float32
    assert trace.grad_input_value.dtype == np.float32


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (((1, 3, 3), 4), "a 4×4 maxpool window does not fit in a 3×3 input; use a size of at most"),
        (((1, 8, 2), 3), "does not fit in a 8×2 input"),
        (((1, 8, 8), 0), "size must be a whole number of at least 1"),
        (((1, 8, 8), 2, 0), "stride must be a whole number of at least 1"),
        (((128,), 2), "pools images (channels × height × width)"),
    ],
)
def test_a_pool_that_does_not_fit_is_refused(arguments, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        MaxPool2D(*arguments)


# --- flatten ----------------------------------------------------------------------------------


@pytest.mark.torch
def test_flatten_orders_channel_row_column_like_pytorch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(2).normal(size=(3, 2, 4, 5))
    layer = Flatten((2, 4, 5))
    assert layer.output_shape == (40,)
    np.testing.assert_array_equal(
        layer.forward(x, 0).output, torch.from_numpy(x).flatten(1).numpy()
    )


def test_flatten_passes_the_gradient_back_in_the_inputs_shape():
    layer = Flatten((2, 3, 3))
    x = np.random.default_rng(3).normal(size=(4, 2, 3, 3))
    trace = layer.forward(x, 0)
    assert isinstance(trace, FlattenTrace) and trace.kind == "flatten"
    grad = np.arange(4 * 18.0).reshape(4, 18)
    layer.backward(trace, grad)
    np.testing.assert_array_equal(layer.grad_input(trace), grad.reshape(4, 2, 3, 3))
    assert layer.grad_input(trace)[1, 1, 2, 0] == grad[1, (1 * 3 + 2) * 3 + 0]
    assert layer.parameter_shapes() == {} and layer.regularized == ()


def test_flatten_refuses_an_input_of_another_shape():
    with pytest.raises(ValueError, match="takes inputs of shape 2×3×3, not 3×3×2"):
        Flatten((2, 3, 3)).forward(np.zeros((1, 3, 3, 2)), 0)
