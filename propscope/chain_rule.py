"""The chain rule of one weight as a table: every factor with the engine's number.

Rows come from :func:`engine.explain.explain_weight` — the same traced forward/backward code the
training step runs — and end with the batch gradient and its finite-difference check.
"""

from __future__ import annotations

import plotly.graph_objects as go

from engine.explain import WeightExplanation, explain_weight
from engine.trainer import Trainer


def chain_rule_rows(why: WeightExplanation) -> list[tuple[str, str, float]]:
    """(what, formula, value) rows, in the order the chain rule multiplies them."""
    j = why.target
    i = "bias" if why.source is None else str(why.source)
    a_i = "1 (bias)" if why.source is None else f"a_{i}"
    rows: list[tuple[str, str, float]] = [
        ("weight", f"w_{i},{j}" if why.source is not None else f"b_{j}", why.weight),
        ("upstream activation", a_i, why.upstream_activation),
        ("pre-activation", f"z_{j}", why.pre_activation),
        ("activation", f"a_{j} = f(z_{j})", why.activation),
    ]
    source = why.delta_source
    if source.kind == "hidden":
        rows.append(("Σ_m w_jm·δ_m from the next layer", "Σ w·δ", source.weighted_sum))
        if source.dropout_scale is not None:
            rows.append(("dropout mask", "m_j", source.dropout_scale))
    else:
        rows.append(("target", f"y_{j}", source.target))
    rows.append(("∂L/∂a", f"∂L/∂a_{j}", source.grad_activation))
    if source.activation_derivative is not None:
        rows.append(("activation slope", f"f′(z_{j})", source.activation_derivative))
    rows += [
        ("delta", f"δ_{j} = ∂L/∂z_{j}", why.delta),
        ("this sample's gradient", f"{a_i}·δ_{j}", why.sample_gradient),
        ("this sample's loss", "L", why.sample_loss),
        ("penalty gradient", "∂penalty/∂w", why.penalty_gradient),
        (f"batch gradient ({len(why.batch)} samples)", "mean a·δ + penalty", why.batch_gradient),
        ("finite difference", "(L(w+h) − L(w−h)) / 2h", why.finite_difference),
        ("relative error", "|analytic − numeric| / max", why.relative_error),
    ]
    return rows


def chain_rule_table(
    trainer: Trainer,
    layer: int,
    source: int | None,
    target: int,
    sample: int,
    at_step: bool = True,
) -> go.Figure:
    """A table of ∂L/∂w for one weight and one sample (by default at the latest step)."""
    why = explain_weight(trainer, layer, source, target, sample, at_step=at_step)
    rows = chain_rule_rows(why)
    fig = go.Figure(go.Table(
        header={"values": ["factor", "formula", "value"], "fill_color": "#eeeeee",
                "align": "left"},
        cells={"values": [[r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]],
               "align": "left", "format": [None, None, ".6g"]},
        customdata=[why.layer, why.source, why.target, why.sample],
    ))
    link = f"bias of neuron {target}" if source is None else f"weight {source}→{target}"
    when = f"step {why.step}" if why.weights == "step" else f"current weights (step {why.step})"
    fig.update_layout(
        title=f"Chain rule: layer {layer + 1}, {link}, sample {sample}, {when}",
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
    )
    return fig
