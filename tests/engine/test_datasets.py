"""Specification of the built-in datasets and their catalog."""

import numpy as np
import pytest

from engine.datasets import (
    DATASETS,
    HOUSE_COEFFICIENTS,
    HOUSE_INTERCEPT,
    Dataset,
    load_iris,
    make_dataset,
)

PLANE_CLASSIFIERS = ["circle", "xor", "gauss", "spiral", "moons", "spiral3", "blobs4"]
BINARY = ["circle", "xor", "gauss", "spiral", "moons"]


def all_x(data: Dataset) -> np.ndarray:
    return np.concatenate([data.x_train, data.x_test])


def all_y(data: Dataset) -> np.ndarray:
    return np.concatenate([data.y_train, data.y_test])


# --- catalog -----------------------------------------------------------------------------------


def test_catalog_lists_every_dataset_in_display_order():
    assert list(DATASETS) == [
        "circle",
        "xor",
        "gauss",
        "spiral",
        "moons",
        "spiral3",
        "blobs4",
        "plane",
        "gaussians",
        "sine",
        "house",
        "iris",
        "digits",
        "shapes",
        "sine_next",
        "adding",
        "recall",
    ]


def test_catalog_keys_match_info_names():
    assert all(info.name == key for key, info in DATASETS.items())


@pytest.mark.parametrize(
    ("name", "task", "n_classes", "n_inputs", "plane", "samples"),
    [
        ("circle", "classification", 2, 2, True, 500),
        ("spiral3", "classification", 3, 2, True, 600),
        ("blobs4", "classification", 4, 2, True, 400),
        ("plane", "regression", 0, 2, True, 600),
        ("gaussians", "regression", 0, 2, True, 600),
        ("sine", "regression", 0, 1, False, 200),
        ("house", "regression", 0, 3, False, 400),
        ("iris", "classification", 3, 4, False, 150),
    ],
)
def test_catalog_entry_describes_the_dataset(name, task, n_classes, n_inputs, plane, samples):
    info = DATASETS[name]
    described = (info.task, info.n_classes, info.n_inputs, info.plane, info.default_samples)
    assert described == (task, n_classes, n_inputs, plane, samples)


def test_house_description_states_the_generating_formula():
    text = DATASETS["house"].description
    assert "0.5 + 0.02·size_m2 + 0.4·location_score + 0.1·bedrooms" in text


# --- shapes, dtypes and names ------------------------------------------------------------------


@pytest.mark.parametrize("name", list(DATASETS))
def test_default_size_shapes_and_dtypes(name):
    info = DATASETS[name]
    data = make_dataset(name)
    assert len(data.x_train) + len(data.x_test) == info.default_samples
    sample = info.input_shape or (info.n_inputs,)
    assert data.x_train.shape[1:] == data.x_test.shape[1:] == sample
    assert data.x_train.dtype == data.x_test.dtype == np.float64
    if info.task == "classification":
        assert data.y_train.shape == (len(data.x_train),)
        assert data.y_train.dtype == data.y_test.dtype == np.int64
    elif info.family == "sequence" and data.y_train.ndim == 3:  # a target at every step
        assert data.y_train.shape == (len(data.x_train), sample[0], 1)
    else:
        assert data.y_train.shape == (len(data.x_train), 1)
        assert data.y_train.dtype == data.y_test.dtype == np.float64
    assert len(data.input_names) == info.n_inputs
    assert data.info is info


@pytest.mark.parametrize("name", list(DATASETS))
def test_values_are_finite(name):
    data = make_dataset(name, noise=0.5)
    assert np.all(np.isfinite(all_x(data)))
    assert np.all(np.isfinite(all_y(data)))


@pytest.mark.parametrize("name", PLANE_CLASSIFIERS)
def test_classification_labels_cover_every_class(name):
    data = make_dataset(name)
    n_classes = DATASETS[name].n_classes
    assert set(all_y(data).tolist()) == set(range(n_classes))
    assert len(data.class_names) == n_classes


@pytest.mark.parametrize("name", [name for name in PLANE_CLASSIFIERS if name != "xor"])
def test_plane_classes_are_balanced(name):
    counts = np.bincount(all_y(make_dataset(name, n_samples=401)))
    assert counts.max() - counts.min() <= 1


@pytest.mark.parametrize("name", BINARY)
def test_binary_sets_use_playground_class_names(name):
    assert make_dataset(name).class_names == ["-1", "+1"]


@pytest.mark.parametrize(
    "name", ["circle", "xor", "gauss", "spiral", "moons", "spiral3", "blobs4", "plane", "gaussians"]
)
def test_plane_sets_stay_inside_their_bounds_even_with_full_noise(name):
    data = make_dataset(name, noise=1.0)
    assert data.bounds == (-6.0, 6.0)
    x = all_x(data)
    assert x.min() >= -6.0
    assert x.max() <= 6.0


@pytest.mark.parametrize("name", ["sine", "house", "iris"])
def test_non_plane_sets_have_no_bounds(name):
    assert make_dataset(name).bounds is None


def test_regression_sets_have_no_class_names():
    assert make_dataset("plane").class_names == []


@pytest.mark.parametrize("name", ["plane", "gaussians", "sine"])
def test_regression_targets_lie_roughly_in_unit_range(name):
    y = all_y(make_dataset(name))
    assert -1.05 <= y.min() < -0.5
    assert 0.5 < y.max() <= 1.05


def test_house_names_its_columns():
    data = make_dataset("house")
    assert data.input_names == ["size_m2", "location_score", "bedrooms"]
    assert data.target_name == "price_100k"


def test_sine_names_its_input_x():
    assert make_dataset("sine").input_names == ["x"]


# --- determinism -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(DATASETS))
def test_same_arguments_give_identical_arrays(name):
    first = make_dataset(name, noise=0.2, seed=7)
    second = make_dataset(name, noise=0.2, seed=7)
    for part in ("x_train", "y_train", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(first, part), getattr(second, part))


@pytest.mark.parametrize("name", list(DATASETS))
def test_different_seeds_give_different_arrays(name):
    first = make_dataset(name, noise=0.2, seed=1)
    second = make_dataset(name, noise=0.2, seed=2)
    assert not np.array_equal(first.x_train, second.x_train)


# --- splitting ---------------------------------------------------------------------------------


def test_train_ratio_sets_the_train_size():
    data = make_dataset("circle", n_samples=200, train_ratio=0.7)
    assert (len(data.x_train), len(data.x_test)) == (140, 60)


def test_split_keeps_both_parts_non_empty_for_two_samples():
    data = make_dataset("gauss", n_samples=2, train_ratio=0.99)
    assert (len(data.x_train), len(data.x_test)) == (1, 1)


def test_split_shuffles_the_classes_together():
    data = make_dataset("circle", n_samples=100)
    assert set(data.y_test.tolist()) == {0, 1}


def test_n_samples_overrides_the_default_size():
    data = make_dataset("spiral", n_samples=64)
    assert len(data.x_train) + len(data.x_test) == 64


# --- generators --------------------------------------------------------------------------------


def test_noise_free_circle_is_separated_by_radius():
    data = make_dataset("circle")
    radius = np.hypot(*all_x(data).T)
    labels = all_y(data)
    assert radius[labels == 1].max() <= 2.5
    assert radius[labels == 0].min() >= 3.5


def test_noise_blurs_the_circle():
    data = make_dataset("circle", noise=0.5)
    radius = np.hypot(*all_x(data).T)
    assert radius[all_y(data) == 1].max() > 3.5


def test_noise_free_xor_labels_follow_the_sign_of_the_product():
    data = make_dataset("xor")
    x = all_x(data)
    np.testing.assert_array_equal(all_y(data), (x[:, 0] * x[:, 1] > 0).astype(np.int64))


def test_noise_free_xor_keeps_a_margin_around_the_axes():
    assert np.abs(all_x(make_dataset("xor"))).min() >= 0.3


def test_gauss_blobs_centre_on_the_diagonal():
    data = make_dataset("gauss", n_samples=2000)
    x, y = all_x(data), all_y(data)
    np.testing.assert_allclose(x[y == 1].mean(axis=0), [2.0, 2.0], atol=0.1)
    np.testing.assert_allclose(x[y == 0].mean(axis=0), [-2.0, -2.0], atol=0.1)


def test_blobs4_classes_sit_in_the_four_quadrants_counter_clockwise():
    data = make_dataset("blobs4", n_samples=2000)
    x, y = all_x(data), all_y(data)
    centres = np.array([x[y == k].mean(axis=0) for k in range(4)])
    np.testing.assert_allclose(centres, [[3, 3], [-3, 3], [-3, -3], [3, -3]], atol=0.15)


@pytest.mark.parametrize("name", ["spiral", "spiral3"])
def test_spiral_arms_fill_a_disc_of_radius_five(name):
    radius = np.hypot(*all_x(make_dataset(name)).T)
    assert radius.max() <= 5.0
    assert radius.max() > 4.9


def test_moons_centre_on_the_origin():
    x = all_x(make_dataset("moons", n_samples=4000))
    np.testing.assert_allclose(x.mean(axis=0), [0.0, 0.0], atol=0.15)


def test_noise_free_plane_target_is_the_scaled_sum_of_inputs():
    data = make_dataset("plane")
    x = all_x(data)
    np.testing.assert_allclose(all_y(data)[:, 0], (x[:, 0] + x[:, 1]) / 12.0)


def test_gaussians_target_peaks_near_a_positive_bump():
    data = make_dataset("gaussians", n_samples=5000)
    x, y = all_x(data), all_y(data)[:, 0]
    near = np.hypot(x[:, 0] + 4.0, x[:, 1] - 2.5) < 0.3
    assert y[near].min() > 0.9


def test_noise_free_sine_target_is_sin_of_x():
    data = make_dataset("sine")
    x = all_x(data)
    np.testing.assert_allclose(all_y(data), np.sin(x))
    assert x.min() >= -np.pi
    assert x.max() <= np.pi


def test_noise_perturbs_the_sine_target():
    data = make_dataset("sine", noise=0.3)
    residual = all_y(data) - np.sin(all_x(data))
    assert 0.2 < residual.std() < 0.4


def test_house_formula_is_recovered_by_least_squares():
    data = make_dataset("house", n_samples=300)
    x = all_x(data)
    design = np.column_stack([np.ones(len(x)), x])
    coefficients, *_ = np.linalg.lstsq(design, all_y(data)[:, 0], rcond=None)
    np.testing.assert_allclose(coefficients, [HOUSE_INTERCEPT, *HOUSE_COEFFICIENTS], atol=1e-9)


def test_house_inputs_lie_in_their_documented_ranges():
    x = all_x(make_dataset("house", n_samples=2000))
    assert 40 <= x[:, 0].min() and x[:, 0].max() <= 250
    assert 1 <= x[:, 1].min() and x[:, 1].max() <= 10
    assert set(np.unique(x[:, 2])) <= {1, 2, 3, 4, 5, 6}


def test_house_bedrooms_grow_with_size():
    x = all_x(make_dataset("house", n_samples=2000))
    assert np.corrcoef(x[:, 0], x[:, 2])[0, 1] > 0.8


# --- iris --------------------------------------------------------------------------------------


def test_iris_file_has_150_rows_of_three_species_with_50_each():
    x, y = load_iris()
    assert x.shape == (150, 4)
    np.testing.assert_array_equal(np.bincount(y), [50, 50, 50])


def test_iris_first_row_is_fishers_first_setosa():
    x, y = load_iris()
    np.testing.assert_array_equal(x[0], [5.1, 3.5, 1.4, 0.2])
    assert y[0] == 0


def test_iris_dataset_names_species_and_measurements():
    data = make_dataset("iris")
    assert data.class_names == ["setosa", "versicolor", "virginica"]
    assert data.input_names == ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    assert data.target_name == "species"


def test_iris_uses_all_rows_by_default():
    data = make_dataset("iris")
    np.testing.assert_array_equal(np.bincount(all_y(data)), [50, 50, 50])


def test_iris_subsample_draws_real_rows():
    x = all_x(make_dataset("iris", n_samples=60))
    full, _ = load_iris()
    assert len(x) == 60
    assert all((full == row).all(axis=1).any() for row in x)


def test_iris_ignores_noise():
    quiet = make_dataset("iris", noise=0.0, seed=3)
    noisy = make_dataset("iris", noise=0.5, seed=3)
    np.testing.assert_array_equal(quiet.x_train, noisy.x_train)


def test_iris_rejects_more_than_150_samples():
    with pytest.raises(ValueError, match="at most 150"):
        make_dataset("iris", n_samples=151)


# --- argument checks ---------------------------------------------------------------------------


def test_unknown_name_is_rejected_with_the_choices():
    with pytest.raises(ValueError, match="unknown dataset 'donut'.*circle"):
        make_dataset("donut")


@pytest.mark.parametrize("n_samples", [1, 0, -5])
def test_fewer_than_two_samples_are_rejected(n_samples):
    with pytest.raises(ValueError, match="n_samples"):
        make_dataset("circle", n_samples=n_samples)


@pytest.mark.parametrize("train_ratio", [0.0, 1.0, -0.1, 1.5])
def test_train_ratio_outside_the_open_unit_interval_is_rejected(train_ratio):
    with pytest.raises(ValueError, match="train_ratio"):
        make_dataset("circle", train_ratio=train_ratio)


@pytest.mark.parametrize("noise", [-0.01, 1.01, float("nan")])
def test_noise_outside_zero_to_one_is_rejected(noise):
    with pytest.raises(ValueError, match="noise"):
        make_dataset("circle", noise=noise)
