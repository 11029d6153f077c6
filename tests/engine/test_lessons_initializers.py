"""The two initialisers added for lessons draw what their catalog formula says."""

import numpy as np

from engine.initializers import CONSTANT_WEIGHT, get_initializer


def test_constant_gives_every_weight_the_same_nonzero_value_and_zero_bias():
    init = get_initializer("constant")
    weights = init.sample(np.random.default_rng(0), 5, 7)
    assert weights.shape == (5, 7) and (weights == CONSTANT_WEIGHT).all() and CONSTANT_WEIGHT != 0
    assert init.bias == 0.0


def test_standard_normal_ignores_the_fan_in():
    init = get_initializer("standard_normal")
    for fan_in in (4, 400):
        weights = init.sample(np.random.default_rng(1), fan_in, 500)
        assert abs(weights.std() - 1.0) < 0.05 and abs(weights.mean()) < 0.05
