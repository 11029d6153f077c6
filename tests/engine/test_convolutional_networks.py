"""Convolutional networks through the whole engine: spec, trainer, phases, files, convergence."""

import pytest

from engine import persistence
from engine.spec import Spec, SpecError
from engine.trainer import Trainer
from tests.engine.helpers import params_equal


def cnn(dataset: str = "shapes", pool: str = "maxpool", **training) -> dict:
    return {
        "data": {"dataset": dataset},
        "network": {
            "layers": [
                {
                    "type": "conv2d",
                    "filters": 8,
                    "kernel": 3,
                    "padding": "same",
                    "activation": "relu",
                },
                {"type": pool, "size": 2},
                {"type": "flatten"},
            ],
            "output_activation": "softmax",
            "initializer": "he_uniform",
        },
        "training": {
            "loss": "cce",
            "optimizer": {"name": "adam", "learning_rate": 0.01},
            "batch_size": 32,
            **training,
        },
    }


def _trainer(raw: dict) -> Trainer:
    return Trainer(Spec.from_dict(raw))


@pytest.mark.parametrize("pool", ["maxpool", "avgpool"])
def test_stepping_by_phases_equals_whole_steps_bit_for_bit(pool):
    raw = cnn(pool=pool, regularization="l1", regularization_rate=0.001)
    whole, phased = _trainer(raw), _trainer(raw)
    for _ in range(10):
        whole.step()
        for _ in phased.plan:
            phased.next_phase()
    assert params_equal(whole, phased)


@pytest.mark.parametrize("codec", ["json", "npz"])
def test_a_saved_cnn_continues_bit_identically_even_mid_step(codec):
    original = _trainer(cnn(regularization="l2", regularization_rate=0.001))
    for _ in range(6):
        original.step()
    for _ in range(3):
        original.next_phase()
    copy = (
        persistence.from_json(persistence.to_json(original))
        if codec == "json"
        else persistence.from_npz(persistence.to_npz(original))
    )
    for _ in range(5):
        original.step()
        copy.step()
    assert params_equal(original, copy)


def test_the_trace_shows_feature_maps_routing_and_kernel_gradients():
    record = _trainer(cnn()).step()
    conv, pool, flat, out = record.layers
    assert conv.activation.shape == (32, 8, 8, 8)
    assert conv.kernel_grad.shape == (8, 1, 3, 3)
    assert pool.output.shape == (32, 8, 4, 4) and pool.routing is not None
    assert flat.output.shape == (32, 128)
    assert out.activation.shape == (32, 3)
    assert record.grad_norms[1] == record.grad_norms[2] == 0.0 and record.grad_norms[0] > 0


def test_the_phase_plan_names_each_layer_family():
    titles = [p.title for p in _trainer(cnn()).plan]
    assert titles[:4] == [
        "Forward · layer 1 (convolution)",
        "Forward · layer 2 (max-pool)",
        "Forward · layer 3 (flatten)",
        "Forward · layer 4",
    ]


def test_a_cnn_learns_the_shapes_above_95_percent():
    trainer = _trainer(cnn())
    trainer.train(700)
    assert trainer.evaluate().test_accuracy > 0.95


def test_a_cnn_learns_the_digits_above_90_percent():
    trainer = _trainer(cnn("digits"))
    trainer.train(600)
    assert trainer.evaluate().test_accuracy > 0.90


@pytest.mark.parametrize(
    ("layers", "path", "message"),
    [
        (
            [
                {"type": "conv2d", "kernel": 7, "padding": "valid"},
                {"type": "conv2d", "kernel": 3, "padding": "valid"},
            ],
            "network.layers[1]",
            "kernel",
        ),
        (
            [{"type": "maxpool", "size": 8}, {"type": "maxpool", "size": 2}],
            "network.layers[1]",
            "pool",
        ),
        ([{"type": "dense", "units": 4}], "network.layers[0]", "add a flatten layer before it"),
        ([{"type": "conv2d"}], "network", "add a flatten layer"),
        ([{"type": "rnn"}], "network.layers[0]", "a recurrent layer needs sequences"),
    ],
)
def test_impossible_shapes_are_refused_with_the_layer_and_a_reason(layers, path, message):
    raw = cnn()
    raw["network"]["layers"] = layers
    with pytest.raises(SpecError) as error:
        _trainer(raw)
    problems = dict(error.value.problems)
    assert path in problems, problems
    assert message in problems[path]


def test_a_conv_layer_on_plane_data_is_refused():
    raw = cnn()
    raw["data"] = {"dataset": "circle"}
    with pytest.raises(SpecError) as error:
        _trainer(raw)
    assert "network.layers[0]" in dict(error.value.problems)


def test_a_network_too_costly_per_sample_is_refused_before_it_is_built():
    raw = cnn()
    raw["network"]["layers"] = [
        {"type": "conv2d", "filters": 32, "kernel": 7, "padding": "same"},
        {"type": "conv2d", "filters": 32, "kernel": 7, "padding": "same"},
        {"type": "flatten"},
    ]  # 64 positions × 32 filters × 32·7·7 inputs: 3.2 M multiply-adds in the second layer
    with pytest.raises(SpecError) as error:
        _trainer(raw)
    assert "multiply-adds per sample" in str(error.value)


def test_too_many_values_per_sample_are_refused():
    raw = cnn()
    raw["network"]["layers"] = [
        {"type": "conv2d", "filters": 32, "kernel": 1, "padding": "same"} for _ in range(9)
    ] + [{"type": "flatten"}]
    with pytest.raises(SpecError) as error:
        _trainer(raw)
    assert "values per sample" in str(error.value)
