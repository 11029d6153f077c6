"""Specification: the image data sets are 8×8 grey images in [0, 1], seeded and honest.

``digits`` is the bundled UCI optical-digits file, unchanged (1 797 images, the known class
counts, ink levels 0..16 scaled by 1/16); a smaller n is a random subset. ``shapes`` draws bars,
crosses and squares that look like their names, balanced, reproducible from the seed, with the
asked-for noise. Both follow the datasets' ``(rng, n, noise)`` generator convention.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from engine.datasets import Generator
from engine.image_data import (
    DIGITS_CLASS_NAMES,
    DIGITS_PATH,
    DIGITS_ROWS,
    IMAGE_SHAPE,
    SHAPES_CLASS_NAMES,
    digits,
    load_digits,
    shapes,
)

# Per-class counts of the UCI test set (optdigits.tes) that scikit-learn ships.
DIGIT_COUNTS = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
# The first image of the file (a 0), row by row, as ink counts.
FIRST_DIGIT = [
    [0, 0, 5, 13, 9, 1, 0, 0],
    [0, 0, 13, 15, 10, 15, 5, 0],
    [0, 3, 15, 2, 0, 11, 8, 0],
    [0, 4, 12, 0, 0, 8, 8, 0],
    [0, 5, 8, 0, 0, 9, 8, 0],
    [0, 4, 11, 0, 1, 12, 7, 0],
    [0, 2, 14, 5, 10, 12, 0, 0],
    [0, 0, 6, 13, 10, 0, 0, 0],
]


def test_the_bundled_file_holds_the_1797_uci_digits():
    images, labels = load_digits()
    assert images.shape == (DIGITS_ROWS, 8, 8) and images.dtype == np.uint8
    assert images.min() == 0 and images.max() == 16
    assert np.bincount(labels).tolist() == DIGIT_COUNTS
    np.testing.assert_array_equal(images[0], FIRST_DIGIT)
    assert labels[0] == 0
    assert DIGITS_PATH.stat().st_size < 60_000  # compact: no bigger than scikit-learn's csv.gz


def test_digits_are_images_scaled_to_the_unit_interval():
    x, y = digits(np.random.default_rng(0), DIGITS_ROWS)
    assert x.shape == (DIGITS_ROWS, *IMAGE_SHAPE) and x.dtype == np.float64
    assert y.dtype == np.int64 and set(y.tolist()) == set(range(10))
    images, labels = load_digits()
    np.testing.assert_array_equal(x[:, 0] * 16, images)  # all of them, in file order
    np.testing.assert_array_equal(y, labels)
    assert len(DIGITS_CLASS_NAMES) == 10


def test_fewer_digits_are_a_random_subset_chosen_by_the_seed():
    images, labels = load_digits()
    x, y = digits(np.random.default_rng(5), 100)
    assert x.shape == (100, 1, 8, 8)
    rows = {image.tobytes(): k for k, image in enumerate(images)}
    found = [rows[(image[0] * 16).astype(np.uint8).tobytes()] for image in x]
    assert found == sorted(found)  # file order kept
    assert [labels[k] for k in found] == y.tolist()
    again, _ = digits(np.random.default_rng(5), 100)
    other, _ = digits(np.random.default_rng(6), 100)
    np.testing.assert_array_equal(x, again)
    assert not np.array_equal(x, other)


def test_digits_ignore_noise():
    a, _ = digits(np.random.default_rng(1), 50, 0.0)
    b, _ = digits(np.random.default_rng(1), 50, 0.4)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("n", [0, DIGITS_ROWS + 1])
def test_more_digits_than_there_are_is_refused(n):
    with pytest.raises(ValueError, match="digits has 1797 images"):
        digits(np.random.default_rng(0), n)


def test_the_generators_follow_the_dataset_convention():
    for generate in (digits, shapes):
        assert list(inspect.signature(generate).parameters) == ["rng", "n", "noise"]
        generator: Generator = generate  # what the catalog stores
        x, y = generator(np.random.default_rng(0), 12, 0.1)
        assert x.shape == (12, 1, 8, 8) and y.shape == (12,)


# --- shapes -----------------------------------------------------------------------------------


def strokes(image: np.ndarray) -> np.ndarray:
    """The lit pixels of a noise-free shapes image."""
    return np.argwhere(image[0] > 0)


def test_shapes_are_balanced_images_in_the_unit_interval():
    x, y = shapes(np.random.default_rng(0), 301, 0.3)
    assert x.shape == (301, 1, 8, 8) and x.dtype == np.float64
    assert x.min() >= 0.0 and x.max() <= 1.0
    assert y.dtype == np.int64
    assert np.bincount(y).tolist() == [101, 100, 100]
    assert SHAPES_CLASS_NAMES == ("bar", "cross", "square")


def test_a_bar_is_one_straight_line_of_three_to_eight_pixels():
    x, y = shapes(np.random.default_rng(1), 600, 0.0)
    orientations = set()
    for image in x[y == 0]:
        lit = strokes(image)
        rows, cols = set(lit[:, 0]), set(lit[:, 1])
        assert len(rows) == 1 or len(cols) == 1
        line = sorted(lit[:, 1] if len(rows) == 1 else lit[:, 0])
        assert 3 <= len(line) <= 8 and line == list(range(line[0], line[0] + len(line)))
        orientations.add("horizontal" if len(rows) == 1 and len(line) > 1 else "vertical")
    assert orientations == {"horizontal", "vertical"}


def test_a_cross_is_a_plus_sign_with_equal_arms():
    x, y = shapes(np.random.default_rng(2), 600, 0.0)
    for image in x[y == 1]:
        lit = {tuple(p) for p in strokes(image)}
        arm = (len(lit) - 1) // 4
        assert 1 <= arm <= 3 and len(lit) == 4 * arm + 1
        cy = max(set(r for r, _ in lit), key=lambda r: sum(1 for q, _ in lit if q == r))
        cx = max(set(c for _, c in lit), key=lambda c: sum(1 for _, q in lit if q == c))
        expected = {(cy, cx + d) for d in range(-arm, arm + 1)}
        expected |= {(cy + d, cx) for d in range(-arm, arm + 1)}
        assert lit == expected


def test_a_square_is_the_outline_of_four_to_seven_pixels_a_side():
    x, y = shapes(np.random.default_rng(3), 600, 0.0)
    sides = set()
    for image in x[y == 2]:
        lit = strokes(image)
        top, left = lit.min(axis=0)
        bottom, right = lit.max(axis=0)
        side = bottom - top + 1
        assert right - left + 1 == side and 4 <= side <= 7
        box = np.zeros((8, 8), dtype=bool)
        box[top : bottom + 1, left : right + 1] = True
        box[top + 1 : bottom, left + 1 : right] = False
        np.testing.assert_array_equal(image[0] > 0, box)
        sides.add(int(side))
    assert sides == {4, 5, 6, 7}


def test_strokes_are_bright_on_black_without_noise():
    x, _ = shapes(np.random.default_rng(4), 90, 0.0)
    lit = x[x > 0]
    assert lit.min() >= 0.6 and lit.max() <= 1.0
    assert np.isin(x, [0.0]).sum() + lit.size == x.size


def test_noise_is_gaussian_of_the_given_deviation_clipped_to_the_unit_interval():
    clean, _ = shapes(np.random.default_rng(5), 2000, 0.0)
    noisy, _ = shapes(np.random.default_rng(5), 2000, 0.05)
    dark = (clean == 0) & (noisy > 0) & (noisy < 1)
    # on a black pixel only positive noise survives the clip: a half-normal of σ = 0.05
    assert np.mean(noisy[dark]) == pytest.approx(0.05 * np.sqrt(2 / np.pi), rel=0.05)
    assert 0.45 < np.mean(noisy[clean == 0] > 0) < 0.55


def test_shapes_are_reproducible_from_the_seed():
    a = shapes(np.random.default_rng(7), 50, 0.2)
    b = shapes(np.random.default_rng(7), 50, 0.2)
    c = shapes(np.random.default_rng(8), 50, 0.2)
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[0], c[0])


def test_shapes_refuse_impossible_arguments():
    with pytest.raises(ValueError, match="at least 1 sample"):
        shapes(np.random.default_rng(0), 0, 0.1)
    with pytest.raises(ValueError, match="noise is a standard deviation"):
        shapes(np.random.default_rng(0), 10, -0.1)
