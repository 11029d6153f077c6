"""A stack of layers whose parameters live in one flat vector.

Every layer's named parameters are views into ``flat`` (W₁, b₁, K₂, b₂, …, in layer order).
Optimisers then update all parameters with a handful of array operations instead of a few per
layer, and a step's gradient vector has the same layout, so per-layer gradient norms are one
``reduceat``.
"""

from __future__ import annotations

import numpy as np

from engine.initializers import get_initializer
from engine.layers.base import Layer, ParamLayout, layouts_for


class Network:
    def __init__(self, layers: list[Layer], flat: np.ndarray) -> None:
        self.layers = layers
        self.layouts: list[ParamLayout] = layouts_for(layers)
        size = sum(layout.size for layout in self.layouts)
        if flat.shape != (size,):
            raise ValueError(f"the network has {size} parameters, not {flat.size}")
        # Layers with parameters, and where each starts: per-layer gradient norms in one call.
        self.param_layers = [k for k, layout in enumerate(self.layouts) if layout.size]
        self.layer_starts = np.array(
            [self.layouts[k].start for k in self.param_layers], dtype=np.intp
        )
        self.bind(flat)

    @classmethod
    def build(cls, layers: list[Layer], initializer: str, dtype: str, seed: int) -> Network:
        """Initialise every layer's parameters from one seeded stream, in layer order."""
        init = get_initializer(initializer)
        dtype = np.dtype(dtype)
        rng = np.random.default_rng(seed)
        parts = []
        for layer in layers:
            params = layer.initial_parameters(rng, init, dtype)
            parts.extend(np.asarray(params[name], dtype=dtype).ravel() for name in params)
        flat = np.concatenate(parts) if parts else np.empty(0, dtype=dtype)
        return cls(layers, flat)

    def bind(self, flat: np.ndarray, views: list[dict[str, np.ndarray]] | None = None) -> None:
        """Make ``flat`` the live parameter vector (the previous one is left untouched); ``views``
        are its per-layer views when they are made already (engine.reuse)."""
        self.flat = flat
        if views is None:
            views = [layout.views(flat) for layout in self.layouts]
        for layer, params in zip(self.layers, views, strict=True):
            layer.bind(params)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.layers[0].input_shape

    @property
    def sizes(self) -> list[int]:
        """Units per layer of a dense stack, inputs first: [n_in, h1, …, n_out]."""
        return [self.layers[0].input_shape[-1]] + [layer.output_shape[-1] for layer in self.layers]

    @property
    def parameter_count(self) -> int:
        return self.flat.size

    @property
    def kinds(self) -> list[str]:
        return [layer.kind for layer in self.layers]

    def predict(self, x: np.ndarray) -> np.ndarray:
        for layer in self.layers:
            x = layer.infer(x)
        return x

    def activations(self, x: np.ndarray) -> list[np.ndarray]:
        """Every layer's output for inputs x, evaluation mode (no dropout)."""
        outputs = []
        for layer in self.layers:
            x = layer.infer(x)
            outputs.append(x)
        return outputs

    def parameters(self) -> list[np.ndarray]:
        """Every named parameter in flat-vector order ([W₁, b₁, W₂, b₂, …] for a dense stack)."""
        return [view for layout in self.layouts for view in layout.views(self.flat).values()]

    def parameter_names(self) -> list[tuple[int, str]]:
        """(layer index, parameter name) for each entry of :meth:`parameters`."""
        return [(k, slot.name) for k, layout in enumerate(self.layouts) for slot in layout.slots]

    def set_parameters(self, params: list[np.ndarray]) -> None:
        for view, value in zip(self.parameters(), params, strict=True):
            view[...] = value

    def regularized(self, flat: np.ndarray | None = None) -> list[np.ndarray]:
        """The penalised parameters (weights and kernels, never biases), in layer order."""
        flat = self.flat if flat is None else flat
        return [
            layout.view(name, flat)
            for layer, layout in zip(self.layers, self.layouts, strict=True)
            for name in layer.regularized
        ]

    def set_parameter(self, layer: int, source: int | None, target: int, value: float) -> None:
        """Edit one dense weight (or the bias when source is None) by hand."""
        dense = self.layers[layer]
        if source is None:
            dense.bias[target] = value
        else:
            dense.weight[source, target] = value

    def all_finite(self) -> bool:
        return bool(np.isfinite(self.flat).all())
