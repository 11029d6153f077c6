"""Layer families behind one protocol (:mod:`engine.layers.base`), one file per family."""

from engine.layers.base import Layer, ParamLayout, layouts_for
from engine.layers.dense import Dense, LayerTrace

__all__ = ["Dense", "Layer", "LayerTrace", "ParamLayout", "layouts_for"]
