"""Explaining a kernel weight (a sum over output positions) and a recurrent weight (a sum over
time steps): the addends are the trace's numbers, they sum to the step's gradient, and a finite
difference agrees."""

import numpy as np
import pytest

from engine.explain_parameter import SHOWN_TERMS, explain_parameter
from engine.spec import Spec
from engine.trainer import Trainer
from tests.engine.test_convolutional_networks import cnn
from tests.engine.test_recurrent_networks import RECALL_LSTM, SINE_RNN


def _stepped(raw: dict, steps: int = 4) -> Trainer:
    trainer = Trainer(Spec.from_dict(raw))
    for _ in range(steps):
        trainer.step()
    return trainer


def test_a_kernel_weight_is_a_sum_over_the_output_positions_it_touched():
    trainer = _stepped(cnn(regularization="l2", regularization_rate=0.01))
    record = trainer.last_record
    sample = int(record.batch_indices[3])
    e = explain_parameter(trainer, 0, "kernel", (5, 0, 1, 2), sample)
    assert e.sum_over == "output positions" and e.terms_total == 64
    assert len(e.terms) == SHOWN_TERMS
    assert [abs(t.product) for t in e.terms] == sorted(
        (abs(t.product) for t in e.terms), reverse=True
    )
    assert all(t.product == t.upstream * t.delta for t in e.terms)
    assert e.sample_gradient == pytest.approx(sum(t.product for t in e.terms) + e.rest, rel=1e-12)
    # the batch gradient is the one the update applied, penalty included
    assert e.batch_gradient == record.layers[0].kernel_grad[5, 0, 1, 2]
    assert e.penalty_gradient == pytest.approx(0.01 * record.layers[0].kernel[5, 0, 1, 2])
    assert e.relative_error < 1e-6


def test_the_sample_terms_match_the_traced_sample_gradient():
    trainer = _stepped(cnn())
    e = explain_parameter(trainer, 0, "kernel", (2, 0, 0, 0), sample=7, at_step=False)
    traced = trainer.trace_samples([7]).layers[0]
    assert e.sample_gradient == pytest.approx(traced.kernel_grad[2, 0, 0, 0], rel=1e-12)


def test_a_conv_bias_is_the_sum_of_its_filters_deltas():
    trainer = _stepped(cnn())
    e = explain_parameter(trainer, 0, "bias", (3,), sample=0, at_step=False)
    traced = trainer.trace_samples([0]).layers[0]
    assert e.sample_gradient == pytest.approx(traced.delta[0, 3].sum(), rel=1e-12)
    assert e.relative_error < 1e-6


def test_a_recurrent_weight_is_a_sum_over_time_steps_in_order():
    trainer = _stepped(SINE_RNN)
    record = trainer.last_record
    sample = int(record.batch_indices[0])
    e = explain_parameter(trainer, 0, "weight_hh", (3, 7), sample)
    assert e.sum_over == "time steps" and e.terms_total == len(e.terms) == 20
    assert [t.at for t in e.terms[:3]] == [(0,), (1,), (2,)]
    assert e.terms[0].upstream == 0.0  # h₋₁ = 0
    assert e.batch_gradient == record.layers[0].weight_hh_grad[3, 7]
    assert e.relative_error < 1e-6


def _untruncated(raw: dict) -> dict:
    layers = [dict(layer) for layer in raw["network"]["layers"]]
    layers[0]["truncation"] = None
    return {**raw, "network": {**raw["network"], "layers": layers}}


def test_input_weights_and_biases_of_an_lstm_are_explained_too():
    trainer = _stepped(_untruncated(RECALL_LSTM))
    for name, index in [("weight_ih", (1, 30)), ("bias", (5,)), ("weight_hh", (0, 40))]:
        e = explain_parameter(trainer, 0, name, index, sample=2, at_step=False)
        assert e.relative_error < 1e-6, (name, e)
        traced = trainer.trace_samples([2]).layers[0]
        assert e.sample_gradient == pytest.approx(
            getattr(traced, f"{name}_grad")[index], rel=1e-9, abs=1e-15
        )


def test_truncated_bptt_is_flagged_and_differs_from_the_true_gradient():
    trainer = _stepped(RECALL_LSTM)  # truncation 3 on sequences of 6 steps
    e = explain_parameter(trainer, 0, "weight_ih", (1, 30), sample=2, at_step=False)
    assert e.truncated
    assert e.relative_error > 1e-3
    full = _stepped(_untruncated(RECALL_LSTM))
    assert not explain_parameter(full, 0, "weight_ih", (1, 30), sample=2).truncated


@pytest.mark.parametrize(
    ("layer", "name", "index", "message"),
    [
        (9, "kernel", (0, 0, 0, 0), "does not exist"),
        (1, "kernel", (0, 0, 0, 0), "has no parameter"),
        (0, "kernel", (8, 0, 0, 0), "outside it"),
        (0, "kernel", (0, 0), "outside it"),
    ],
)
def test_bad_requests_are_refused_with_a_reason(layer, name, index, message):
    trainer = _stepped(cnn(), steps=1)
    with pytest.raises(ValueError, match=message):
        explain_parameter(trainer, layer, name, index, sample=0)


def test_explaining_leaves_every_parameter_untouched():
    trainer = _stepped(SINE_RNN)
    before = trainer.network.flat.copy()
    explain_parameter(trainer, 0, "weight_hh", (1, 1), sample=0)
    assert np.array_equal(before, trainer.network.flat)
