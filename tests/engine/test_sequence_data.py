"""Specification: the sequence sets are seeded, shaped (samples × steps × features) and say what
their docstring says (targets, baselines, difficulty growing with length)."""

from __future__ import annotations

import numpy as np
import pytest

from engine.sequence_data import (
    SEQUENCE_TASKS,
    SINE_STEPS,
    make_adding,
    make_recall,
    make_sine_next,
    sine_next,
)

LENGTHS = [5, 10, 20, 35, 50]


def draw(generator, n=64, noise=0.1, seed=3):
    return generator(np.random.default_rng(seed), n, noise)


def test_the_same_seed_gives_bit_identical_sequences():
    for task in SEQUENCE_TASKS.values():
        x1, y1 = draw(task.generator())
        x2, y2 = draw(task.generator())
        assert x1.tobytes() == x2.tobytes() and y1.tobytes() == y2.tobytes()


def test_sine_next_is_many_to_many_with_twenty_steps():
    x, y = draw(sine_next, n=7)
    assert x.shape == (7, SINE_STEPS, 1) and y.shape == (7, SINE_STEPS, 1)


def test_sine_next_targets_are_the_noise_free_next_inputs():
    x, y = draw(sine_next, noise=0.0)
    np.testing.assert_allclose(y[:, :-1], x[:, 1:], atol=1e-15)


def test_sine_next_noise_moves_inputs_but_not_targets():
    x0, y0 = draw(sine_next, noise=0.0)
    x1, y1 = draw(sine_next, noise=0.3)
    np.testing.assert_array_equal(y0, y1)
    assert 0.25 < np.std(x1 - x0) < 0.35


def test_repeating_the_input_scores_the_documented_baseline():
    x, y = draw(sine_next, n=20_000, noise=0.0)
    assert np.mean((x - y) ** 2) == pytest.approx(0.156, abs=0.005)


@pytest.mark.parametrize("length", LENGTHS)
def test_adding_marks_one_value_in_each_half_and_sums_them(length):
    x, y = draw(make_adding(length), noise=0.0)
    assert x.shape == (64, length, 2) and y.shape == (64, 1)
    markers = x[:, :, 1]
    assert (markers.sum(axis=1) == 2).all()
    half = length // 2
    assert (markers[:, :half].sum(axis=1) == 1).all()
    np.testing.assert_allclose(y[:, 0], (x[:, :, 0] * markers).sum(axis=1))


def test_adding_constant_answer_scores_one_sixth():
    _, y = draw(make_adding(20), n=20_000, noise=0.0)
    assert np.mean((y - 1.0) ** 2) == pytest.approx(1 / 6, abs=0.01)


@pytest.mark.parametrize("length", LENGTHS)
def test_recall_labels_are_the_first_symbol(length):
    x, y = draw(make_recall(length), noise=0.0)
    assert x.shape == (64, length, 4) and y.shape == (64,) and y.dtype == np.int64
    np.testing.assert_array_equal(x[:, 0].argmax(axis=1), y)
    assert (x.sum(axis=2) == 1).all()  # one-hot at every step


def test_recall_classes_are_balanced_enough_to_make_guessing_a_quarter():
    _, y = draw(make_recall(10), n=8000)
    assert np.bincount(y, minlength=4) / 8000 == pytest.approx([0.25] * 4, abs=0.03)


@pytest.mark.parametrize("maker", [make_sine_next, make_adding, make_recall])
@pytest.mark.parametrize("length", [1, 0, 501, 2.5])
def test_impossible_lengths_are_refused_with_a_sentence(maker, length):
    with pytest.raises(ValueError, match="sequence length must be a whole number from 2 to 500"):
        maker(length)


def test_the_catalog_describes_what_the_generators_make():
    for task in SEQUENCE_TASKS.values():
        x, y = draw(task.generator(12))
        assert x.shape[1:] == (12, task.n_features)
        if task.many_to_many:
            assert y.shape[1] == 12
        elif task.task == "classification":
            assert y.ndim == 1 and y.max() < task.n_outputs
        else:
            assert y.shape[1:] == (task.n_outputs,)
