"""Layer families behind one protocol (:mod:`engine.layers.base`), one file per family."""

from engine.layers.base import Layer, ParamLayout, layouts_for
from engine.layers.conv import Conv2D, ConvTrace, KernelTerm, kernel_weight_terms
from engine.layers.dense import Dense, LayerTrace
from engine.layers.flatten import Flatten, FlattenTrace
from engine.layers.pool import AvgPool2D, MaxPool2D, PoolTrace
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
    "AvgPool2D",
    "Conv2D",
    "ConvTrace",
    "Dense",
    "Flatten",
    "FlattenTrace",
    "KernelTerm",
    "LSTMTrace",
    "Layer",
    "LayerTrace",
    "MaxPool2D",
    "ParamLayout",
    "PoolTrace",
    "RecurrentTerm",
    "RecurrentTrace",
    "kernel_weight_terms",
    "layouts_for",
    "recurrent_weight_terms",
]
