"""Figures of a run, each drawn from the engine's own numbers (nothing recomputed here).

* :func:`boundary_figure` — the output over the input plane (decision boundary), or the fitted
  curve for one-input data, with the training and test points.
* :func:`history_figure` — loss per step (``trainer.history``) and, where evaluations were made,
  train/test loss and accuracy.
* :func:`grad_norm_figure` — per-layer gradient norms per step on a log scale (vanishing
  gradients show as lines far apart).
* :func:`histogram_figure` — the distribution of weights or latest gradients, per layer.
* :func:`compare_figure` — several runs' loss curves on one axis.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from engine.evaluation import evaluate_line, evaluate_plane
from engine.trainer import Trainer
from propscope import palette
from propscope.network_figure import link_values

_LAYOUT = {"plot_bgcolor": "#ffffff", "margin": {"l": 50, "r": 10, "t": 50, "b": 40}}


def _class_color(label: int) -> str:
    return palette.CLASS_COLORS[int(label) % len(palette.CLASS_COLORS)]


def boundary_figure(trainer: Trainer, resolution: int = 64) -> go.Figure:
    """What the network predicts everywhere, with the data on top."""
    dataset = trainer.dataset
    if dataset.info.plane:
        return _plane_figure(trainer, resolution)
    if dataset.x_train.shape[1] == 1:
        return _line_figure(trainer)
    raise ValueError(
        f"dataset {dataset.info.name!r} has {dataset.x_train.shape[1]} inputs: "
        "no plane or line to draw (use history_figure or network_figure)"
    )


def _plane_figure(trainer: Trainer, resolution: int) -> go.Figure:
    grid = evaluate_plane(trainer, resolution)
    lo, hi = grid.bounds
    step = (hi - lo) / resolution
    centres = lo + step * (np.arange(resolution) + 0.5)
    output = grid.output
    problem = trainer.problem
    fig = go.Figure()
    if output.shape[1] == 1:
        z = output[:, 0].reshape(resolution, resolution)
        mid = 0.5 if problem.encoding == "unit" else 0.0
        half = max(float(np.nanmax(np.abs(z - mid))), 1e-12)
        if problem.encoding in ("signed", "unit"):
            half = 1.0 if problem.encoding == "signed" else 0.5
        fig.add_trace(go.Heatmap(
            x=centres, y=centres[::-1], z=z, zmin=mid - half, zmax=mid + half,
            colorscale=palette.diverging_scale(), name="output", opacity=0.8,
            colorbar={"title": "output", "x": 1.02},
        ))
    else:
        classes = output.argmax(axis=1).reshape(resolution, resolution)
        n = output.shape[1]
        scale = []
        for c in range(n):
            scale += [[c / n, _class_color(c)], [(c + 1) / n, _class_color(c)]]
        fig.add_trace(go.Heatmap(
            x=centres, y=centres[::-1], z=classes, zmin=-0.5, zmax=n - 0.5, colorscale=scale,
            opacity=0.35, showscale=False, name="predicted class",
        ))
    for split, symbol in (("train", "circle"), ("test", "diamond")):
        x = getattr(trainer.dataset, f"x_{split}")
        y = getattr(trainer.dataset, f"y_{split}")
        if not len(x):
            continue
        if problem.is_classification:
            colors = [_class_color(label) for label in y]
        else:
            colors = y[:, 0]
        fig.add_trace(go.Scatter(
            x=x[:, 0], y=x[:, 1], mode="markers", name=split,
            marker={"color": colors, "symbol": symbol, "size": 7,
                    "line": {"color": "#111111", "width": 1 if split == "train" else 1.5},
                    **({} if problem.is_classification else {
                        "colorscale": palette.diverging_scale(), "cmid": 0.0})},
        ))
    fig.update_layout(
        title=f"{trainer.dataset.info.title}: the output after step {trainer.step_count}",
        xaxis={"title": "x1", "range": [lo, hi]},
        yaxis={"title": "x2", "range": [lo, hi], "scaleanchor": "x"},
        legend={"orientation": "h", "y": -0.12},
        **_LAYOUT,
    )
    return fig


def _line_figure(trainer: Trainer) -> go.Figure:
    line = evaluate_line(trainer)
    dataset = trainer.dataset
    fig = go.Figure()
    for split, symbol in (("train", "circle"), ("test", "circle-open")):
        x, y = getattr(dataset, f"x_{split}"), getattr(dataset, f"y_{split}")
        if len(x):
            fig.add_trace(go.Scatter(
                x=x[:, 0], y=y[:, 0], mode="markers", name=split,
                marker={"symbol": symbol, "color": palette.CLASS_COLORS[0], "size": 6},
            ))
    fig.add_trace(go.Scatter(
        x=line.x, y=line.output[:, 0], mode="lines", name="network",
        line={"color": palette.hex_color(palette.POS), "width": 3},
    ))
    fig.update_layout(
        title=f"{dataset.info.title}: the fit after step {trainer.step_count}",
        xaxis={"title": dataset.input_names[0]}, yaxis={"title": dataset.target_name},
        **_LAYOUT,
    )
    return fig


def history_figure(trainer: Trainer) -> go.Figure:
    """Loss of every kept step; train/test loss and accuracy at each evaluation, if any."""
    history = trainer.history
    evaluations = history.evaluations
    accuracy = any(m.train_accuracy is not None for m in evaluations)
    fig = make_subplots(
        rows=2 if accuracy else 1, cols=1, shared_xaxes=True,
        subplot_titles=("loss", "accuracy") if accuracy else ("loss",),
    )
    fig.add_trace(go.Scatter(
        x=history.steps, y=history.loss, mode="lines", name="batch loss (data + penalty)",
        line={"color": "#999999", "width": 1},
    ), row=1, col=1)
    if evaluations:
        steps = [m.step for m in evaluations]
        fig.add_trace(go.Scatter(
            x=steps, y=[m.train_loss for m in evaluations], mode="lines+markers",
            name="train loss", line={"color": palette.hex_color(palette.POS)},
        ), row=1, col=1)
        if any(m.test_loss is not None for m in evaluations):
            fig.add_trace(go.Scatter(
                x=steps, y=[m.test_loss for m in evaluations], mode="lines+markers",
                name="test loss", line={"color": palette.hex_color(palette.NEG), "dash": "dash"},
            ), row=1, col=1)
        if accuracy:
            fig.add_trace(go.Scatter(
                x=steps, y=[m.train_accuracy for m in evaluations], mode="lines+markers",
                name="train accuracy", line={"color": palette.hex_color(palette.POS)},
            ), row=2, col=1)
            fig.add_trace(go.Scatter(
                x=steps, y=[m.test_accuracy for m in evaluations], mode="lines+markers",
                name="test accuracy",
                line={"color": palette.hex_color(palette.NEG), "dash": "dash"},
            ), row=2, col=1)
            fig.update_yaxes(range=[0, 1.02], row=2, col=1)
    fig.update_yaxes(type="log", row=1, col=1)
    fig.update_xaxes(title="step", row=2 if accuracy else 1, col=1)
    fig.update_layout(title="Training history", **_LAYOUT)
    return fig


def grad_norm_figure(trainer: Trainer) -> go.Figure:
    """‖(∂L/∂W, ∂L/∂b)‖ of each layer per kept step, log scale."""
    history = trainer.history
    norms = np.asarray(history.grad_norms, dtype=float).reshape(len(history), -1)
    fig = go.Figure()
    for k in range(norms.shape[1]):
        fig.add_trace(go.Scatter(
            x=history.steps, y=norms[:, k], mode="lines", name=f"layer {k + 1}",
            line={"color": _class_color(k)},
        ))
    fig.update_layout(
        title="Gradient norm per layer", xaxis={"title": "step"},
        yaxis={"title": "‖∂L/∂θ‖", "type": "log"}, **_LAYOUT,
    )
    return fig


def histogram_figure(trainer: Trainer, values: str = "weights", bins: int = 40) -> go.Figure:
    """How the weights (or the latest step's ∂L/∂w) of each layer are distributed."""
    matrices = link_values(trainer, values)
    fig = go.Figure()
    for k, matrix in enumerate(matrices):
        fig.add_trace(go.Histogram(
            x=matrix.ravel(), name=f"layer {k + 1}", nbinsx=bins, opacity=0.6,
            marker={"color": _class_color(k)},
        ))
    symbol = "∂L/∂w" if values == "gradients" else "w"
    fig.update_layout(
        title=f"Distribution of {symbol} per layer", barmode="overlay",
        xaxis={"title": symbol}, yaxis={"title": "count"}, **_LAYOUT,
    )
    return fig


def compare_figure(runs: Mapping[str, Trainer], metric: str = "loss") -> go.Figure:
    """Several runs side by side: one curve per run of a history column (loss, data_loss,
    penalty) per step, log scale."""
    if metric not in ("loss", "data_loss", "penalty"):
        raise ValueError(f"metric must be loss, data_loss or penalty, not {metric!r}")
    fig = go.Figure()
    for k, (name, trainer) in enumerate(runs.items()):
        history = trainer.history
        fig.add_trace(go.Scatter(
            x=history.steps, y=getattr(history, metric), mode="lines", name=name,
            line={"color": _class_color(k)},
        ))
    fig.update_layout(
        title=f"Runs compared: {metric.replace('_', ' ')}", xaxis={"title": "step"},
        yaxis={"title": metric, "type": "log"}, **_LAYOUT,
    )
    return fig
