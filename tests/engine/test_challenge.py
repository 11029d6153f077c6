"""A class challenge: goals parsed from untrusted JSON, a held-out draw nobody trains on, and
scores that are the network's true loss and accuracy on it."""

import numpy as np
import pytest

from engine.challenge import (
    ChallengeError,
    Goal,
    draw_held_out,
    parse_goal,
    ranking_key,
    score,
)
from engine.spec import Spec
from engine.trainer import Trainer

SPIRAL = {"data": {"dataset": "spiral", "noise": 0.1},
          "network": {"hidden": [{"units": 6}, {"units": 4}]}}


def test_goals_read_as_the_projector_words_them():
    accuracy = parse_goal({"kind": "accuracy", "min_accuracy": 0.95, "max_parameters": 60})
    assert accuracy == Goal("accuracy", min_accuracy=0.95, max_parameters=60)
    assert accuracy.describe() == "test accuracy ≥ 95 % with at most 60 parameters"
    loss = parse_goal({"kind": "loss_in_steps", "steps": 2000})
    assert loss.describe() == "the lowest test loss within 2 000 steps"


@pytest.mark.parametrize("raw, field", [
    ([], "goal"),
    ({"kind": "fastest"}, "goal.kind"),
    ({"kind": "accuracy", "min_accuracy": 95}, "goal.min_accuracy"),
    ({"kind": "accuracy", "min_accuracy": float("nan")}, "goal.min_accuracy"),
    ({"kind": "accuracy", "min_accuracy": True}, "goal.min_accuracy"),
    ({"kind": "accuracy", "min_accuracy": 0.9, "max_parameters": 0}, "goal.max_parameters"),
    ({"kind": "accuracy", "min_accuracy": 0.9, "max_parameters": 2.5}, "goal.max_parameters"),
    ({"kind": "loss_in_steps"}, "goal.steps"),
    ({"kind": "loss_in_steps", "steps": 10**9}, "goal.steps"),
])
def test_a_bad_goal_is_refused_naming_its_field(raw, field):
    with pytest.raises(ChallengeError) as err:
        parse_goal(raw)
    assert err.value.field == field


def test_fixed_real_rows_and_uploaded_tables_cannot_be_challenged():
    with pytest.raises(ChallengeError, match="fixed set of real rows"):
        draw_held_out(Spec.from_dict({"data": {"dataset": "iris"},
                                      "network": {"output_activation": "softmax"},
                                      "training": {"loss": "cce"}}))


def test_the_held_out_draw_is_new_data_of_the_same_kind():
    trainer = Trainer(Spec.from_dict(SPIRAL))
    held = draw_held_out(trainer.spec, rows=400, seed=77)
    assert held.x.shape == (400, 2) and set(np.unique(held.y)) == {0, 1}
    trained_on = {tuple(row) for row in trainer.dataset.x_train}
    assert not any(tuple(row) in trained_on for row in held.x)
    again = draw_held_out(trainer.spec, rows=400, seed=77)
    np.testing.assert_array_equal(again.x, held.x)  # a seed is a draw: scores are repeatable
    assert not np.array_equal(draw_held_out(trainer.spec, rows=400).x, held.x)


def test_a_score_is_the_networks_loss_and_accuracy_on_the_held_out_rows():
    trainer = Trainer(Spec.from_dict(SPIRAL))
    trainer.train(300)
    held = draw_held_out(trainer.spec, rows=300, seed=5)
    goal = Goal("accuracy", min_accuracy=0.6, max_parameters=100)
    result = score(trainer, held, goal)
    # the same numbers by hand: features and standardisation of this trainer, its own loss
    x = trainer.problem.inputs(held.x, np.float64)
    z, a = trainer.output_layer(x)
    y = np.where(held.y == 1, 1.0, -1.0)[:, None]
    assert result.loss == pytest.approx(float(np.mean((a - y) ** 2)), rel=1e-12)  # L = Σ(a−y)²/K
    assert result.accuracy == pytest.approx(float(np.mean((a[:, 0] > 0) == (held.y == 1))))
    assert result.parameters == trainer.network.parameter_count == 2 * 6 + 6 + 6 * 4 + 4 + 4 + 1
    assert result.step == 300 and result.meets == (result.accuracy >= 0.6)
    assert not score(trainer, held, Goal("accuracy", min_accuracy=0.6, max_parameters=50)).meets


def test_a_network_trained_on_other_data_is_listed_but_not_scored():
    held = draw_held_out(Trainer(Spec.from_dict(SPIRAL)).spec, rows=100, seed=1)
    other = Trainer(Spec.from_dict({**SPIRAL, "data": {"dataset": "circle"}}))
    result = score(other, held, Goal("loss_in_steps", steps=10))
    assert result.loss is None and "trains on circle" in result.not_scored


def test_the_step_budget_makes_a_loss_score_final():
    trainer = Trainer(Spec.from_dict(SPIRAL))
    held = draw_held_out(trainer.spec, rows=100, seed=2)
    goal = Goal("loss_in_steps", steps=20)
    trainer.train(19)
    assert not score(trainer, held, goal).final
    trainer.train(1)
    assert score(trainer, held, goal).final


def test_the_leaderboard_puts_goals_met_first_then_accuracy_then_the_smaller_network():
    from engine.challenge import Score

    goal = Goal("accuracy", min_accuracy=0.9, max_parameters=60)
    rows = {
        "big and right": Score(10, 90, 0.1, 0.99, meets=False),
        "small and right": Score(10, 40, 0.2, 0.95, meets=True),
        "smaller, as right": Score(10, 30, 0.2, 0.95, meets=True),
        "wrong": Score(10, 20, 0.5, 0.70, meets=False),
        "elsewhere": Score(10, 20, not_scored="trains on xor"),
    }
    order = sorted(rows, key=lambda name: ranking_key(goal, rows[name]))
    assert order == ["smaller, as right", "small and right", "big and right", "wrong",
                     "elsewhere"]
    loss = Goal("loss_in_steps", steps=100)
    assert sorted(rows, key=lambda name: ranking_key(loss, rows[name]))[0] == "big and right"


@pytest.mark.parametrize("raw", [
    {"data": {"dataset": "sine"},
     "network": {"hidden": [{"units": 8}], "output_activation": "linear"}},
    {"data": {"dataset": "recall", "sequence_length": 5},
     "network": {"layers": [{"type": "rnn", "units": 8}], "output_activation": "softmax"},
     "training": {"loss": "cce"}},
], ids=["regression", "sequences"])
def test_regression_and_sequence_networks_are_scored_on_their_own_kind_of_draw(raw):
    trainer = Trainer(Spec.from_dict(raw))
    trainer.train(50)
    held = draw_held_out(trainer.spec, rows=200, seed=3)
    assert held.x.shape[1:] == trainer.dataset.x_train.shape[1:]
    result = score(trainer, held, Goal("loss_in_steps", steps=2000))
    x = trainer.problem.inputs(held.x, np.float64)
    wanted = trainer.sample_loss(x, trainer.problem.targets(held.y, np.float64)).mean()
    assert result.loss == pytest.approx(float(wanted), rel=1e-12) and result.not_scored is None
    assert (result.accuracy is None) == (raw["data"]["dataset"] == "sine")
