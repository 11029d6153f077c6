"""Every ready-made lesson shows what its card claims within the steps a learner watches: the
lesson's own playback speed × its watching time (``Lesson.steps_watched``; the times are in each
file and in docs/lessons.md). Where a claim is "X causes Y", the test also runs the same setup
without X (same data, same seeds) and checks Y is gone."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest

from engine.lessons import LESSONS
from engine.spec import Spec
from engine.trainer import Metrics, Trainer


def lesson(name: str, **changes) -> Trainer:
    """The lesson's trainer; ``changes`` edit its spec (dotted paths, e.g. network__initializer)."""
    raw = Spec.from_dict(LESSONS[name].spec).to_dict()
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        node = raw
        for key in parents:
            node = node[key]
        node[leaf] = value
    return Trainer(Spec.from_dict(raw))


def budget(name: str) -> int:
    return LESSONS[name].steps_watched


def curve(trainer: Trainer, steps: int, every: int) -> list[Metrics]:
    """Evaluations at step 0, every ``every`` steps and at ``steps``: what the charts show."""
    out = [trainer.evaluate()]
    while trainer.step_count < steps:
        trainer.train(min(every, steps - trainer.step_count))
        out.append(trainer.evaluate())
    return out


@pytest.mark.parametrize("name", list(LESSONS))
def test_every_lesson_builds_and_steps(name):
    trainer = lesson(name)
    with np.errstate(all="ignore"):
        trainer.step()
    assert LESSONS[name].look_for and LESSONS[name].title


# --- the forward pass and the chain rule (stepped phase by phase, one step a second) ----------


def test_the_forward_pass_runs_layer_by_layer_before_the_loss_and_anything_flows_back():
    trainer = lesson("forward_pass")
    for _ in range(budget("forward_pass")):
        phases = [trainer.next_phase()]
        while phases[-1].kind != "loss":
            phases.append(trainer.next_phase())
        # the loss has compared output and target; no delta exists yet anywhere
        assert all(trace.delta is None for trace in phases[0].record.layers)
        while phases[-1].kind != "update":
            phases.append(trainer.next_phase())
        n_layers = len(trainer.network.layers)
        assert [p.kind for p in phases[: n_layers + 1]] == ["forward"] * n_layers + ["loss"]
        record = phases[0].record
        a = record.inputs
        for k, phase in enumerate(phases[:n_layers]):
            trace = record.layers[k]
            z = a @ trace.weight + trace.bias
            np.testing.assert_allclose(phase.values["pre_activation"], z, rtol=1e-12, atol=1e-15)
            a = trainer.network.layers[k].activation.value(z)
            np.testing.assert_allclose(phase.values["activation"], a, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(record.outputs, a, rtol=1e-12)


def test_the_chain_rule_lesson_gradients_are_activation_times_delta():
    trainer = lesson("chain_rule")
    for _ in range(budget("chain_rule")):
        record = trainer.step()
        previous = record.inputs
        for k, trace in enumerate(record.layers):
            n = len(previous)
            np.testing.assert_allclose(trace.weight_grad, previous.T @ trace.delta / n, rtol=1e-10)
            if k + 1 < len(record.layers):
                after = record.layers[k + 1]
                activation = trainer.network.layers[k].activation
                f_prime = activation.derivative(trace.pre_activation, trace.activation)
                np.testing.assert_allclose(
                    trace.delta, f_prime * (after.delta @ after.weight.T), rtol=1e-10, atol=1e-15
                )
            previous = trace.activation


# --- learning rate ------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # it diverges: that is the lesson
def test_too_high_a_learning_rate_makes_the_loss_jump_up_and_diverge_while_watched():
    trainer = lesson("learning_rate_too_high")
    start = trainer.evaluate().train_loss
    trainer.train(10)
    assert trainer.evaluate().train_loss > 100 * start  # up, not down, within a second
    assert trainer.train(budget("learning_rate_too_high") - 10) == "diverged"


def test_too_low_a_learning_rate_keeps_the_loss_flat_for_all_the_steps_watched():
    steps = budget("learning_rate_too_low")
    slow = curve(lesson("learning_rate_too_low"), steps, every=steps // 10)
    assert all(m.train_loss > 0.9 * slow[0].train_loss for m in slow)
    assert all(m.test_accuracy < 0.8 for m in slow)  # the caption holds to the last step
    # the card's remedy: the default learning rate solves it in the same steps
    fast = lesson("learning_rate_too_low", training__optimizer__learning_rate=0.03)
    fast.train(steps)
    assert fast.evaluate().train_loss < 0.1 * slow[0].train_loss
    assert fast.evaluate().test_accuracy > 0.95


# --- gradients through depth, and initialisation ------------------------------------------------


def _grad_norms(trainer: Trainer, steps: int) -> np.ndarray:
    return np.array([trainer.step().grad_norms for _ in range(steps)])


def test_deep_sigmoid_gradients_vanish_towards_the_inputs_throughout_the_watch():
    norms = _grad_norms(lesson("vanishing_gradients"), budget("vanishing_gradients"))
    for window in np.array_split(norms, 5):  # every sixth of the watch
        median = np.median(window, axis=0)
        assert median[0] < median[-1] / 100


def test_relu_with_he_weights_keeps_gradients_within_an_order_of_magnitude_throughout():
    norms = _grad_norms(lesson("relu_keeps_gradients"), budget("relu_keeps_gradients"))
    for window in np.array_split(norms, 5):
        median = np.median(window, axis=0)
        assert median.min() > median.max() / 10


def _signal_sizes(trainer: Trainer) -> np.ndarray:
    """Root-mean-square output of each hidden layer over the training set."""
    outputs = trainer.network.activations(trainer.problem.x_train)[:-1]
    return np.array([np.sqrt(np.mean(a * a)) for a in outputs])


def test_xavier_weights_make_a_relu_signal_fade_with_depth_and_he_weights_do_not():
    steps = budget("xavier_vs_he")
    losses = {}
    for initializer, fades in (("xavier_uniform", True), ("he_uniform", False)):
        trainer = lesson("xavier_vs_he", network__initializer=initializer)
        for _ in range(steps + 1):  # before every step watched, and after the last
            sizes = _signal_sizes(trainer)
            ratio = sizes[-1] / sizes[0]
            assert (ratio < 0.25) if fades else (ratio > 0.3), (initializer, trainer.step_count)
            trainer.step()
        losses[initializer] = trainer.evaluate().train_loss
    assert LESSONS["xavier_vs_he"].spec["network"]["initializer"] == "xavier_uniform"
    assert losses["he_uniform"] < 0.6 * losses["xavier_uniform"]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # it diverges: that is the lesson
def test_deep_relu_stacks_with_unit_normal_weights_explode_and_shallow_or_he_ones_do_not():
    steps = budget("exploding_gradients")
    first = lesson("exploding_gradients").step()
    shallow = lesson("exploding_gradients", network__hidden=[{"units": 16, "activation": "relu"}])
    he = lesson("exploding_gradients", network__initializer="he_uniform")
    assert max(first.grad_norms) > 1e4 * max(he.step().grad_norms)
    assert max(first.grad_norms) > 1e3 * max(shallow.step().grad_norms)
    assert lesson("exploding_gradients").train(steps) == "diverged"
    for remedy in (shallow, he):
        assert remedy.train(steps) is None
        assert remedy.evaluate().train_loss < 0.5


def _zero_gradient_units(trainer: Trainer) -> list[np.ndarray]:
    """Per hidden layer, the units whose weight and bias gradients are exactly zero for every
    training sample (each sample traced alone: no batch sum can hide a non-zero)."""
    n = len(trainer.problem.x_train)
    traces = [trainer.trace_samples([i]).layers for i in range(n)]
    dead = []
    for k in range(len(trainer.network.layers) - 1):
        zero = np.ones(trainer.network.layers[k].units, dtype=bool)
        for layers in traces:
            zero &= (layers[k].weight_grad == 0).all(axis=0) & (layers[k].bias_grad == 0)
        dead.append(zero)
    return dead


def test_a_large_step_kills_relus_for_good_and_leaky_relus_survive():
    steps = budget("dead_relus")
    trainer = lesson("dead_relus")
    trainer.train(steps // 3)
    early = _zero_gradient_units(trainer)
    trainer.train(steps - steps // 3)
    dead = _zero_gradient_units(trainer)
    total = sum(layer.sum() for layer in dead)
    assert total >= 16  # at least half of the 32 ReLUs
    assert (dead[0] >= early[0]).all()  # a first-layer unit that died stays dead
    # a ReLU whose input is below zero for every sample outputs 0 and passes no gradient; the
    # others without gradient feed only such units
    outputs = trainer.network.activations(trainer.problem.x_train)
    for k, zero_gradient in enumerate(dead):
        silent = (outputs[k] == 0).all(axis=0)
        assert silent.sum() >= 4 and (zero_gradient >= silent).all()
    assert trainer.evaluate().train_loss > 0.1  # the survivors cannot fit the plane
    leaky = lesson(
        "dead_relus", network__hidden=[{"units": 16, "activation": "leaky_relu"}] * 2
    )
    leaky.train(steps)
    assert sum(layer.sum() for layer in _zero_gradient_units(leaky)) == 0
    assert leaky.evaluate().train_loss < 0.05


def test_equal_nonzero_weights_move_in_lockstep_and_never_bend_the_boundary():
    steps = budget("symmetry")
    trainer = lesson("symmetry")
    start = [layer.weight.copy() for layer in trainer.network.layers]
    trainer.train(steps)
    for layer, before in zip(trainer.network.layers, start, strict=True):
        scale = np.abs(layer.weight).max()
        assert np.ptp(layer.weight, axis=1).max() <= 1e-12 * scale  # units still identical
        assert np.ptp(layer.bias) <= 1e-12 * max(np.abs(layer.bias).max(), 1.0)
        assert np.abs(layer.weight - before).max() > 0.03  # … and they did move
    assert trainer.evaluate().test_accuracy < 0.8
    different = lesson("symmetry", network__initializer="xavier_uniform")
    different.train(steps)
    assert different.evaluate().test_accuracy > 0.95


# --- overfitting and its cures ------------------------------------------------------------------


@cache
def _watched(name: str, **changes) -> tuple[Metrics, ...]:
    """The lesson's train/test losses every 100 steps of its watch (cached: three lessons share
    the unregularised baseline)."""
    return tuple(curve(lesson(name, **changes), budget(name), every=100))


def test_the_overfitting_lesson_overfits_while_watched():
    run = _watched("overfitting")
    best = min(range(len(run)), key=lambda i: run[i].test_loss)
    assert run[best].step <= budget("overfitting") // 3  # the test loss turns up early …
    assert run[-1].test_loss > 3 * run[best].test_loss  # … and keeps climbing
    assert run[-1].train_loss < 0.02 < 0.5 < run[-1].test_loss
    assert run[-1].train_loss < run[best].train_loss  # while the train loss still falls


@pytest.mark.parametrize(
    ("remedy", "unregularised"),
    [
        ("l2_regularization", {"training__regularization": "none",
                               "training__regularization_rate": 0.0}),
        ("dropout", {"network__hidden": [{"units": 32, "activation": "relu"}] * 3}),
    ],
)
def test_l2_and_dropout_cure_overfitting_against_the_same_run_without_them(remedy, unregularised):
    baseline = lesson(remedy, **unregularised).spec.to_dict()
    assert baseline == Spec.from_dict(LESSONS["overfitting"].spec).to_dict()  # same data, seeds
    assert budget(remedy) == budget("overfitting")
    cured, plain = _watched(remedy)[-1], _watched("overfitting")[-1]
    assert cured.test_loss < 0.3 * plain.test_loss  # clearly lower, not only a narrower gap
    assert cured.test_accuracy >= plain.test_accuracy - 0.02
    assert cured.test_loss < 1.0


def test_early_stopping_the_validation_loss_bottoms_out_early_where_the_test_loss_does():
    steps = budget("early_stopping")
    run = curve(lesson("early_stopping"), steps, every=10)
    assert all(m.validation_loss is not None for m in run)
    best = min(range(len(run)), key=lambda i: run[i].validation_loss)
    assert 0 < run[best].step <= 15 * LESSONS["early_stopping"].speed  # within 15 s
    assert run[-1].validation_loss > 1.5 * run[best].validation_loss
    assert run[-1].train_loss < 0.6 * run[best].train_loss  # the train loss kept falling
    assert run[best].test_loss < 0.7 * run[-1].test_loss  # stopping there was the better net


def test_l1_drives_most_weights_to_nearly_zero_and_still_classifies():
    trainer = lesson("l1_sparsity")
    trainer.train(budget("l1_sparsity"))
    weights = np.concatenate([layer.weight.ravel() for layer in trainer.network.layers])
    assert (np.abs(weights) < 0.01).mean() > 0.5
    assert trainer.evaluate().test_accuracy > 0.95


# --- training mechanics -------------------------------------------------------------------------


def test_the_run_stops_by_itself_after_its_epochs_within_the_watch():
    steps = budget("epochs_and_stopping")
    trainer = lesson("epochs_and_stopping")
    n_train, batch = len(trainer.problem.x_train), trainer.batch_size
    epochs = trainer.spec.training.max_epochs
    assert n_train // batch == 10  # ten steps an epoch
    epoch_of_step = [trainer.step().epoch for _ in range(n_train // batch * 2)]
    assert epoch_of_step == [0] * 10 + [1] * 10
    assert trainer.train(steps) == "max_epochs"
    assert trainer.step_count == epochs * n_train // batch <= steps
    assert trainer.epochs_done == epochs
    assert trainer.evaluate().test_accuracy > 0.9
    # the other criterion: a target loss stops it as soon as the loss reaches it
    target = lesson("epochs_and_stopping", training__target_loss=0.3)
    assert target.train(steps) == "target_loss"
    assert target.step_count < trainer.step_count and target.evaluate().train_loss <= 0.3


def test_batch_size_one_makes_the_batch_loss_jump_far_more_than_a_large_batch():
    def jumpiness(batch_size: int) -> float:
        trainer = lesson("mini_batches", training__batch_size=batch_size)
        steps = budget("mini_batches")
        return float(np.std(np.diff([trainer.step().total_loss for _ in range(steps)])))

    assert jumpiness(1) > 5 * jumpiness(50)


def test_softmax_lesson_separates_three_classes():
    trainer = lesson("softmax")
    trainer.train(budget("softmax"))
    assert trainer.evaluate().test_accuracy > 0.9


def test_squared_features_separate_the_circle_without_hidden_layers():
    trainer = lesson("features")
    assert len(trainer.network.layers) == 1
    trainer.train(budget("features"))
    assert trainer.evaluate().test_accuracy > 0.95


def test_house_prices_reach_the_noise_floor_and_recover_the_price_per_unit():
    from engine.datasets import HOUSE_COEFFICIENTS

    trainer = lesson("house_prices")
    start = trainer.evaluate().test_loss
    trainer.train(budget("house_prices"))
    noise_variance = trainer.spec.data.noise**2
    assert start > 500 * noise_variance
    assert trainer.evaluate().test_loss < 1.5 * noise_variance
    # weights act on standardised inputs: divided by each input's scale, a price per unit
    layer = trainer.network.layers[0]
    per_unit = layer.weight[:, 0] / trainer.problem.standardizer.scale
    size, location, _ = HOUSE_COEFFICIENTS
    assert per_unit[0] == pytest.approx(size, rel=0.1)
    assert per_unit[1] == pytest.approx(location, rel=0.1)
    assert np.abs(layer.weight[2, 0]) < np.abs(layer.weight[:2, 0]).min() / 3


# --- convolutional networks: what the filters learn ---------------------------------------------


def _line_templates() -> dict[str, np.ndarray]:
    """Unit 3×3 bright-line patterns, one pixel wide with dark sides (2 on the line, −1 off it),
    in each of the three rows (``h``) and columns (``v``) of a kernel."""
    out = {}
    for i in range(3):
        row = -np.ones((3, 3))
        row[i] = 2.0
        out[f"h{i}"], out[f"v{i}"] = row / np.linalg.norm(row), row.T / np.linalg.norm(row)
    return out


LINES = _line_templates()


def _line_match(kernels: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Per 3×3 kernel (…, 3, 3): the cosine with its best bright-line template, and that
    template's direction (``h`` or ``v``). The kernel is not centred: a kernel that is negative
    everywhere (fires on no bar) is not a line detector however striped it is, and a bright
    stripe between dark sides scores near 1."""
    k = kernels.reshape(-1, 9)
    k = k / np.linalg.norm(k, axis=1, keepdims=True)
    names = list(LINES)
    cosines = k @ np.stack([LINES[name].ravel() for name in names]).T  # (n, 6)
    return cosines.max(axis=1), [names[j][0] for j in cosines.argmax(axis=1)]


def _kernels(trainer: Trainer) -> np.ndarray:
    """The first convolution's kernels, one 3×3 per filter (the shapes set has one channel)."""
    return trainer.network.layers[0].kernel[:, 0].copy()


def _line_detectors(trainer: Trainer, at_least: float = 0.9) -> dict[str, list[int]]:
    """The filters whose kernel matches a horizontal / vertical bright line to ``at_least``."""
    match, direction = _line_match(_kernels(trainer))
    found: dict[str, list[int]] = {"h": [], "v": []}
    for f in np.flatnonzero(match >= at_least):
        found[direction[f]].append(int(f))
    return found


def test_the_line_measure_is_rare_for_random_kernels_and_for_shuffled_trained_ones():
    """The measure the CNN lesson is held to is about the arrangement of a kernel's weights: it
    is low for He-uniform noise like the lesson's start, and for the trained line detectors
    with their own nine weights put in random places."""
    rng = np.random.default_rng(0)
    noise = rng.uniform(-1.0, 1.0, (20_000, 3, 3))
    assert (_line_match(noise)[0] >= 0.9).mean() < 0.01  # measured 0.2 %
    trainer = lesson("cnn_filters")
    trainer.train(budget("cnn_filters"))
    found = _line_detectors(trainer)
    assert found["h"] and found["v"]
    weights = _kernels(trainer).reshape(-1, 9)
    for f in found["h"] + found["v"]:
        shuffled = weights[f][np.stack([rng.permutation(9) for _ in range(2000)])]
        # a shuffle is a line again only when it puts the three bright weights on one row or
        # column: 6 of the 84 ways to place them, 7 %
        assert (_line_match(shuffled.reshape(-1, 3, 3))[0] >= 0.9).mean() < 0.1


def _peak_response_by_bar_direction(trainer: Trainer) -> tuple[np.ndarray, np.ndarray]:
    """Each filter's feature-map peak, averaged over the test set's horizontal bars and over
    its vertical ones (a bar's direction: its brightest row holds more ink than any column)."""
    problem = trainer.problem
    bars = problem.x_test[problem.y_test.argmax(axis=1) == 0]
    horizontal = bars[:, 0].sum(axis=2).max(axis=1) > bars[:, 0].sum(axis=1).max(axis=1)
    assert horizontal.sum() >= 30 and (~horizontal).sum() >= 30
    peaks = trainer.network.layers[0].infer(bars).max(axis=(2, 3))  # (bars, filters)
    return peaks[horizontal].mean(axis=0), peaks[~horizontal].mean(axis=0)


def test_cnn_kernels_turn_from_noise_into_line_detectors_that_fire_on_their_bars():
    name = "cnn_filters"
    trainer = lesson(name)
    start = trainer.evaluate().test_accuracy
    assert start < 0.4  # three shapes: chance is 1/3 (measured 26 %)
    assert _line_match(_kernels(trainer))[0].max() < 0.7  # noise: no kernel is a line (0.54)
    trainer.train(15 * int(LESSONS[name].speed))  # the card's "by 15 s"
    early = _line_detectors(trainer)
    assert early["h"] and early["v"]
    trainer.train(budget(name) - trainer.step_count)
    found = _line_detectors(trainer)
    assert found["h"] and found["v"]  # measured 0.96 and 0.96
    assert trainer.evaluate().test_accuracy > 0.85  # measured 93.7 %
    on_horizontal, on_vertical = _peak_response_by_bar_direction(trainer)
    for f in found["h"]:
        assert on_horizontal[f] > 3 * on_vertical[f]  # measured 7.3×
    for f in found["v"]:
        assert on_vertical[f] > 3 * on_horizontal[f]  # measured 8.6×
    # without the L2 term the network learns as well, but its kernels keep their noise
    plain = lesson(name, training__regularization="none", training__regularization_rate=0.0)
    plain.train(budget(name))
    assert plain.evaluate().test_accuracy > 0.85  # measured 94.7 %
    assert _line_match(_kernels(plain))[0].max() < 0.8  # measured 0.74
