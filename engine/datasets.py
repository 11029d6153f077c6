"""Built-in datasets: seeded generators plus the catalog the UI lists.

Every generator is a pure function of ``(rng, n, noise)`` so that the same arguments to
:func:`make_dataset` always give bit-identical arrays; a lesson can then be replayed exactly.
Inputs are returned *raw* — feature transforms and standardisation are applied later, because the
visualiser draws the raw input plane.

Plane sets live on the square [-6, 6]² like the TensorFlow Playground's, and ``noise`` is the
Playground's 0–50 slider divided by 100. How noise acts depends on the set: point-cloud sets move
each point by a uniform offset (then clip it to the plane), the Gaussian sets widen their blobs,
and regression sets evaluate the target at a displaced point or add noise to it.

The synthetic ``house`` set is generated as::

    size_m2        ~ uniform 40..250, rounded to whole m²
    location_score ~ uniform 1..10, rounded to one decimal
    bedrooms       = clip(round(size_m2 / 40 + normal(0, 0.6)), 1, 6)
    price_100k     = 0.5 + 0.02·size_m2 + 0.4·location_score + 0.1·bedrooms + normal(0, noise)

so a linear model can recover the coefficients exactly from noise-free data, while ``bedrooms``
is correlated with ``size_m2`` (a realistic nuisance for interpreting weights).
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from engine.image_data import (
    DIGITS_CLASS_NAMES,
    DIGITS_ROWS,
    IMAGE_SHAPE,
    IMAGE_SIZE,
    SHAPES_CLASS_NAMES,
    digits,
    shapes,
)
from engine.sequence_data import SEQUENCE_TASKS, SequenceTask

PLANE_BOUNDS = (-6.0, 6.0)
BINARY_CLASS_NAMES = ["-1", "+1"]
IRIS_PATH = Path(__file__).parent / "data" / "iris.csv"

# The house-price formula: intercept and one coefficient per input, in input order.
HOUSE_INTERCEPT = 0.5
HOUSE_COEFFICIENTS = (0.02, 0.4, 0.1)


@dataclass(frozen=True)
class DatasetInfo:
    """Catalog entry: what a dataset is, without generating it."""

    name: str
    title: str
    task: str
    n_classes: int
    n_inputs: int
    plane: bool
    default_samples: int
    description: str
    # Raw input column names; lets callers label inputs from the catalog alone.
    input_names: tuple[str, ...] = ()
    # One sample's shape when it is not a row of n_inputs numbers: (C, H, W) for images,
    # (T, features) for sequences (T is the default length; the spec may choose another).
    input_shape: tuple[int, ...] = ()

    @property
    def family(self) -> str:
        """ "plane", "table", "image" or "sequence": which layers and pictures suit the data."""
        if self.plane:
            return "plane"
        return {0: "table", 2: "sequence", 3: "image"}[len(self.input_shape)]


@dataclass
class Dataset:
    """A generated (or loaded) dataset, already shuffled and split."""

    info: DatasetInfo
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    input_names: list[str]
    target_name: str
    class_names: list[str]
    bounds: tuple[float, float] | None
    # Rows held out of the training part (spec ``data.validation_ratio``): never trained on,
    # evaluated each time, so a learner can see when to stop (empty when there is none).
    x_val: np.ndarray = field(default_factory=lambda: np.empty((0, 0)))
    y_val: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """One raw sample's shape, as generated: (n,) for a row of a table or a point of the
        plane (whose ``info.input_shape`` is empty), (C, H, W) or (T, n)."""
        return tuple(self.x_train.shape[1:])


Generator = Callable[[np.random.Generator, int, float], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class _Recipe:
    """How to build one catalog entry: its info, generator and naming."""

    info: DatasetInfo
    generate: Generator
    target_name: str
    class_names: tuple[str, ...]
    # Sequence sets: the generator for a chosen length (``generate`` is the default length's).
    for_length: Callable[[int], Generator] | None = None


# ---------------------------------------------------------------------------------------------
# Shared helpers


def _class_sizes(n: int, n_classes: int) -> list[int]:
    """Split n as evenly as possible, so every class is present whenever n >= n_classes."""
    base, extra = divmod(n, n_classes)
    return [base + (1 if k < extra else 0) for k in range(n_classes)]


def _labels(sizes: list[int]) -> np.ndarray:
    return np.repeat(np.arange(len(sizes), dtype=np.int64), sizes)


def _jitter(rng: np.random.Generator, n: int, amount: float) -> np.ndarray:
    """Uniform per-axis offsets in [-amount, amount]; the Playground's style of noise."""
    return rng.uniform(-amount, amount, size=(n, 2))


def _clip_to_plane(points: np.ndarray) -> np.ndarray:
    """Keep noisy points on the drawn plane so none fall outside the heat-map."""
    return np.clip(points, *PLANE_BOUNDS)


def _polar(radius: np.ndarray, angle: np.ndarray) -> np.ndarray:
    return np.column_stack([radius * np.cos(angle), radius * np.sin(angle)])


# ---------------------------------------------------------------------------------------------
# Binary classification on the plane (label 1 is the Playground's +1)


def _circle(rng: np.random.Generator, n: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """Inner disc (r < 2.5) is +1, ring 3.5..5 is -1; the gap makes noise-free data separable."""
    n_ring, n_disc = _class_sizes(n, 2)
    radius = np.concatenate([rng.uniform(3.5, 5.0, n_ring), rng.uniform(0.0, 2.5, n_disc)])
    angle = rng.uniform(0.0, 2 * np.pi, n)
    points = _polar(radius, angle) + _jitter(rng, n, 5.0 * noise)
    return _clip_to_plane(points), _labels([n_ring, n_disc])


def _xor(rng: np.random.Generator, n: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """Label is +1 where x1·x2 > 0; a 0.3 margin keeps points off the axes."""
    points = rng.uniform(-5.0, 5.0, size=(n, 2))
    points += np.where(points >= 0, 0.3, -0.3)
    labels = (points[:, 0] * points[:, 1] > 0).astype(np.int64)
    return _clip_to_plane(points + _jitter(rng, n, 5.0 * noise)), labels


def _gauss(rng: np.random.Generator, n: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """Blobs at (-2,-2) for -1 and (2,2) for +1; noise widens them (variance 0.5 -> 4 at 50%)."""
    sizes = _class_sizes(n, 2)
    std = np.sqrt(0.5 + 7.0 * noise)
    centres = np.repeat(np.array([[-2.0, -2.0], [2.0, 2.0]]), sizes, axis=0)
    return _clip_to_plane(centres + rng.normal(0.0, std, size=(n, 2))), _labels(sizes)


def _spiral_arms(
    rng: np.random.Generator, n: int, noise: float, n_arms: int, turns: float
) -> tuple[np.ndarray, np.ndarray]:
    """Arms that wind out from the centre to radius 5, evenly rotated, one class per arm."""
    sizes = _class_sizes(n, n_arms)
    labels = _labels(sizes)
    along = rng.uniform(0.0, 1.0, n)
    angle = 2 * np.pi * (turns * along + labels / n_arms)
    points = _polar(5.0 * along, angle) + _jitter(rng, n, 1.5 * noise)
    return _clip_to_plane(points), labels


def _spiral(rng: np.random.Generator, n: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
    return _spiral_arms(rng, n, noise, n_arms=2, turns=1.75)


def _moons(rng: np.random.Generator, n: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles, centred and scaled by 3.5 to span most of the plane."""
    sizes = _class_sizes(n, 2)
    angle = rng.uniform(0.0, np.pi, n)
    upper = np.column_stack([np.cos(angle), np.sin(angle)])
    lower = np.column_stack([1.0 - np.cos(angle), 0.5 - np.sin(angle)])
    is_lower = _labels(sizes) == 1
    unit = np.where(is_lower[:, None], lower, upper) - np.array([0.5, 0.25])
    points = 3.5 * unit + _jitter(rng, n, 3.0 * noise)
    return _clip_to_plane(points), _labels(sizes)


# ---------------------------------------------------------------------------------------------
# Multi-class classification on the plane


def _spiral3(rng: np.random.Generator, n: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
    # One turn keeps three arms far enough apart to be learnable.
    return _spiral_arms(rng, n, noise, n_arms=3, turns=1.0)


def _blobs4(rng: np.random.Generator, n: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """One blob per quadrant, counter-clockwise from (3, 3); noise widens them."""
    sizes = _class_sizes(n, 4)
    quadrants = np.array([[3.0, 3.0], [-3.0, 3.0], [-3.0, -3.0], [3.0, -3.0]])
    std = 0.7 + 2.6 * noise
    centres = np.repeat(quadrants, sizes, axis=0)
    return _clip_to_plane(centres + rng.normal(0.0, std, size=(n, 2))), _labels(sizes)


# ---------------------------------------------------------------------------------------------
# Regression


def _plane_target(points: np.ndarray) -> np.ndarray:
    return (points[:, 0] + points[:, 1]) / 12.0


# (x1, x2, sign) of each bump: a 3×2 checkerboard of hills and valleys.
_BUMPS = np.array(
    [[-4, 2.5, 1], [0, 2.5, -1], [4, 2.5, 1], [-4, -2.5, -1], [0, -2.5, 1], [4, -2.5, -1]],
    dtype=np.float64,
)
_BUMP_WIDTH = 1.2


def _gaussians_target(points: np.ndarray) -> np.ndarray:
    offsets = points[:, None, :] - _BUMPS[None, :, :2]
    squared = np.sum(offsets**2, axis=2)
    return np.exp(-squared / (2 * _BUMP_WIDTH**2)) @ _BUMPS[:, 2]


def _plane_regression(target: Callable[[np.ndarray], np.ndarray]) -> Generator:
    """Uniform points; noise evaluates the target at a displaced point, as the Playground does."""

    def generate(rng: np.random.Generator, n: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
        points = rng.uniform(*PLANE_BOUNDS, size=(n, 2))
        y = target(points + _jitter(rng, n, 6.0 * noise))
        return points, y[:, None]

    return generate


def _sine(rng: np.random.Generator, n: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
    x = rng.uniform(-np.pi, np.pi, n)
    y = np.sin(x) + rng.normal(0.0, noise, n)
    return x[:, None], y[:, None]


def _house(rng: np.random.Generator, n: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
    size = np.round(rng.uniform(40.0, 250.0, n))
    location = np.round(rng.uniform(1.0, 10.0, n), 1)
    bedrooms = np.clip(np.round(size / 40.0 + rng.normal(0.0, 0.6, n)), 1, 6)
    x = np.column_stack([size, location, bedrooms])
    price = HOUSE_INTERCEPT + x @ np.array(HOUSE_COEFFICIENTS) + rng.normal(0.0, noise, n)
    return x, price[:, None]


# ---------------------------------------------------------------------------------------------
# Iris (real data, bundled)

IRIS_INPUTS = ("sepal_length", "sepal_width", "petal_length", "petal_width")
IRIS_SPECIES = ("setosa", "versicolor", "virginica")
IRIS_ROWS = 150


def load_iris() -> tuple[np.ndarray, np.ndarray]:
    """All 150 iris rows in file order: (150, 4) measurements in cm and (150,) species indices."""
    with IRIS_PATH.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    x = np.array([[float(row[col]) for col in IRIS_INPUTS] for row in rows], dtype=np.float64)
    y = np.array([IRIS_SPECIES.index(row["species"]) for row in rows], dtype=np.int64)
    return x, y


def _iris(rng: np.random.Generator, n: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """Real data has no noise knob, so noise is ignored; n < 150 draws a random subset."""
    if n > IRIS_ROWS:
        raise ValueError(f"iris has only {IRIS_ROWS} rows; n_samples must be at most {IRIS_ROWS}")
    x, y = load_iris()
    keep = np.sort(rng.permutation(IRIS_ROWS)[:n])
    return x[keep], y[keep]


# ---------------------------------------------------------------------------------------------
# Catalog

_PLANE = ("x1", "x2")
_BINARY = tuple(BINARY_CLASS_NAMES)


def _recipe(
    name: str,
    title: str,
    generate: Generator,
    *,
    samples: int,
    text: str,
    class_names: tuple[str, ...] = (),
    inputs: tuple[str, ...] = _PLANE,
    target: str = "y",
) -> _Recipe:
    """Catalog entry; a dataset with class names is a classification task."""
    task = "classification" if class_names else "regression"
    plane = inputs == _PLANE
    info = DatasetInfo(
        name, title, task, len(class_names), len(inputs), plane, samples, text, inputs
    )
    return _Recipe(info, generate, target, class_names)


_RECIPES: tuple[_Recipe, ...] = (
    _recipe(
        "circle",
        "Circle",
        _circle,
        samples=500,
        class_names=_BINARY,
        target="label",
        text="A disc of +1 points inside a ring of -1 points. No straight line separates them, "
        "so it needs a hidden layer or the squared features.",
    ),
    _recipe(
        "xor",
        "Exclusive or",
        _xor,
        samples=500,
        class_names=_BINARY,
        target="label",
        text="+1 where x1 and x2 have the same sign, -1 where they differ. The classic problem a "
        "single neuron cannot solve; the X₁X₂ feature makes it easy.",
    ),
    _recipe(
        "gauss",
        "Two Gaussians",
        _gauss,
        samples=500,
        class_names=_BINARY,
        target="label",
        text="Two round clouds of points at (-2, -2) and (2, 2). Linearly separable: a good first "
        "dataset. Noise widens the clouds until they overlap.",
    ),
    _recipe(
        "spiral",
        "Spiral",
        _spiral,
        samples=500,
        class_names=_BINARY,
        target="label",
        text="Two interleaved spiral arms. Hard: it needs several hidden layers or the sine "
        "features, and shows how depth bends decision boundaries.",
    ),
    _recipe(
        "moons",
        "Two moons",
        _moons,
        samples=500,
        class_names=_BINARY,
        target="label",
        text="Two interlocking half-moons. Almost, but not quite, separable by a line; a small "
        "hidden layer bends the boundary between them.",
    ),
    _recipe(
        "spiral3",
        "Three-arm spiral",
        _spiral3,
        samples=600,
        class_names=("0", "1", "2"),
        target="label",
        text="Three spiral arms, one class each. A softmax output layer with three units "
        "assigns every point a probability per arm.",
    ),
    _recipe(
        "blobs4",
        "Four blobs",
        _blobs4,
        samples=400,
        class_names=("0", "1", "2", "3"),
        target="label",
        text="Four clouds of points, one per quadrant and class. An easy multi-class problem for "
        "introducing softmax and cross-entropy.",
    ),
    _recipe(
        "plane",
        "Tilted plane",
        _plane_regression(_plane_target),
        samples=600,
        text="The target is y = (x1 + x2) / 12, a flat tilted plane. A single linear neuron fits "
        "it exactly; noise measures y at a slightly wrong position.",
    ),
    _recipe(
        "gaussians",
        "Hills and valleys",
        _plane_regression(_gaussians_target),
        samples=600,
        text="Six Gaussian bumps, three up and three down, on a 3 × 2 grid. The network must "
        "build each hill and valley out of its hidden units.",
    ),
    _recipe(
        "sine",
        "Sine wave",
        _sine,
        samples=200,
        inputs=("x",),
        text="One input x in [-π, π] and target y = sin(x) plus Gaussian noise with standard "
        "deviation equal to the noise setting. Shows how hidden units piece together a curve.",
    ),
    _recipe(
        "house",
        "House prices",
        _house,
        samples=400,
        inputs=("size_m2", "location_score", "bedrooms"),
        target="price_100k",
        text="Synthetic prices in units of 100 000: price = 0.5 + 0.02·size_m2 + "
        "0.4·location_score + 0.1·bedrooms + noise, for sizes 40–250 m², location scores 1–10 "
        "and 1–6 bedrooms (correlated with size). Noise is Gaussian with standard deviation "
        "equal to the noise setting. Standardising inputs matters here: sizes are a hundred "
        "times larger than the other inputs.",
    ),
    _recipe(
        "iris",
        "Iris flowers",
        _iris,
        samples=IRIS_ROWS,
        class_names=IRIS_SPECIES,
        inputs=IRIS_INPUTS,
        target="species",
        text="Fisher's 1936 measurements of 150 iris flowers, 50 of each of three species. Real "
        "data: the noise setting is ignored, and fewer samples draw a random subset.",
    ),
)


def _sequence_recipe(task: SequenceTask) -> _Recipe:
    classes = tuple(str(k) for k in range(task.n_outputs)) if task.task == "classification" else ()
    names = tuple(f"x{k + 1}" for k in range(task.n_features))
    info = DatasetInfo(
        task.name,
        task.title,
        task.task,
        len(classes),
        task.n_features,
        False,
        SEQUENCE_SAMPLES,
        task.description,
        names,
        (task.default_length, task.n_features),
    )
    return _Recipe(info, task.generator(), "y", classes, task.generator)


SEQUENCE_SAMPLES = 600  # 300 sequences to train on at the default 50 % split

_PIXELS = tuple(f"pixel ({r}, {c})" for r in range(IMAGE_SIZE) for c in range(IMAGE_SIZE))

_IMAGE_RECIPES = (
    _Recipe(
        DatasetInfo(
            "digits",
            "Handwritten digits (8×8)",
            "classification",
            10,
            IMAGE_SIZE * IMAGE_SIZE,
            False,
            DIGITS_ROWS,
            "1 797 handwritten digits, 8×8 pixels of ink counts (the UCI optical-recognition set "
            "as scikit-learn ships it). Real data: the noise setting is ignored.",
            _PIXELS,
            IMAGE_SHAPE,
        ),
        digits,
        "digit",
        DIGITS_CLASS_NAMES,
    ),
    _Recipe(
        DatasetInfo(
            "shapes",
            "Bars, crosses and squares",
            "classification",
            3,
            IMAGE_SIZE * IMAGE_SIZE,
            False,
            600,
            "Synthetic 8×8 images of bars, crosses and squares at random places, with noise: "
            "learnt in seconds; with a little L2 some filters become line detectors.",
            _PIXELS,
            IMAGE_SHAPE,
        ),
        shapes,
        "shape",
        SHAPES_CLASS_NAMES,
    ),
)
_RECIPES = _RECIPES + _IMAGE_RECIPES + tuple(_sequence_recipe(t) for t in SEQUENCE_TASKS.values())

_BY_NAME: dict[str, _Recipe] = {recipe.info.name: recipe for recipe in _RECIPES}

DATASETS: dict[str, DatasetInfo] = {name: recipe.info for name, recipe in _BY_NAME.items()}


# ---------------------------------------------------------------------------------------------
# Public entry points


def shuffle_split(
    x: np.ndarray, y: np.ndarray, train_ratio: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Shuffle rows together, then split so that both parts have at least one row.

    Generators emit rows grouped by class; shuffling first keeps both parts mixed.
    """
    n = len(x)
    if n < 2:
        raise ValueError(f"need at least 2 rows to make a train and a test part, got {n}")
    order = rng.permutation(n)
    n_train = min(max(round(n * train_ratio), 1), n - 1)
    train, test = order[:n_train], order[n_train:]
    return x[train], y[train], x[test], y[test]


def hold_out(
    x_train: np.ndarray, y_train: np.ndarray, validation_ratio: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split the (already shuffled) training part into train and validation rows: the last
    ``round(n · ratio)`` rows, at least one when the ratio is above 0, and one row left to train.
    No random numbers are drawn, so the training rows keep their order and, without a
    validation part, everything is exactly as before."""
    n = len(x_train)
    n_val = round(n * validation_ratio)
    if validation_ratio > 0:
        n_val = min(max(n_val, 1), n - 1)
    cut = n - n_val
    return x_train[:cut], y_train[:cut], x_train[cut:], y_train[cut:]


def _check_arguments(name: str, n_samples: int | None, noise: float, train_ratio: float) -> None:
    if name not in _BY_NAME:
        known = ", ".join(_BY_NAME)
        raise ValueError(f"unknown dataset {name!r}; choose one of: {known}")
    if n_samples is not None and n_samples < 2:
        raise ValueError(f"n_samples must be at least 2, got {n_samples}")
    if not 0.0 <= noise <= 1.0:
        raise ValueError(f"noise must be a fraction between 0 and 1, got {noise}")
    if not 0.0 < train_ratio < 1.0:
        raise ValueError(f"train_ratio must be strictly between 0 and 1, got {train_ratio}")


def make_dataset(
    name: str,
    *,
    n_samples: int | None = None,
    noise: float = 0.0,
    train_ratio: float = 0.5,
    seed: int = 0,
    sequence_length: int | None = None,
    validation_ratio: float = 0.0,
) -> Dataset:
    """Generate a catalog dataset, shuffled and split into train and test parts.

    Seeded and deterministic: the same arguments give bit-identical arrays. ``n_samples`` of
    None uses the catalog default; ``noise`` is a fraction in [0, 1]; ``validation_ratio`` holds
    that share of the training part out as a validation part (see :func:`hold_out`).
    """
    _check_arguments(name, n_samples, noise, train_ratio)
    recipe = _BY_NAME[name]
    rng = np.random.default_rng(seed)
    n = recipe.info.default_samples if n_samples is None else int(n_samples)
    generate, info = recipe.generate, recipe.info
    if sequence_length is not None and recipe.for_length is not None:
        generate = recipe.for_length(sequence_length)
        info = replace(info, input_shape=(int(sequence_length), info.input_shape[1]))
    x, y = generate(rng, n, float(noise))
    x_train, y_train, x_test, y_test = shuffle_split(x, y, train_ratio, rng)
    x_train, y_train, x_val, y_val = hold_out(x_train, y_train, validation_ratio)
    return Dataset(
        info=info,
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        input_names=list(recipe.info.input_names),
        target_name=recipe.target_name,
        class_names=list(recipe.class_names),
        bounds=PLANE_BOUNDS if recipe.info.plane else None,
        x_val=x_val,
        y_val=y_val,
    )
