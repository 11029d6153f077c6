"""Image data sets for convolutional networks: 8×8 grey images, (n, 1, 8, 8) in [0, 1].

Both generators follow :data:`engine.datasets.Generator`, ``(rng, n, noise) -> (x, y)``:

* :func:`digits` — the 1 797 handwritten digits of the UCI optical-recognition set, as
  scikit-learn ships them, bundled in ``engine/data/digits.npz`` (source and licence in
  ``engine/data/README.md``); nothing is downloaded. Real data has no noise knob.
* :func:`shapes` — synthetic strokes at random positions and sizes: a *bar* (one horizontal or
  vertical line), a *cross* (a plus sign) and a *square* (an outline). Telling them apart takes
  horizontal and vertical strokes and where they meet, so a first convolution layer's filters
  can become horizontal and vertical line detectors: with a little L2 (which clears the noise
  of their random start) they do within seconds, see the ``cnn_filters`` lesson.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

DIGITS_PATH = Path(__file__).parent / "data" / "digits.npz"
DIGITS_ROWS = 1797
DIGITS_LEVELS = 16  # pixel values are counts of ink in a 4×4 block: 0..16
DIGITS_CLASS_NAMES = tuple(str(d) for d in range(10))
SHAPES_CLASS_NAMES = ("bar", "cross", "square")
IMAGE_SIZE = 8
IMAGE_SHAPE = (1, IMAGE_SIZE, IMAGE_SIZE)


@lru_cache(maxsize=1)
def _digits_file() -> tuple[np.ndarray, np.ndarray]:
    with np.load(DIGITS_PATH, allow_pickle=False) as data:
        images, labels = data["images"], data["labels"]
    images.flags.writeable = False
    labels.flags.writeable = False
    return images, labels


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """All 1 797 digits in file order: (1797, 8, 8) uint8 ink counts 0..16, (1797,) labels 0..9."""
    images, labels = _digits_file()
    return images.copy(), labels.copy()


def digits(rng: np.random.Generator, n: int, noise: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """(n, 1, 8, 8) float64 images scaled to [0, 1] (ink count / 16) and int64 labels 0..9.
    n < 1 797 draws a random subset (kept in file order); noise is ignored."""
    if not 1 <= n <= DIGITS_ROWS:
        raise ValueError(
            f"digits has {DIGITS_ROWS} images; n_samples must be between 1 and {DIGITS_ROWS}"
        )
    images, labels = _digits_file()
    keep = np.sort(rng.permutation(DIGITS_ROWS)[:n])
    x = images[keep].astype(np.float64)[:, None] * (1.0 / DIGITS_LEVELS)
    return x, labels[keep].astype(np.int64)


def shapes(rng: np.random.Generator, n: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """(n, 1, 8, 8) float64 images in [0, 1] and int64 labels: 0 bar, 1 cross, 2 square.

    Classes take turns (0, 1, 2, 0, …), so every class has ⌊n/3⌋ or ⌈n/3⌉ images. Each image
    is one stroke, one pixel wide, of brightness U(0.6, 1), on black:

    * bar: horizontal or vertical (equally likely), 3 to 8 pixels long, anywhere;
    * cross: a plus sign with arms of 1 to 3 pixels, anywhere it fits;
    * square: the outline of a 4×4 to 7×7 square, anywhere it fits.

    Then every pixel gets Gaussian noise of standard deviation ``noise`` and is clipped to
    [0, 1]."""
    if n < 1:
        raise ValueError(f"shapes needs at least 1 sample, not {n}")
    if noise < 0:
        raise ValueError(f"noise is a standard deviation, at least 0; got {noise}")
    size = IMAGE_SIZE
    labels = np.arange(n, dtype=np.int64) % len(SHAPES_CLASS_NAMES)
    row = np.arange(size)[None, :, None]
    col = np.arange(size)[None, None, :]

    def column(values: np.ndarray) -> np.ndarray:
        return values[:, None, None]

    # bar: length, start along its line, the row (or column) it lies on, orientation
    length = column(rng.integers(3, size + 1, n))
    start = column(rng.integers(0, size + 1 - length[:, 0, 0]))
    line = column(rng.integers(0, size, n))
    vertical = column(rng.random(n) < 0.5)
    along, across = np.where(vertical, row, col), np.where(vertical, col, row)
    bar = (across == line) & (along >= start) & (along < start + length)

    # cross: arm length and a centre at least one arm from every edge
    arm = column(rng.integers(1, 4, n))
    cy = column(rng.integers(arm[:, 0, 0], size - arm[:, 0, 0]))
    cx = column(rng.integers(arm[:, 0, 0], size - arm[:, 0, 0]))
    cross = ((row == cy) & (np.abs(col - cx) <= arm)) | ((col == cx) & (np.abs(row - cy) <= arm))

    # square: side and top-left corner
    side = column(rng.integers(4, size, n))
    top = column(rng.integers(0, size + 1 - side[:, 0, 0]))
    left = column(rng.integers(0, size + 1 - side[:, 0, 0]))
    inside = (row >= top) & (row < top + side) & (col >= left) & (col < left + side)
    edge = (row == top) | (row == top + side - 1) | (col == left) | (col == left + side - 1)
    square = inside & edge

    mask = np.choose(column(labels), (bar, cross, square))
    brightness = column(rng.uniform(0.6, 1.0, n))
    x = mask * brightness + rng.normal(0.0, noise, (n, size, size))
    np.clip(x, 0.0, 1.0, out=x)
    return x[:, None], labels
