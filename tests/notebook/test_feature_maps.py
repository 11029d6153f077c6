"""The feature-maps figure shows the engine's traced kernels, maps and deltas of one image."""

import numpy as np
import pytest

import propscope as ps
from engine.spec import Spec
from engine.trainer import Trainer
from tests.engine.test_convolutional_networks import cnn


def _trained() -> Trainer:
    trainer = Trainer(Spec.from_dict(cnn()))
    for _ in range(20):
        trainer.step()
    return trainer


def test_the_figure_draws_each_filters_kernel_map_and_delta_from_the_trace():
    trainer = _trained()
    fig = ps.feature_maps_figure(trainer, layer=0, sample=5)
    traced = trainer.trace_samples([5]).layers[0]
    assert len(fig.data) == 3 * 8
    kernel, amap, delta = fig.data[2], fig.data[8 + 2], fig.data[16 + 2]  # filter 3
    np.testing.assert_array_equal(np.asarray(kernel.z), traced.kernel[2, 0][::-1])
    np.testing.assert_array_equal(np.asarray(amap.z), traced.activation[0, 2][::-1])
    np.testing.assert_array_equal(np.asarray(delta.z), traced.delta[0, 2][::-1])
    assert amap.zmax == float(np.abs(traced.activation[0]).max())


def test_the_values_are_the_traced_sample_and_the_current_kernels():
    trainer = _trained()
    values = ps.feature_map_values(trainer, sample=3)
    assert values["input"].shape == (1, 8, 8) and values["activation"].shape == (8, 8, 8)
    np.testing.assert_array_equal(values["kernel"], trainer.network.layers[0].params["kernel"])
    np.testing.assert_array_equal(values["input"], trainer.problem.x_train[3])


def test_a_layer_that_is_not_a_convolution_is_refused():
    with pytest.raises(ValueError, match="not a convolution"):
        ps.feature_map_values(_trained(), layer=1)
