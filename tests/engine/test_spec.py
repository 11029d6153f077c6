"""The spec validator: defaults, round trips, and one readable message per kind of mistake."""

import json

import pytest

from engine.spec import Spec, SpecError

BAD_SPECS = {
    "unknown_activation": (
        {"network": {"hidden": [{"units": 3, "activation": "swish"}]}},
        "network.hidden[0].activation: unknown activation 'swish'",
    ),
    "zero_units": (
        {"network": {"hidden": [{"units": 0}]}},
        "network.hidden[0].units: must be between 1 and 512",
    ),
    "softmax_hidden": (
        {"network": {"hidden": [{"units": 3, "activation": "softmax"}]}},
        "softmax is only allowed on the output layer",
    ),
    "cce_without_softmax": (
        {"training": {"loss": "cce"}},
        "cce needs a softmax output layer, not tanh",
    ),
    "bce_without_sigmoid": (
        {"training": {"loss": "bce"}},
        "bce needs a sigmoid output layer, not tanh",
    ),
    "unknown_dataset": ({"data": {"dataset": "mnist"}}, "unknown dataset 'mnist'"),
    "negative_learning_rate": (
        {"training": {"optimizer": {"learning_rate": -0.1}}},
        "learning_rate: must be above 0 and at most 10.0",
    ),
    "learning_rate_as_text": (
        {"training": {"optimizer": {"learning_rate": "fast"}}},
        "learning_rate: must be a finite number, got 'fast'",
    ),
    "nan_noise": ({"data": {"noise": float("nan")}}, "data.noise: must be a finite number"),
    "unknown_field": ({"network": {"depth": 3}}, "network.depth: unknown field"),
    "layers_not_a_list": ({"network": {"layers": 3}}, "network.layers: must be a list of layers"),
    "dropout_of_one": (
        {"network": {"hidden": [{"units": 2, "dropout": 1.0}]}},
        "dropout: must be at least 0 and below 1",
    ),
    "unknown_feature": ({"data": {"features": ["x3"]}}, "unknown feature 'x3'"),
    "too_many_layers": (
        {"network": {"hidden": [{"units": 2}] * 11}},
        "11 hidden layers; at most 10",
    ),
    "train_ratio_one": (
        {"data": {"train_ratio": 1.0}},
        "train_ratio: must be between 0.05 and 0.95",
    ),
    "boolean_units": (
        {"network": {"hidden": [{"units": True}]}},
        "units: must be a whole number, got True",
    ),
    "not_an_object": ([1, 2], "spec: must be a JSON object"),
    "unknown_optimizer": (
        {"training": {"optimizer": {"name": "lbfgs"}}},
        "unknown optimizer 'lbfgs'; choose one of: sgd, momentum, rmsprop, adam",
    ),
}


def test_defaults_describe_the_playground_starting_network():
    spec = Spec.from_dict({})
    assert spec.data.dataset == "circle"
    assert [(h.units, h.activation) for h in spec.network.hidden] == [(4, "tanh"), (2, "tanh")]
    assert spec.training.optimizer.learning_rate == 0.03


def test_spec_round_trips_through_json():
    spec = Spec.from_dict({"network": {"hidden": [{"units": 5, "activation": "relu"}]}})
    again = Spec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert again == spec


@pytest.mark.parametrize("case", sorted(BAD_SPECS))
def test_bad_spec_is_rejected_with_a_readable_message(case):
    raw, message = BAD_SPECS[case]
    with pytest.raises(SpecError) as error:
        Spec.from_dict(raw)
    assert message in str(error.value)


def test_every_bad_spec_gets_a_distinct_message():
    messages = set()
    for raw, _ in BAD_SPECS.values():
        with pytest.raises(SpecError) as error:
            Spec.from_dict(raw)
        messages.add(str(error.value))
    assert len(messages) == len(BAD_SPECS) >= 10


def test_all_problems_are_reported_at_once():
    with pytest.raises(SpecError) as error:
        Spec.from_dict({"data": {"noise": 2.0}, "training": {"batch_size": 0}})
    paths = [path for path, _ in error.value.problems]
    assert paths == ["data.noise", "training.batch_size"]
