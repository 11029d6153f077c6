"""Each notebook figure shows the engine's numbers: read the traces back and compare."""

import numpy as np
import pytest

import propscope as ps
from engine.evaluation import plane_points
from propscope import palette


@pytest.fixture(scope="module")
def trained():
    trainer = ps.make_trainer(data={"dataset": "xor", "noise": 0.1},
                              network={"hidden": [{"units": 4}, {"units": 3}]})
    ps.fit(trainer, 120, evaluate_every=40)
    return trainer


def _links(fig):
    return [t for t in fig.data if t.name == "link"]


def test_network_links_carry_every_weight_with_the_page_colour_and_width(trained):
    fig = ps.network_figure(trained)
    links = _links(fig)
    assert len(links) == sum(layer.weight.size for layer in trained.network.layers)
    for trace in links:
        k, i, j, value = trace.customdata[0]
        weight = trained.network.layers[k].weight
        scale = float(np.abs(weight).max())
        assert value == weight[i, j]
        assert trace.line.width == palette.link_width(value, scale)
        assert trace.line.color == palette.sign_color(value, scale, palette.LINK_ALPHA_FLOOR)


def test_network_gradients_are_the_latest_steps_and_global_scale_is_shared(trained):
    fig = ps.network_figure(trained, values="gradients", scale="global")
    grads = [t.weight_grad for t in trained.last_record.layers]
    top = max(float(np.abs(g).max()) for g in grads)
    for trace in _links(fig):
        k, i, j, value = trace.customdata[0]
        assert value == grads[k][i, j]
        assert trace.line.width == palette.link_width(value, top)


def test_the_strongest_links_are_drawn_last(trained):
    values = [abs(t.customdata[0][3]) for t in _links(ps.network_figure(trained))
              if t.customdata[0][0] == 0]
    assert values == sorted(values)


def test_gradients_before_any_step_are_a_clear_error():
    with pytest.raises(ValueError, match="no step"):
        ps.network_figure(ps.make_trainer(), values="gradients")


def test_a_wide_network_groups_links_but_keeps_every_value():
    trainer = ps.make_trainer(network={"hidden": [{"units": 60}, {"units": 40}]})
    fig = ps.network_figure(trainer)
    seen = {}
    for trace in _links(fig):
        for k, i, j, value in trace.customdata:
            seen[(k, i, j)] = value
    assert len(seen) == 2 * 60 + 60 * 40 + 40
    assert all(trainer.network.layers[k].weight[i, j] == v for (k, i, j), v in seen.items())
    assert len(_links(fig)) < 200


def test_decision_boundary_heatmap_is_the_network_output_over_the_plane(trained):
    fig = ps.boundary_figure(trained, resolution=24)
    heat = fig.data[0]
    grid = ps.evaluate_plane(trained, 24)
    np.testing.assert_array_equal(np.asarray(heat.z), grid.output[:, 0].reshape(24, 24))
    points = plane_points(24, grid.bounds)
    np.testing.assert_array_equal(heat.x, points[:24, 0])
    np.testing.assert_array_equal(heat.y, points[::24, 1])
    train = next(t for t in fig.data if t.name == "train")
    np.testing.assert_array_equal(train.x, trained.dataset.x_train[:, 0])
    assert list(train.marker.color) == [palette.CLASS_COLORS[c] for c in trained.dataset.y_train]


def test_three_classes_colour_the_plane_by_predicted_class():
    trainer = ps.make_trainer(data={"dataset": "blobs4"},
                              network={"output_activation": "softmax"},
                              training={"loss": "cce"})
    trainer.train(20)
    fig = ps.boundary_figure(trainer, resolution=16)
    expected = ps.evaluate_plane(trainer, 16).output.argmax(axis=1).reshape(16, 16)
    np.testing.assert_array_equal(np.asarray(fig.data[0].z), expected)


def test_one_input_data_draws_the_fitted_curve():
    trainer = ps.make_trainer(data={"dataset": "sine"}, network={"output_activation": "linear"})
    trainer.train(10)
    curve = next(t for t in ps.boundary_figure(trainer).data if t.name == "network")
    line = ps.evaluate_line(trainer)
    np.testing.assert_array_equal(curve.x, line.x)
    np.testing.assert_array_equal(curve.y, line.output[:, 0])


def test_history_figure_plots_the_kept_losses_and_the_evaluations(trained):
    fig = ps.history_figure(trained)
    by_name = {t.name: t for t in fig.data}
    assert list(by_name["batch loss (data + penalty)"].y) == trained.history.loss
    evaluations = trained.history.evaluations
    assert [m.step for m in evaluations] == [0, 40, 80, 120]
    assert list(by_name["test accuracy"].y) == [m.test_accuracy for m in evaluations]
    assert list(by_name["train loss"].y) == [m.train_loss for m in evaluations]


def test_gradient_norm_figure_has_one_line_per_layer(trained):
    fig = ps.grad_norm_figure(trained)
    assert len(fig.data) == 3
    for k, trace in enumerate(fig.data):
        assert list(trace.y) == [norms[k] for norms in trained.history.grad_norms]
    assert fig.layout.yaxis.type == "log"


def test_histograms_hold_each_layers_values(trained):
    weights = ps.histogram_figure(trained)
    grads = ps.histogram_figure(trained, values="gradients")
    for k, layer in enumerate(trained.network.layers):
        np.testing.assert_array_equal(weights.data[k].x, layer.weight.ravel())
        gradient = trained.last_record.layers[k].weight_grad
        np.testing.assert_array_equal(grads.data[k].x, gradient.ravel())


def test_chain_rule_table_lists_the_explanations_numbers(trained):
    fig = ps.chain_rule_table(trained, layer=1, source=2, target=1, sample=5)
    why = ps.explain_weight(trained, 1, 2, 1, 5)
    names, _, values = fig.data[0].cells.values
    table = dict(zip(names, values, strict=True))
    assert table["delta"] == why.delta
    assert table["upstream activation"] == why.upstream_activation
    assert table["this sample's gradient"] == why.upstream_activation * why.delta
    assert table["finite difference"] == why.finite_difference
    assert table["relative error"] < 1e-6


def test_compare_figure_has_a_curve_per_run():
    runs = {}
    for rate in (0.01, 0.3):
        trainer = ps.make_trainer(training={"optimizer": {"learning_rate": rate}})
        trainer.train(25)
        runs[f"η={rate}"] = trainer
    fig = ps.compare_figure(runs)
    assert [t.name for t in fig.data] == ["η=0.01", "η=0.3"]
    for trace, trainer in zip(fig.data, runs.values(), strict=True):
        assert list(trace.y) == trainer.history.loss
