"""Layer families behind one protocol (:mod:`engine.layers.base`), one file per family."""

from engine.layers.base import Layer, ParamLayout, layouts_for
from engine.layers.dense import Dense, LayerTrace
from engine.layers.recurrent import (
    LSTM,
    RNN,
    LSTMTrace,
    RecurrentTerm,
    RecurrentTrace,
    recurrent_weight_terms,
)

__all__ = [
    "LSTM",
    "RNN",
    "Dense",
    "LSTMTrace",
    "Layer",
    "LayerTrace",
    "ParamLayout",
    "RecurrentTerm",
    "RecurrentTrace",
    "layouts_for",
    "recurrent_weight_terms",
]
