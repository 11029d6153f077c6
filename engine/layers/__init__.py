"""Layer families behind one protocol (:mod:`engine.layers.base`), one file per family."""

from engine.layers.base import Layer, ParamLayout, layouts_for
from engine.layers.conv import Conv2D, ConvTrace, KernelTerm, kernel_weight_terms
from engine.layers.dense import Dense, LayerTrace
from engine.layers.flatten import Flatten, FlattenTrace
from engine.layers.pool import AvgPool2D, MaxPool2D, PoolTrace

__all__ = [
    "AvgPool2D",
    "Conv2D",
    "ConvTrace",
    "Dense",
    "Flatten",
    "FlattenTrace",
    "KernelTerm",
    "Layer",
    "LayerTrace",
    "MaxPool2D",
    "ParamLayout",
    "PoolTrace",
    "kernel_weight_terms",
    "layouts_for",
]
