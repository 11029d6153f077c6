"""The network as the page draws it: links coloured by sign, as wide as |value| allows.

Links show the current weights or the latest step's gradients ∂L/∂w; each layer is scaled by its
own largest |value| (the page's default) or all by the global largest (``scale="global"``), so a
vanishing gradient shows as thin links *and* as the number under each layer. Every link trace
carries its numbers in ``customdata`` ([layer, source, target, value]) so the figure can be read
back — and tested — as data.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import plotly.graph_objects as go

from engine.trainer import Trainer
from propscope import palette

# Above this many links, links of nearly the same width and colour share a trace (32 levels);
# a trace per link would make plotly crawl.
MAX_SEPARATE_LINKS = 1500
LEVELS = 32


def link_values(trainer: Trainer, values: str = "weights") -> list[np.ndarray]:
    """Per layer, the (fan_in, units) matrix the links show: weights now, or the latest step's
    ∂L/∂w (what its update used)."""
    if values == "weights":
        return [layer.weight for layer in trainer.network.layers]
    if values == "gradients":
        record = trainer.last_record
        if record is None:
            raise ValueError("no step has run yet: call trainer.step() before showing gradients")
        return [trace.weight_grad for trace in record.layers]
    raise ValueError(f"values must be 'weights' or 'gradients', not {values!r}")


def bias_values(trainer: Trainer, values: str = "weights") -> list[np.ndarray]:
    """Per layer, the biases (or the latest step's ∂L/∂b) that colour the neurons."""
    if values == "weights":
        return [layer.bias for layer in trainer.network.layers]
    link_values(trainer, values)  # the same checks
    return [trace.bias_grad for trace in trainer.last_record.layers]


def layer_scales(matrices: list[np.ndarray], scale: str = "layer") -> list[float]:
    """Largest finite |value| per layer (or the global largest for every layer)."""
    per = [_max_abs(m) for m in matrices]
    if scale == "global":
        return [max(per, default=0.0)] * len(per)
    if scale != "layer":
        raise ValueError(f"scale must be 'layer' or 'global', not {scale!r}")
    return per


def _max_abs(m: np.ndarray) -> float:
    finite = np.abs(m[np.isfinite(m)])
    return float(finite.max()) if finite.size else 0.0


def node_positions(sizes: list[int]) -> list[list[tuple[float, float]]]:
    """(x, y) of each neuron: column c at x = c, units spread evenly around y = 0, top first."""
    tallest = max(sizes)
    columns = []
    for c, n in enumerate(sizes):
        offset = (tallest - n) / 2
        columns.append([(float(c), float(tallest - 1 - offset - i)) for i in range(n)])
    return columns


def network_figure(
    trainer: Trainer,
    values: str = "weights",
    scale: str = "layer",
    max_width: float = palette.LINK_MAX_WIDTH,
) -> go.Figure:
    """The network with its weights (or latest gradients) drawn like the page draws them."""
    matrices = link_values(trainer, values)
    biases = bias_values(trainer, values)
    scales = layer_scales(matrices, scale)
    sizes = trainer.network.sizes
    positions = node_positions(sizes)
    n_links = sum(m.size for m in matrices)
    fig = go.Figure()
    if n_links <= MAX_SEPARATE_LINKS:
        _add_links_one_by_one(fig, matrices, scales, positions, max_width)
    else:
        _add_links_grouped(fig, matrices, scales, positions, max_width)
    _add_nodes(fig, trainer, biases, layer_scales(biases, scale), positions)
    symbol = "∂L/∂w" if values == "gradients" else "w"
    for k, s in enumerate(scales):
        fig.add_annotation(
            x=k + 0.5, y=-1.0, text=f"max|{symbol}| {s:.3g}", showarrow=False, yanchor="top"
        )
    title = "Gradients ∂L/∂w of step " + str(trainer.last_record.step) if values == "gradients" \
        else f"Weights after step {trainer.step_count}"
    fig.update_layout(
        title=title,
        showlegend=False,
        plot_bgcolor="#ffffff",
        xaxis={"visible": False},
        yaxis={"visible": False, "scaleanchor": "x", "scaleratio": 0.6},
        margin={"l": 10, "r": 10, "t": 40, "b": 30},
    )
    return fig


def _link_trace(xs, ys, color, width, customdata, hover) -> go.Scatter:
    return go.Scatter(
        x=xs, y=ys, mode="lines", line={"color": color, "width": width},
        customdata=customdata, hovertext=hover, hoverinfo="text", name="link",
    )


def _order(matrix: np.ndarray) -> np.ndarray:
    """Link indices thinnest first, so strong links sit on top (as on the page)."""
    magnitude = np.where(np.isfinite(matrix), np.abs(matrix), np.inf).ravel()
    return np.argsort(magnitude, kind="stable")


def _add_links_one_by_one(fig, matrices, scales, positions, max_width) -> None:
    for k, matrix in enumerate(matrices):
        units = matrix.shape[1]
        for flat in _order(matrix):
            i, j = divmod(int(flat), units)
            value = float(matrix[i, j])
            (x0, y0), (x1, y1) = positions[k][i], positions[k + 1][j]
            fig.add_trace(_link_trace(
                [x0, x1], [y0, y1],
                palette.sign_color(value, scales[k], palette.LINK_ALPHA_FLOOR),
                palette.link_width(value, scales[k], max_width),
                [[k, i, j, value], [k, i, j, value]],
                f"layer {k + 1}: {i}→{j} = {value:.6g}",
            ))


def _add_links_grouped(fig, matrices, scales, positions, max_width) -> None:
    groups: dict[tuple, list] = defaultdict(list)
    for k, matrix in enumerate(matrices):
        units = matrix.shape[1]
        for flat in _order(matrix):
            i, j = divmod(int(flat), units)
            value = float(matrix[i, j])
            level = round(min(1.0, abs(value) / scales[k]) * LEVELS) if scales[k] > 0 else 0
            groups[(level, value < 0, k)].append((k, i, j, value))
    for (level, negative, k), links in sorted(groups.items()):
        representative = (-1 if negative else 1) * level / LEVELS * scales[k]
        xs, ys, data = [], [], []
        for k_, i, j, value in links:
            (x0, y0), (x1, y1) = positions[k_][i], positions[k_ + 1][j]
            xs += [x0, x1, None]
            ys += [y0, y1, None]
            data += [[k_, i, j, value]] * 2 + [[k_, i, j, value]]
        fig.add_trace(_link_trace(
            xs, ys,
            palette.sign_color(representative, scales[k], palette.LINK_ALPHA_FLOOR),
            palette.link_width(representative, scales[k], max_width),
            data, None,
        ))


def _add_nodes(fig, trainer, biases, bias_scales, positions) -> None:
    labels = trainer.problem.input_labels
    for c, column in enumerate(positions):
        if c == 0:
            colors = ["#f2f2f2"] * len(column)
            text = [str(label) for label in labels]
            custom = [None] * len(column)
        else:
            b = biases[c - 1]
            colors = [palette.sign_color(float(v), bias_scales[c - 1], 0.1) for v in b]
            text = [f"layer {c} · neuron {j} · bias {float(v):.6g}" for j, v in enumerate(b)]
            custom = [float(v) for v in b]
        fig.add_trace(go.Scatter(
            x=[p[0] for p in column], y=[p[1] for p in column], mode="markers+text" if c == 0
            else "markers", marker={"size": 26, "symbol": "square", "color": colors,
                                    "line": {"color": "#555555", "width": 1.5}},
            text=text if c == 0 else None, textposition="middle left", hovertext=text,
            hoverinfo="text", customdata=custom, name=f"column {c}",
        ))
