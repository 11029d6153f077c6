"""Specification: the conv2d layer computes a true convolution and its true gradients.

A convolution's forward values, its kernel and bias gradients (batch means) and the gradient it
passes to its input must equal central finite differences of the loss (float64, over random
shapes, strides and paddings) and PyTorch's ``conv2d`` to 1e-9 relative. Impossible shapes are
refused with a sentence a learner understands. A small CNN built from the layers by hand learns
the shapes set.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.activations import get_activation
from engine.image_data import digits, shapes
from engine.initializers import get_initializer
from engine.layers import (
    Conv2D,
    ConvTrace,
    Dense,
    Flatten,
    KernelTerm,
    MaxPool2D,
    kernel_weight_terms,
)
from engine.losses import get_loss
from engine.network import Network

STEP = 1e-6  # central-difference step
FD_TOLERANCE = 1e-6  # relative to the largest gradient entry
TORCH_RTOL = 1e-9
TORCH_ATOL = 1e-12


def random_conv(
    rng: np.random.Generator,
    input_shape: tuple[int, int, int],
    filters: int,
    kernel: int,
    stride: int = 1,
    padding: str | int = "valid",
    activation: str = "tanh",
) -> Conv2D:
    layer = Conv2D(input_shape, filters, kernel, stride, padding, get_activation(activation))
    layer.bind(
        {
            "kernel": rng.normal(0.0, 0.7, (filters, input_shape[0], kernel, kernel)),
            "bias": rng.normal(0.0, 0.5, filters),
        }
    )
    return layer


def gradients(layer: Conv2D, trace: ConvTrace) -> dict[str, np.ndarray]:
    grads = {name: np.empty(shape) for name, shape in layer.parameter_shapes().items()}
    layer.accumulate(trace, grads)
    return grads


def numeric_gradient(loss, array: np.ndarray) -> np.ndarray:
    """Central differences of loss() with respect to every entry of array (perturbed in place)."""
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


def assert_close_to_differences(analytic: np.ndarray, numeric: np.ndarray) -> None:
    scale = max(float(np.abs(numeric).max()), 1e-3)
    assert np.abs(analytic - numeric).max() <= FD_TOLERANCE * scale


# Small geometries that fit: (channels, height, width, filters, kernel, stride, padding).
@st.composite
def geometries(draw):
    kernel = draw(st.integers(1, 3))
    stride = draw(st.integers(1, 3))
    padding = draw(st.sampled_from(["valid", "same", *range(kernel)]))
    pad = kernel - 1 if padding == "same" else (0 if padding == "valid" else 2 * padding)
    height = draw(st.integers(max(1, kernel - pad), 6))
    width = draw(st.integers(max(1, kernel - pad), 6))
    channels, filters = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    return channels, height, width, filters, kernel, stride, padding


# --- finite differences -------------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(geometry=geometries(), batch=st.integers(1, 3), seed=st.integers(0, 2**32 - 1))
def test_kernel_bias_and_input_gradients_equal_finite_differences(geometry, batch, seed):
    channels, height, width, filters, kernel, stride, padding = geometry
    rng = np.random.default_rng(seed)
    layer = random_conv(rng, (channels, height, width), filters, kernel, stride, padding)
    x = rng.normal(size=(batch, channels, height, width))
    weights = rng.normal(size=(batch, *layer.output_shape))

    def loss() -> float:  # the batch mean of Σ weights ⊙ output
        return float((weights * layer.forward(x, 0).output).sum()) / batch

    trace = layer.forward(x, 0)
    layer.backward(trace, weights)
    grads = gradients(layer, trace)
    assert_close_to_differences(grads["kernel"], numeric_gradient(loss, layer.kernel))
    assert_close_to_differences(grads["bias"], numeric_gradient(loss, layer.bias))
    # grad_input is per sample (∂L_b/∂x_b), what the previous layer's backward receives
    assert_close_to_differences(layer.grad_input(trace) / batch, numeric_gradient(loss, x))


# --- PyTorch --------------------------------------------------------------------------------------


def torch_pads(layer: Conv2D) -> tuple[int, int, int, int]:
    top, bottom, left, right = layer.pads
    return (left, right, top, bottom)  # torch.nn.functional.pad's order: last axis first


@pytest.mark.torch
@settings(max_examples=40, deadline=None)
@given(geometry=geometries(), batch=st.integers(1, 4), seed=st.integers(0, 2**32 - 1))
def test_forward_and_gradients_equal_pytorch_conv2d(geometry, batch, seed):
    torch = pytest.importorskip("torch")
    functional = torch.nn.functional
    channels, height, width, filters, kernel, stride, padding = geometry
    rng = np.random.default_rng(seed)
    layer = random_conv(rng, (channels, height, width), filters, kernel, stride, padding)
    x = rng.normal(size=(batch, channels, height, width))
    weights = rng.normal(size=(batch, *layer.output_shape))
    trace = layer.forward(x, 0)
    layer.backward(trace, weights)
    grads = gradients(layer, trace)

    xt = torch.tensor(x, requires_grad=True)
    kt = torch.tensor(layer.kernel, requires_grad=True)
    bt = torch.tensor(layer.bias, requires_grad=True)
    zt = functional.conv2d(functional.pad(xt, torch_pads(layer)), kt, bt, stride=stride)
    at = torch.tanh(zt)
    ((at * torch.from_numpy(weights)).sum() / batch).backward()

    def close(ours, theirs) -> None:
        np.testing.assert_allclose(ours, theirs.detach().numpy(), TORCH_RTOL, TORCH_ATOL)

    close(trace.pre_activation, zt)
    close(trace.output, at)
    close(grads["kernel"], kt.grad)
    close(grads["bias"], bt.grad)
    close(layer.grad_input(trace) / batch, xt.grad)


@pytest.mark.torch
@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize("kernel", [1, 2, 3, 4, 5])
def test_same_padding_at_stride_1_equals_pytorch_padding_same(kernel):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(kernel)
    layer = random_conv(rng, (2, 7, 6), 3, kernel, padding="same", activation="linear")
    x = rng.normal(size=(2, 2, 7, 6))
    expected = torch.nn.functional.conv2d(
        torch.from_numpy(x),
        torch.from_numpy(layer.kernel),
        torch.from_numpy(layer.bias),
        padding="same",
    )
    np.testing.assert_allclose(layer.forward(x, 0).output, expected.numpy(), TORCH_RTOL, 1e-12)


# --- shapes, padding and parameters ---------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "padding", "expected"),
    [
        (8, 3, 1, "same", 8),
        (8, 4, 1, "same", 8),
        (8, 3, 1, "valid", 6),
        (8, 3, 2, "valid", 3),
        (8, 3, 2, "same", 4),
        (7, 3, 2, "same", 4),
        (8, 3, 1, 1, 8),
        (8, 5, 1, 2, 8),
        (8, 3, 3, 0, 2),
    ],
)
def test_output_size_follows_padding_and_stride(size, kernel, stride, padding, expected):
    layer = Conv2D((1, size, size), 2, kernel, stride, padding, get_activation("relu"))
    assert layer.output_shape == (2, expected, expected)


def test_same_padding_puts_the_odd_pixel_after_the_image():
    layer = Conv2D((1, 8, 8), 1, 4, 1, "same", get_activation("relu"))
    assert layer.pads == (1, 2, 1, 2)


def test_parameters_are_a_kernel_per_filter_and_a_bias_per_filter():
    layer = Conv2D((3, 8, 8), 5, 3, activation=get_activation("relu"))
    assert layer.parameter_shapes() == {"kernel": (5, 3, 3, 3), "bias": (5,)}
    assert layer.regularized == ("kernel",)
    assert layer.kind == "conv2d"


def test_initial_kernel_has_fan_in_channels_times_kernel_area():
    layer = Conv2D((2, 8, 8), 64, 3, activation=get_activation("relu"))
    params = layer.initial_parameters(
        np.random.default_rng(0), get_initializer("he_uniform"), np.dtype("float64")
    )
    limit = np.sqrt(6.0 / (2 * 3 * 3))  # He uniform: U(±√(6/fan_in)), fan_in = C·k·k = 18
    assert params["kernel"].shape == (64, 2, 3, 3)
    assert np.abs(params["kernel"]).max() <= limit
    assert np.abs(params["kernel"]).max() > 0.9 * limit
    assert params["bias"].shape == (64,)


def test_initial_bias_is_the_initializers_bias():
    layer = Conv2D((1, 8, 8), 4, 3, activation=get_activation("relu"))
    params = layer.initial_parameters(
        np.random.default_rng(0), get_initializer("small_uniform"), np.dtype("float32")
    )
    assert params["kernel"].dtype == np.float32
    np.testing.assert_array_equal(params["bias"], np.full(4, 0.1, dtype=np.float32))


def test_forward_ignores_dropout_arguments():
    rng = np.random.default_rng(3)
    layer = random_conv(rng, (1, 6, 6), 2, 3, padding="same", activation="relu")
    x = rng.normal(size=(4, 1, 6, 6))
    plain = layer.forward(x, 0).output
    with_dropout = layer.forward(x, 0, np.random.default_rng(1), None).output
    np.testing.assert_array_equal(plain, with_dropout)


def test_infer_equals_the_training_forward_pass():
    rng = np.random.default_rng(4)
    layer = random_conv(rng, (2, 7, 5), 3, 3, stride=2, padding=1, activation="relu")
    x = rng.normal(size=(3, 2, 7, 5))
    np.testing.assert_array_equal(layer.infer(x), layer.forward(x, 0).output)


def test_float32_stays_float32():
    rng = np.random.default_rng(5)
    layer = random_conv(rng, (1, 6, 6), 2, 3, padding="same", activation="relu")
    layer.bind({name: value.astype(np.float32) for name, value in layer.params.items()})
    x = rng.normal(size=(2, 1, 6, 6)).astype(np.float32)
    trace = layer.forward(x, 0)
    layer.backward(trace, np.ones_like(trace.output))
    grads = {n: np.empty(s, dtype=np.float32) for n, s in layer.parameter_shapes().items()}
    layer.accumulate(trace, grads)
    assert trace.output.dtype == np.float32
    assert trace.delta.dtype == np.float32
    assert layer.grad_input(trace).dtype == np.float32


def test_accumulate_writes_into_the_arrays_it_is_given():
    rng = np.random.default_rng(6)
    layer = random_conv(rng, (1, 5, 5), 2, 3)
    trace = layer.forward(rng.normal(size=(2, 1, 5, 5)), 0)
    layer.backward(trace, rng.normal(size=trace.output.shape))
    flat = np.zeros(2 * 9 + 2)
    grads = {"kernel": flat[:18].reshape(2, 1, 3, 3), "bias": flat[18:]}
    layer.accumulate(trace, grads)
    assert np.abs(flat).min() > 0  # every entry written through the views


def test_trace_names_what_a_phase_shows():
    assert ConvTrace.FORWARD_FIELDS == ("input", "pre_activation", "activation", "output")
    assert "kernel_grad" in ConvTrace.BACKWARD_FIELDS
    assert "delta" in ConvTrace.BACKWARD_FIELDS


def test_describe_is_a_plain_record():
    layer = Conv2D((1, 8, 8), 8, 3, 1, "same", get_activation("relu"))
    record = layer.describe()
    assert json.loads(json.dumps(record)) == record
    assert record["kind"] == "conv2d"
    assert record["output_shape"] == [8, 8, 8]
    assert record["filters"] == 8 and record["kernel"] == 3 and record["padding"] == "same"


# --- refusals -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (((1, 3, 3), 2, 5), "5×5 kernel does not fit in a 3×3 image"),
        (((1, 2, 2), 2, 5, 1, 1), "a 2×2 image (4×4 with its padding)"),
        (((1, 8, 8), 2, 3, 0), "stride must be a whole number of at least 1"),
        (((1, 8, 8), 0, 3), "filters must be a whole number of at least 1"),
        (((1, 8, 8), 2, 0), "kernel must be a whole number of at least 1"),
        (((1, 8, 8), 2, 3, 1, -1), "at least 0"),
        (((1, 8, 8), 2, 3, 1, 3), "only padding; use at most 2"),
        (((1, 8, 8), 2, 3, 1, "full"), 'padding must be "same", "valid"'),
        (((64,), 2, 3), "needs images (channels × height × width)"),
    ],
)
def test_impossible_layers_are_refused_with_a_reason(arguments, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        Conv2D(*arguments, activation=get_activation("relu"))


def test_softmax_is_refused_inside_the_network():
    with pytest.raises(ValueError, match="only for the output layer"):
        Conv2D((1, 8, 8), 2, 3, activation=get_activation("softmax"))


def test_an_input_of_the_wrong_shape_is_refused():
    layer = Conv2D((1, 8, 8), 2, 3, activation=get_activation("relu"))
    with pytest.raises(ValueError, match="takes images of shape 1×8×8, not 2×8×8"):
        layer.forward(np.zeros((4, 2, 8, 8)), 0)


# --- the chain rule for one kernel weight -----------------------------------------------------


def traced(seed: int, padding: str | int = "same", stride: int = 1) -> tuple[Conv2D, ConvTrace]:
    rng = np.random.default_rng(seed)
    layer = random_conv(rng, (2, 6, 5), 3, 3, stride, padding)
    trace = layer.forward(rng.normal(size=(4, 2, 6, 5)), 0)
    layer.backward(trace, rng.normal(size=trace.output.shape))
    return layer, trace


@pytest.mark.parametrize(("padding", "stride"), [("same", 1), ("valid", 1), (1, 2)])
def test_kernel_terms_add_up_to_the_kernel_gradient(padding, stride):
    layer, trace = traced(7, padding, stride)
    grads = gradients(layer, trace)
    for f, c, i, j in [(0, 0, 0, 0), (2, 1, 1, 2), (1, 0, 2, 1)]:
        per_sample = [
            sum(term.product for term in kernel_weight_terms(trace, b, f, c, i, j))
            for b in range(4)
        ]
        assert np.mean(per_sample) == pytest.approx(grads["kernel"][f, c, i, j], rel=1e-12)


def test_kernel_terms_name_every_output_position_largest_first():
    _, trace = traced(8)
    terms = kernel_weight_terms(trace, 1, 2, 1, 0, 2)
    assert all(isinstance(term, KernelTerm) for term in terms)
    assert sorted(term.output for term in terms) == [(y, x) for y in range(6) for x in range(5)]
    sizes = [abs(term.product) for term in terms]
    assert sizes == sorted(sizes, reverse=True)


def test_kernel_terms_read_the_input_pixel_and_delta_they_multiply():
    _, trace = traced(9)
    # weight (i, j) = (0, 2) of a 3×3 kernel with one pixel of padding: output (y, x) reads
    # input (y − 1, x + 1)
    for term in kernel_weight_terms(trace, 0, 1, 0, 0, 2):
        y, x = term.output
        assert term.delta == trace.delta[0, 1, y, x]
        assert term.product == term.input * term.delta
        if term.input_position is None:  # the patch reaches into the zero padding
            assert term.input == 0.0
            assert y == 0 or x == 4
        else:
            assert term.input_position == (y - 1, x + 1)
            assert term.input == trace.input[0, 0, y - 1, x + 1]


# --- a CNN composed by hand -----------------------------------------------------------------


def small_cnn(seed: int, n_classes: int, filters: int = 4) -> Network:
    conv = Conv2D((1, 8, 8), filters, 3, 1, "same", get_activation("relu"))
    pool = MaxPool2D(conv.output_shape, 2)
    flatten = Flatten(pool.output_shape)
    dense = Dense(flatten.output_shape, n_classes, get_activation("softmax"))
    return Network.build([conv, pool, flatten, dense], "he_uniform", "float64", seed)


def step_gradient(network: Network, x: np.ndarray, onehot: np.ndarray) -> tuple[float, np.ndarray]:
    """Forward, loss and backward as the step loop runs them: (mean loss, flat gradient)."""
    loss = get_loss("cce")
    traces = []
    h = x
    for k, layer in enumerate(network.layers):
        traces.append(layer.forward(h, k))
        h = traces[-1].output
    out = traces[-1]
    value = float(loss.per_sample(out.pre_activation, out.activation, onehot).mean())
    grad = np.empty_like(network.flat)
    grad_output = None
    for k in range(len(network.layers) - 1, -1, -1):
        layer, trace = network.layers[k], traces[k]
        if k == len(network.layers) - 1:
            _, trace.delta = loss.output_delta(
                trace.pre_activation, trace.activation, onehot, layer.activation
            )
        else:
            layer.backward(trace, grad_output)
        layer.accumulate(trace, network.layouts[k].views(grad))
        if k > 0:
            grad_output = layer.grad_input(trace)
    return value, grad


@pytest.mark.torch
def test_a_composed_cnn_has_pytorchs_gradient():
    torch = pytest.importorskip("torch")
    functional = torch.nn.functional
    rng = np.random.default_rng(10)
    network = small_cnn(11, 3)
    conv, _, _, dense = network.layers
    conv.bias = rng.normal(0.0, 0.3, conv.bias.shape)
    x = rng.random((6, 1, 8, 8))
    labels = rng.integers(0, 3, 6)
    value, grad = step_gradient(network, x, np.eye(3)[labels])

    kt = torch.tensor(conv.kernel, requires_grad=True)
    bt = torch.tensor(conv.bias, requires_grad=True)
    wt = torch.tensor(dense.weight, requires_grad=True)
    ct = torch.tensor(dense.bias, requires_grad=True)
    z = functional.conv2d(torch.tensor(x), kt, bt, padding=1)
    hidden = functional.max_pool2d(torch.relu(z), 2)
    logits = hidden.flatten(1) @ wt + ct
    loss = functional.cross_entropy(logits, torch.from_numpy(labels))
    loss.backward()
    assert value == pytest.approx(loss.item(), rel=TORCH_RTOL)
    expected = torch.cat([t.grad.reshape(-1) for t in (kt, bt, wt, ct)]).numpy()
    np.testing.assert_allclose(grad, expected, TORCH_RTOL, TORCH_ATOL)


@pytest.mark.slow
def test_a_small_cnn_learns_the_shapes_with_plain_sgd():
    """conv 8@3×3 same (ReLU) → max-pool 2 → flatten → dense 3 (softmax): 600 SGD steps of 32
    images (13 epochs of 1 500) reach more than 95 % on 500 unseen images."""
    x, y = shapes(np.random.default_rng(0), 2000, 0.1)
    x_train, y_train, x_test, y_test = x[:1500], y[:1500], x[1500:], y[1500:]
    onehot = np.eye(3)[y_train]
    network = small_cnn(1, 3, filters=8)
    order = np.random.default_rng(1)
    for _ in range(600):
        batch = order.integers(0, len(x_train), 32)
        _, grad = step_gradient(network, x_train[batch], onehot[batch])
        network.bind(network.flat - 0.5 * grad)
    accuracy = float((network.predict(x_test).argmax(axis=1) == y_test).mean())
    assert accuracy > 0.95


@pytest.mark.slow
def test_the_same_cnn_learns_the_handwritten_digits_with_plain_sgd():
    """conv 8@3×3 same → max-pool 2 → flatten → dense 10: 600 SGD steps of 32 digits (14
    epochs of 1 400) reach more than 90 % on the 397 held-out digits."""
    x, y = digits(np.random.default_rng(0), 1797)
    order = np.random.default_rng(10).permutation(len(x))
    x, y = x[order], y[order]
    x_train, y_train, x_test, y_test = x[:1400], y[:1400], x[1400:], y[1400:]
    onehot = np.eye(10)[y_train]
    network = small_cnn(1, 10, filters=8)
    batches = np.random.default_rng(5)
    for _ in range(600):
        batch = batches.integers(0, len(x_train), 32)
        _, grad = step_gradient(network, x_train[batch], onehot[batch])
        network.bind(network.flat - 0.3 * grad)
    accuracy = float((network.predict(x_test).argmax(axis=1) == y_test).mean())
    assert accuracy > 0.90
