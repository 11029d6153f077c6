"""Categorical cross-entropy reads the softmax's own intermediates in a training step: the same
floats it would compute again, so every loss stays bit-identical (the goldens pin them too)."""

import numpy as np
import pytest

from engine.activations import ACTIVATIONS
from engine.losses import get_loss
from tests.engine.helpers import trainer_from


def _logits(dtype: str, scale: float) -> np.ndarray:
    rng = np.random.default_rng(7)
    return (rng.normal(size=(64, 5)) * scale).astype(dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("scale", [1.0, 30.0, 1000.0])
def test_cross_entropy_from_the_softmax_parts_equals_its_own_logsumexp(dtype, scale):
    z = _logits(dtype, scale)
    y = np.eye(5, dtype=dtype)[np.arange(64) % 5]
    softmax, cce = ACTIVATIONS["softmax"], get_loss("cce")
    a, parts = softmax.value_parts(z)
    assert np.array_equal(a, softmax.value(z))
    assert np.array_equal(cce.rows_from_parts(z, a, y, parts), cce.rows(z, a, y))
    # and the probabilities are the softmax as written before the parts were kept
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    assert np.array_equal(a, e / e.sum(axis=-1, keepdims=True))


def test_a_training_step_hands_the_softmax_parts_to_the_loss():
    trainer = trainer_from(
        data={"dataset": "spiral3"},
        network={"hidden": [{"units": 8, "activation": "tanh"}], "output_activation": "softmax"},
        training={"loss": "cce", "batch_size": 16},
    )
    record = trainer.step()
    out = record.layers[-1]
    shifted, sums = out.activation_parts
    assert np.array_equal(shifted, out.pre_activation - out.pre_activation.max(-1, keepdims=True))
    assert np.array_equal(record.sample_losses,
                          trainer.loss.rows(out.pre_activation, out.activation, record.targets))


def test_an_elementwise_output_keeps_no_parts():
    trainer = trainer_from(data={"dataset": "circle"})
    assert trainer.step().layers[-1].activation_parts is None
