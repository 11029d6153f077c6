"""Feature maps of a convolutional layer: what each filter sees in one image, and — from the
latest step's backward pass — the gradient ∂L/∂z flowing into each map.

Both come from the engine's trace of that sample (``trainer.trace_samples``), the same forward
and backward code a training step runs; nothing is recomputed here.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from engine.trainer import Trainer
from propscope import palette


def feature_map_values(
    trainer: Trainer, layer: int = 0, sample: int = 0, split: str = "train"
) -> dict[str, np.ndarray]:
    """The input image, the layer's kernels, feature maps a = f(z) and deltas ∂L/∂z of one
    sample (arrays of shape (C, H, W), (F, C, k, k), (F, H′, W′), (F, H′, W′))."""
    kind = trainer.network.layers[layer].kind
    if kind != "conv2d":
        raise ValueError(f"layer {layer} is a {kind} layer, not a convolution")
    traced = trainer.trace_samples([sample], split).layers[layer]
    return {
        "input": traced.input[0],
        "kernel": traced.kernel,
        "activation": traced.activation[0],
        "delta": traced.delta[0],
    }


def feature_maps_figure(
    trainer: Trainer, layer: int = 0, sample: int = 0, split: str = "train"
) -> go.Figure:
    """One column per filter: its kernel, its feature map and the gradient into it, in the
    page's diverging colours (each row scaled to its own largest magnitude)."""
    values = feature_map_values(trainer, layer, sample, split)
    kernels, maps, deltas = values["kernel"], values["activation"], values["delta"]
    filters = kernels.shape[0]
    rows = (("kernel (channel 1)", kernels[:, 0]), ("feature map a", maps), ("∂L/∂z", deltas))
    fig = make_subplots(
        rows=len(rows), cols=filters, horizontal_spacing=0.01, vertical_spacing=0.06,
        subplot_titles=[f"filter {f + 1}" for f in range(filters)] + [""] * filters * 2,
    )
    scale = palette.diverging_scale()
    for r, (name, stack) in enumerate(rows, start=1):
        top = float(np.abs(stack).max()) or 1.0
        for f in range(filters):
            fig.add_trace(
                go.Heatmap(
                    z=stack[f][::-1], zmin=-top, zmax=top, colorscale=scale, showscale=False,
                    name=f"{name} · filter {f + 1}",
                    hovertemplate=f"{name}<br>row %{{y}}, column %{{x}}: %{{z:.4g}}<extra></extra>",
                ),
                row=r, col=f + 1,
            )
        fig.update_yaxes(title_text=name, row=r, col=1)
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False)
    fig.update_layout(
        title=f"Layer {layer + 1} (convolution), training sample {sample}",
        height=170 * len(rows) + 80, margin={"l": 90, "r": 10, "t": 80, "b": 10},
    )
    return fig
