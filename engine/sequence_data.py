"""Sequence datasets for recurrent networks: seeded generators of (samples × time steps × features).

Every generator has the signature of :mod:`engine.datasets`' generators, ``(rng, n, noise) ->
(x, y)``, and is a pure function of its arguments (the same seed gives bit-identical arrays), but
``x`` has a time axis: (n, T, features).

* ``sine_next`` (many-to-many regression, T = 20): the input is a noisy sine
  ``s_t = sin(ω·t + φ) + noise·ε_t`` with ω ~ U(0.3, 0.8) rad per step (a period of 8–21 steps)
  and φ ~ U(0, 2π) drawn per sequence, ε ~ N(0, 1); the target at every step is the noise-free
  *next* value ``sin(ω·(t+1) + φ)``. Repeating the current input scores MSE ≈ 0.156 + noise²
  (E[1 − cos ω] + noise²); a network that has learnt the rhythm goes well below.
* ``make_adding(length)`` (many-to-one regression; Hochreiter & Schmidhuber's adding problem):
  channel 0 holds values ~ U(0, 1), channel 1 marks exactly two of them, one in the first half
  and one in the second half of the sequence; the target is the sum of the two marked values
  (plus noise·ε). Always answering 1 scores MSE = 1/6 ≈ 0.167; to do better the network must
  carry the first marked value across up to ``length − 1`` steps.
* ``make_recall(length, symbols=4)`` (many-to-one classification): a sequence of random symbols,
  one-hot (plus noise·ε on every input); the label is the *first* symbol. Guessing scores
  1/symbols; the evidence lies ``length − 1`` steps before the answer, so the longer the
  sequence, the further the gradient must travel back — the lesson on vanishing gradients
  lengthens it from 5 to 50 steps.

``noise`` is on the same 0–0.5 scale as the plane datasets' slider (slider / 100).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

SequenceGenerator = Callable[[np.random.Generator, int, float], tuple[np.ndarray, np.ndarray]]

SINE_STEPS = 20
SINE_FREQUENCIES = (0.3, 0.8)  # rad per step
MIN_LENGTH, MAX_LENGTH = 2, 500  # lessons use 5…50; the cap keeps an untrusted spec's memory small
RECALL_SYMBOLS = 4


def _check_length(length: int) -> int:
    if not isinstance(length, int | np.integer) or not MIN_LENGTH <= length <= MAX_LENGTH:
        raise ValueError(
            f"a sequence length must be a whole number from {MIN_LENGTH} to {MAX_LENGTH}, "
            f"not {length!r}"
        )
    return int(length)


def make_sine_next(length: int = SINE_STEPS) -> SequenceGenerator:
    """Next value of a noisy sine, ``length`` steps (see the module docstring)."""
    steps = _check_length(length)

    def sine_next(rng: np.random.Generator, n: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
        omega = rng.uniform(*SINE_FREQUENCIES, size=(n, 1))
        phase = rng.uniform(0.0, 2.0 * np.pi, size=(n, 1))
        t = np.arange(steps + 1, dtype=np.float64)
        clean = np.sin(omega * t + phase)  # (n, T + 1)
        x = clean[:, :steps] + noise * rng.normal(size=(n, steps))
        return x[:, :, None], clean[:, 1:, None]

    return sine_next


sine_next = make_sine_next(SINE_STEPS)


def make_adding(length: int) -> SequenceGenerator:
    """The adding problem over ``length`` steps: x (n, T, 2) values and markers, y (n, 1)."""
    steps = _check_length(length)
    half = steps // 2

    def adding(rng: np.random.Generator, n: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
        values = rng.uniform(0.0, 1.0, size=(n, steps))
        first = rng.integers(0, half, size=n)
        second = rng.integers(half, steps, size=n)
        markers = np.zeros((n, steps))
        rows = np.arange(n)
        markers[rows, first] = 1.0
        markers[rows, second] = 1.0
        target = values[rows, first] + values[rows, second] + noise * rng.normal(size=n)
        return np.stack([values, markers], axis=2), target[:, None]

    return adding


def make_recall(length: int, symbols: int = RECALL_SYMBOLS) -> SequenceGenerator:
    """Recall the first element: x (n, T, symbols) one-hot (+ noise), y (n,) its label."""
    steps = _check_length(length)
    if not 2 <= symbols <= 26:
        raise ValueError(f"recall needs 2 to 26 symbols, not {symbols}")

    def recall(rng: np.random.Generator, n: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
        sequence = rng.integers(0, symbols, size=(n, steps))
        x = np.eye(symbols)[sequence] + noise * rng.normal(size=(n, steps, symbols))
        return x, sequence[:, 0].astype(np.int64)

    return recall


@dataclass(frozen=True)
class SequenceTask:
    """Catalog entry of a sequence set: what the data is, without generating it."""

    name: str
    title: str
    task: str  # "regression" or "classification"
    many_to_many: bool  # a target at every step (else one per sequence)
    n_features: int
    n_outputs: int  # regression targets per step/sequence, or the number of classes
    default_length: int
    make: Callable[[int], SequenceGenerator]
    description: str

    def generator(self, length: int | None = None) -> SequenceGenerator:
        return self.make(self.default_length if length is None else length)


SEQUENCE_TASKS: dict[str, SequenceTask] = {
    task.name: task
    for task in (
        SequenceTask(
            "sine_next",
            "Next value of a noisy sine",
            "regression",
            True,
            1,
            1,
            SINE_STEPS,
            make_sine_next,
            "Predict the next value of a sine of random phase and frequency from noisy samples.",
        ),
        SequenceTask(
            "adding",
            "Adding problem",
            "regression",
            False,
            2,
            1,
            20,
            make_adding,
            "Add the two marked values of a sequence; the first mark lies far back in time.",
        ),
        SequenceTask(
            "recall",
            "Recall the first element",
            "classification",
            False,
            RECALL_SYMBOLS,
            RECALL_SYMBOLS,
            10,
            make_recall,
            "Name the first symbol of the sequence; longer sequences make it harder to learn.",
        ),
    )
}
