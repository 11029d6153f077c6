"""Pictures of the network: grid and line evaluations."""

import numpy as np
import pytest

from engine.evaluation import evaluate_line, evaluate_plane, plane_points
from tests.engine.helpers import trainer_from


def test_plane_points_are_cell_centres_from_the_top_left():
    points = plane_points(2, (-6.0, 6.0))
    assert points.tolist() == [[-3.0, 3.0], [3.0, 3.0], [-3.0, -3.0], [3.0, -3.0]]


def test_plane_evaluation_gives_every_neurons_output_on_the_grid():
    trainer = trainer_from()
    grid = evaluate_plane(trainer, resolution=16)
    assert [layer.shape for layer in grid.layers] == [(256, 4), (256, 2), (256, 1)]
    raw = plane_points(16, (-6.0, 6.0))
    expected = trainer.network.predict(trainer.problem.inputs(raw, np.float64))
    assert np.array_equal(grid.output, expected)


def test_plane_evaluation_uses_the_selected_features():
    trainer = trainer_from(data={"features": ["x1_sq", "x2_sq", "x1_x2"]})
    grid = evaluate_plane(trainer, resolution=8)
    assert grid.inputs.shape == (64, 3)


def test_line_evaluation_spans_the_data_of_a_one_input_set():
    trainer = trainer_from(data={"dataset": "sine"}, network={"output_activation": "linear"})
    line = evaluate_line(trainer, points=50)
    assert line.x.shape == (50,) and line.output.shape == (50, 1)
    assert line.x[0] == pytest.approx(
        min(trainer.dataset.x_train.min(), trainer.dataset.x_test.min())
    )


def test_plane_evaluation_is_refused_for_data_without_a_plane():
    trainer = trainer_from(data={"dataset": "sine"}, network={"output_activation": "linear"})
    with pytest.raises(ValueError, match="no 2-D input plane"):
        evaluate_plane(trainer)
