"""Specification: the engine computes what PyTorch computes, number for number (float64).

Gradients of the batch loss (engine MSE = mean over outputs, then over samples = torch's
``MSELoss(reduction='mean')`` on (B, K); BCE and CCE on the logits) plus the L2 penalty
(λ/2)·Σw² on weights only; and the parameters after steps of every optimiser equal
``torch.optim``'s with the same hyperparameters.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.spec import Spec
from engine.trainer import Trainer

torch = pytest.importorskip("torch")
F = torch.nn.functional

pytestmark = pytest.mark.torch

RTOL = 1e-9
ATOL = 1e-12

TORCH_ACTIVATIONS = {
    "linear": lambda z: z,
    "relu": torch.relu,
    "leaky_relu": lambda z: F.leaky_relu(z, 0.01),
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "softmax": lambda z: torch.softmax(z, dim=1),
}

# output activation, loss, dataset, features: a net with 2-3 inputs and 1-4 outputs
CASES = {
    "mse-linear": ("linear", "mse", "blobs4", ["x1", "x2", "x1_sq"]),
    "mse-tanh": ("tanh", "mse", "circle", ["x1", "x2"]),
    "mse-sigmoid": ("sigmoid", "mse", "spiral3", ["x1", "x2"]),
    "mse-relu": ("relu", "mse", "blobs4", ["x1", "x2"]),
    "mse-softmax": ("softmax", "mse", "spiral3", ["x1", "x2", "x1_x2"]),
    "bce-sigmoid": ("sigmoid", "bce", "gauss", ["x1", "x2"]),
    "cce-softmax": ("softmax", "cce", "blobs4", ["x1", "x2", "x2_sq"]),
}


def make_trainer(
    case: str,
    hidden: list[tuple[int, str]],
    regularization: str = "none",
    rate: float = 0.0,
    optimizer: dict | None = None,
    batch_size: int = 8,
    seed: int = 1,
) -> Trainer:
    output, loss, dataset, features = CASES[case]
    spec = Spec.from_dict(
        {
            "data": {"dataset": dataset, "n_samples": 64, "features": features, "seed": seed},
            "network": {
                "hidden": [{"units": u, "activation": a} for u, a in hidden],
                "output_activation": output,
                "seed": seed,
            },
            "training": {
                "loss": loss,
                "batch_size": batch_size,
                "regularization": regularization,
                "regularization_rate": rate,
                "optimizer": optimizer or {"name": "sgd"},
                "seed": seed,
            },
        }
    )
    trainer = Trainer(spec)
    rng = np.random.default_rng(seed)
    for layer in trainer.network.layers:  # random biases too (the initialiser's are 0)
        layer.bias = rng.normal(0.0, 0.5, layer.bias.shape)
    return trainer


def torch_parameters(trainer: Trainer) -> list:
    return [torch.tensor(p, requires_grad=True) for p in trainer.network.parameters()]


def torch_total_loss(trainer: Trainer, params: list, x: np.ndarray, y: np.ndarray):
    """The batch's data loss plus penalty, written with torch's own losses."""
    layers = trainer.network.layers
    h = torch.from_numpy(x)
    target = torch.from_numpy(y)
    for k, layer in enumerate(layers[:-1]):
        h = TORCH_ACTIVATIONS[layer.activation.name](h @ params[2 * k] + params[2 * k + 1])
    z = h @ params[-2] + params[-1]
    loss = trainer.loss.name
    if loss == "mse":
        data = F.mse_loss(TORCH_ACTIVATIONS[layers[-1].activation.name](z), target)
    elif loss == "bce":
        data = F.binary_cross_entropy_with_logits(z, target)
    else:
        data = F.cross_entropy(z, target)  # one-hot targets as class probabilities
    weights = params[0::2]
    regularization = trainer.regularization
    if regularization.kind == "l2":
        data = data + regularization.rate / 2 * sum((w * w).sum() for w in weights)
    elif regularization.kind == "l1":
        data = data + regularization.rate * sum(w.abs().sum() for w in weights)
    return data


def engine_gradients(record) -> list[np.ndarray]:
    grads = []
    for trace in record.layers:
        grads.extend((trace.weight_grad, trace.bias_grad))
    return grads


HIDDEN_ACTIVATIONS = ["linear", "relu", "leaky_relu", "tanh", "sigmoid"]
hidden_layers = st.lists(
    st.tuples(st.integers(1, 6), st.sampled_from(HIDDEN_ACTIVATIONS)),
    min_size=0,
    max_size=3,
)


@pytest.mark.parametrize("regularization", ["none", "l1", "l2"])
@pytest.mark.parametrize("case", list(CASES))
def test_gradients_equal_torch_autograd(case, regularization):
    @settings(derandomize=True, deadline=None, max_examples=8)
    @given(hidden=hidden_layers, seed=st.integers(0, 2**31 - 1), batch=st.integers(1, 8))
    def check(hidden, seed, batch):
        trainer = make_trainer(case, hidden, regularization, 0.05, seed=seed)
        record = trainer.trace_samples(np.arange(batch))
        params = torch_parameters(trainer)
        total = torch_total_loss(trainer, params, record.inputs, record.targets)
        total.backward()
        assert record.total_loss == pytest.approx(total.item(), rel=RTOL)
        for ours, theirs in zip(engine_gradients(record), params, strict=True):
            np.testing.assert_allclose(ours, theirs.grad.numpy(), rtol=RTOL, atol=ATOL)

    check()


def test_mse_batch_loss_equals_torch_mse_loss_with_mean_reduction():
    trainer = make_trainer("mse-linear", [(5, "tanh")])
    record = trainer.trace_samples(np.arange(7))
    a, y = torch.from_numpy(record.outputs), torch.from_numpy(record.targets)
    assert record.outputs.shape == (7, 4)
    expected = torch.nn.MSELoss(reduction="mean")(a, y).item()
    assert record.data_loss == pytest.approx(expected, rel=1e-12)


def test_l2_penalty_and_its_gradient_equal_torch_for_half_lambda_sum_of_squared_weights():
    trainer = make_trainer("mse-tanh", [(4, "tanh"), (3, "relu")], "l2", 0.3)
    record = trainer.trace_samples(np.arange(5))
    params = torch_parameters(trainer)
    penalty = 0.3 / 2 * sum((w * w).sum() for w in params[0::2])
    penalty.backward()
    assert record.penalty == pytest.approx(penalty.item(), rel=1e-12)
    for trace, weight in zip(record.layers, params[0::2], strict=True):
        np.testing.assert_allclose(trace.weight_grad_penalty, weight.grad.numpy(), rtol=1e-12)


def test_l2_penalty_leaves_bias_gradients_unchanged():
    plain = make_trainer("mse-tanh", [(4, "tanh")]).trace_samples(np.arange(6))
    penalised = make_trainer("mse-tanh", [(4, "tanh")], "l2", 0.3).trace_samples(np.arange(6))
    for a, b in zip(plain.layers, penalised.layers, strict=True):
        np.testing.assert_array_equal(a.bias_grad, b.bias_grad)
        assert not np.array_equal(a.weight_grad, b.weight_grad)


OPTIMIZERS = {
    # id: (engine optimizer spec, torch optimizer factory, steps)
    "sgd": ({"name": "sgd", "learning_rate": 0.1}, lambda p: torch.optim.SGD(p, lr=0.1), 1),
    "momentum": (
        {"name": "momentum", "learning_rate": 0.05, "momentum": 0.8},
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.8),
        3,
    ),
    "nesterov": (
        {"name": "momentum", "learning_rate": 0.05, "momentum": 0.8, "nesterov": True},
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.8, nesterov=True),
        3,
    ),
    "rmsprop": (
        {"name": "rmsprop", "learning_rate": 0.01, "rho": 0.9, "eps": 1e-6},
        lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.9, eps=1e-6),
        3,
    ),
    "adam": (
        {"name": "adam", "learning_rate": 0.01, "beta1": 0.8, "beta2": 0.99, "eps": 1e-7},
        lambda p: torch.optim.Adam(p, lr=0.01, betas=(0.8, 0.99), eps=1e-7),
        5,
    ),
}


@pytest.mark.parametrize("regularization", ["none", "l2"])
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_optimizer_steps_give_the_same_parameters_as_torch_optim(name, regularization):
    engine_optimizer, torch_optimizer, steps = OPTIMIZERS[name]
    trainer = make_trainer(
        "cce-softmax", [(5, "tanh"), (4, "relu")], regularization, 0.01, engine_optimizer
    )
    params = torch_parameters(trainer)
    optimizer = torch_optimizer(params)
    for _ in range(steps):
        record = trainer.step()  # the engine picks the batch; torch trains on the same one
        optimizer.zero_grad()
        torch_total_loss(trainer, params, record.inputs, record.targets).backward()
        optimizer.step()
        for ours, theirs in zip(trainer.network.parameters(), params, strict=True):
            np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=RTOL, atol=ATOL)
    assert trainer.step_count == steps


def test_recorded_update_is_the_change_torch_optim_applies():
    engine_optimizer, torch_optimizer, _ = OPTIMIZERS["adam"]
    trainer = make_trainer("bce-sigmoid", [(3, "sigmoid")], optimizer=engine_optimizer)
    params = torch_parameters(trainer)
    before = [p.detach().clone() for p in params]
    record = trainer.step()
    optimizer = torch_optimizer(params)
    torch_total_loss(trainer, params, record.inputs, record.targets).backward()
    optimizer.step()
    updates = []
    for trace in record.layers:
        updates.extend((trace.weight_update, trace.bias_update))
    for ours, after, start in zip(updates, params, before, strict=True):
        np.testing.assert_allclose(ours, (after.detach() - start).numpy(), rtol=1e-7, atol=ATOL)
