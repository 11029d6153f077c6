"""Specification of the plane feature transforms and of input standardisation."""

import math

import numpy as np
import pytest

from engine.csv_data import load_csv
from engine.datasets import DATASETS
from engine.features import DEFAULT_FEATURES, FEATURES, feature_matrix, input_labels
from engine.standardize import Standardizer

POINT = np.array([[2.0, 3.0]])

# --- features ----------------------------------------------------------------------------------


def test_features_are_listed_in_playground_order():
    assert list(FEATURES) == ["x1", "x2", "x1_sq", "x2_sq", "x1_x2", "sin_x1", "sin_x2"]


def test_default_features_are_the_raw_coordinates():
    assert DEFAULT_FEATURES == ("x1", "x2")


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("x1", "X₁"),
        ("x2", "X₂"),
        ("x1_sq", "X₁²"),
        ("x2_sq", "X₂²"),
        ("x1_x2", "X₁X₂"),
        ("sin_x1", "sin(X₁)"),
        ("sin_x2", "sin(X₂)"),
    ],
)
def test_feature_display_labels(name, label):
    assert FEATURES[name].label == label


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("x1", 2.0),
        ("x2", 3.0),
        ("x1_sq", 4.0),
        ("x2_sq", 9.0),
        ("x1_x2", 6.0),
        ("sin_x1", math.sin(2.0)),
        ("sin_x2", math.sin(3.0)),
    ],
)
def test_feature_value_at_the_point_2_3(name, value):
    assert feature_matrix(POINT, [name])[0, 0] == pytest.approx(value)


def test_feature_matrix_keeps_the_requested_column_order():
    points = np.array([[2.0, 3.0], [-1.0, 0.5]])
    np.testing.assert_allclose(
        feature_matrix(points, ["x1_x2", "x1", "x2_sq"]),
        [[6.0, 2.0, 9.0], [-0.5, -1.0, 0.25]],
    )


def test_feature_matrix_is_float64_even_for_integer_points():
    result = feature_matrix(np.array([[1, 2]]), ["x1", "x2"])
    assert result.dtype == np.float64
    assert result.shape == (1, 2)


def test_feature_matrix_rejects_unknown_names():
    with pytest.raises(ValueError, match="unknown feature.*'cos_x1'"):
        feature_matrix(POINT, ["x1", "cos_x1"])


def test_feature_matrix_rejects_an_empty_selection():
    with pytest.raises(ValueError, match="at least one"):
        feature_matrix(POINT, [])


def test_feature_matrix_rejects_duplicates():
    with pytest.raises(ValueError, match="more than once: x1"):
        feature_matrix(POINT, ["x1", "x2", "x1"])


def test_feature_matrix_rejects_points_that_are_not_on_the_plane():
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        feature_matrix(np.ones((4, 3)), ["x1"])


def test_input_labels_of_a_plane_set_are_the_feature_labels():
    assert input_labels(DATASETS["circle"], ["x1_sq", "sin_x2"]) == ["X₁²", "sin(X₂)"]


def test_input_labels_of_other_sets_are_their_column_names():
    labels = input_labels(DATASETS["house"], DEFAULT_FEATURES)
    assert labels == ["size_m2", "location_score", "bedrooms"]


def test_input_labels_of_an_uploaded_csv_are_its_chosen_columns():
    text = "a,b,c,y\n" + "\n".join(f"{i},{i * 2},{i % 3},{i * 1.5}" for i in range(6))
    dataset = load_csv(text, target="y", features=["c", "a"])
    assert input_labels(dataset.info, DEFAULT_FEATURES) == ["c", "a"]


# --- standardisation ---------------------------------------------------------------------------


def test_standardized_columns_have_mean_zero_and_std_one():
    x = np.random.default_rng(0).normal([5.0, -200.0], [3.0, 40.0], size=(500, 2))
    z = Standardizer.fit(x).transform(x)
    np.testing.assert_allclose(z.mean(axis=0), [0.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(z.std(axis=0), [1.0, 1.0])


def test_fit_records_mean_and_population_std():
    scaler = Standardizer.fit(np.array([[1.0], [3.0]]))
    np.testing.assert_array_equal(scaler.mean, [2.0])
    np.testing.assert_array_equal(scaler.scale, [1.0])


def test_constant_column_gets_scale_one_and_no_nan():
    x = np.array([[0.1, 1.0], [0.1, 2.0], [0.1, 3.0]])
    scaler = Standardizer.fit(x)
    assert scaler.scale[0] == 1.0
    np.testing.assert_allclose(scaler.transform(x)[:, 0], [0.0, 0.0, 0.0], atol=1e-15)


def test_identity_leaves_values_unchanged():
    x = np.array([[1.5, -2.0, 7.0]])
    np.testing.assert_array_equal(Standardizer.identity(3).transform(x), x)


def test_inverse_transform_undoes_transform():
    x = np.array([[100.0, 1.0], [250.0, 9.0], [40.0, 4.0]])
    scaler = Standardizer.fit(x)
    np.testing.assert_allclose(scaler.inverse_transform(scaler.transform(x)), x)


def test_transform_uses_the_fitted_statistics_on_new_data():
    scaler = Standardizer.fit(np.array([[0.0], [2.0]]))
    np.testing.assert_allclose(scaler.transform(np.array([[5.0]])), [[4.0]])


def test_transform_rejects_the_wrong_number_of_columns():
    with pytest.raises(ValueError, match="expected 2 columns, got 3"):
        Standardizer.identity(2).transform(np.ones((1, 3)))


def test_fit_rejects_zero_rows():
    with pytest.raises(ValueError, match="zero rows"):
        Standardizer.fit(np.empty((0, 2)))


def test_dict_round_trip_preserves_the_transform():
    scaler = Standardizer.fit(np.array([[1.0, 10.0], [3.0, 30.0], [8.0, 20.0]]))
    restored = Standardizer.from_dict(scaler.to_dict())
    np.testing.assert_array_equal(restored.mean, scaler.mean)
    np.testing.assert_array_equal(restored.scale, scaler.scale)


def test_to_dict_is_plain_lists():
    assert Standardizer.identity(2).to_dict() == {"mean": [0.0, 0.0], "scale": [1.0, 1.0]}


def test_from_dict_rejects_a_zero_scale():
    with pytest.raises(ValueError, match="positive"):
        Standardizer.from_dict({"mean": [0.0], "scale": [0.0]})
