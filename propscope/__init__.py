"""Propscope in a notebook: the engine plus figures drawn with the page's colours.

    import propscope as ps
    trainer = ps.make_trainer(data={"dataset": "xor"})
    ps.fit(trainer, 500)
    ps.network_figure(trainer, values="gradients").show()

Every figure is built from the engine's own numbers (see docs/notebook.md).
"""

from engine.evaluation import evaluate_line, evaluate_plane
from engine.explain import explain_weight
from engine.spec import Spec, SpecError
from engine.trainer import Trainer
from propscope.animation import animate, save_animation, scenes_from_recording, scenes_from_trainer
from propscope.chain_rule import chain_rule_rows, chain_rule_table
from propscope.code_export import export_code, numpy_script, torch_script
from propscope.feature_maps import feature_map_values, feature_maps_figure
from propscope.figures import (
    boundary_figure,
    compare_figure,
    grad_norm_figure,
    histogram_figure,
    history_figure,
)
from propscope.network_figure import network_figure
from propscope.run import fit, lesson, make_trainer


def show(trainer: Trainer, height: int | None = None, link_mode: str = "weights"):
    """The page's live network picture in JupyterLab — dense, convolutional or recurrent
    (propscope/widget.py; needs anywidget). height: px, or None for the picture's own."""
    from propscope.widget import show as _show

    return _show(trainer, height=height, link_mode=link_mode)


__all__ = [
    "Spec",
    "SpecError",
    "Trainer",
    "animate",
    "feature_map_values",
    "feature_maps_figure",
    "boundary_figure",
    "chain_rule_rows",
    "chain_rule_table",
    "compare_figure",
    "evaluate_line",
    "evaluate_plane",
    "explain_weight",
    "export_code",
    "fit",
    "grad_norm_figure",
    "histogram_figure",
    "history_figure",
    "lesson",
    "make_trainer",
    "network_figure",
    "numpy_script",
    "save_animation",
    "scenes_from_recording",
    "scenes_from_trainer",
    "show",
    "torch_script",
]
