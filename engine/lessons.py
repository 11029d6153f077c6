"""Ready-made lessons: one setup per idea a course teaches, and what to look at.

Each lesson is a partial spec (the rest takes the defaults) plus a sentence telling the learner
where the idea becomes visible. The tests in ``tests/engine/test_lessons.py`` train every lesson
and check that it really shows what it claims (the vanishing gradients do vanish, the
overfitting net does overfit …), so a teacher can trust the button.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Lesson:
    name: str
    title: str
    concept: str
    look_for: str
    spec: dict[str, Any] = field(default_factory=dict)


def _hidden(units: int, activation: str, layers: int, dropout: float = 0.0) -> list[dict]:
    return [{"units": units, "activation": activation, "dropout": dropout}] * layers


_OVERFIT_DATA = {"dataset": "spiral", "noise": 0.3, "train_ratio": 0.1, "n_samples": 400}
_OVERFIT_NET = {"hidden": _hidden(16, "relu", 3), "initializer": "he_uniform"}
_ADAM = {"name": "adam", "learning_rate": 0.01}

LESSONS: dict[str, Lesson] = {
    lesson.name: lesson
    for lesson in (
        Lesson(
            "chain_rule",
            "The chain rule, one weight at a time",
            "backpropagation",
            "Step phase by phase (.) and click a link: ∂L/∂w = a·δ, and δ = f′(z)·Σ w·δ of the "
            "next layer — the inspector writes the product with the real numbers.",
            {"data": {"dataset": "gauss"}, "network": {"hidden": _hidden(2, "tanh", 1)}},
        ),
        Lesson(
            "learning_rate_too_high",
            "Learning rate too high",
            "learning rate",
            "The loss jumps up instead of down and the weights blow up until the run diverges.",
            {
                "data": {"dataset": "plane"},
                "network": {"hidden": _hidden(8, "relu", 2), "output_activation": "linear"},
                "training": {"optimizer": {"learning_rate": 3.0}},
            },
        ),
        Lesson(
            "learning_rate_too_low",
            "Learning rate too low",
            "learning rate",
            "Every step is right but tiny: the loss curve is almost flat for thousands of steps.",
            {"data": {"dataset": "circle"}, "training": {"optimizer": {"learning_rate": 0.0003}}},
        ),
        Lesson(
            "vanishing_gradients",
            "Vanishing gradients",
            "vanishing gradients",
            "Switch the links to ∂L/∂w with a global scale: the first layers' gradients are far "
            "smaller than the last layer's; the gradient-norm chart shows the gap on a log scale.",
            {
                "data": {"dataset": "circle"},
                "network": {"hidden": _hidden(8, "sigmoid", 6), "output_activation": "sigmoid"},
                "training": {"loss": "bce"},
            },
        ),
        Lesson(
            "relu_keeps_gradients",
            "ReLU and He initialisation keep gradients alive",
            "initialisation",
            "The same depth as the vanishing-gradient lesson, but with ReLU and He weights: the "
            "gradient norms of all layers stay within one order of magnitude.",
            {
                "data": {"dataset": "circle"},
                "network": {
                    "hidden": _hidden(8, "relu", 6),
                    "output_activation": "sigmoid",
                    "initializer": "he_normal",
                },
                "training": {"loss": "bce"},
            },
        ),
        Lesson(
            "symmetry",
            "All weights zero: the symmetry problem",
            "initialisation",
            "Every neuron of a layer starts equal, gets the same gradient and stays equal: the "
            "thumbnails of a layer never differ.",
            {"data": {"dataset": "circle"}, "network": {"initializer": "zeros"}},
        ),
        Lesson(
            "overfitting",
            "Overfitting",
            "overfitting",
            "Few noisy training points and a big network: the train loss keeps falling while the "
            "test loss turns up; the boundary wraps around single points.",
            {"data": _OVERFIT_DATA, "network": _OVERFIT_NET, "training": {"optimizer": _ADAM}},
        ),
        Lesson(
            "l2_regularization",
            "L2 regularisation against overfitting",
            "L1/L2",
            "The overfitting setup with an L2 penalty: smaller weights, a smoother boundary and a "
            "smaller gap between train and test loss; the penalty is its own term of the loss.",
            {
                "data": _OVERFIT_DATA,
                "network": _OVERFIT_NET,
                "training": {
                    "optimizer": _ADAM,
                    "regularization": "l2",
                    "regularization_rate": 0.01,
                },
            },
        ),
        Lesson(
            "l1_sparsity",
            "L1 makes weights exactly small",
            "L1/L2",
            "With an L1 penalty many links thin out to nothing: the network keeps only the "
            "inputs and neurons it needs.",
            {
                "data": {"dataset": "gauss", "features": list(
                    ("x1", "x2", "x1_sq", "x2_sq", "x1_x2", "sin_x1", "sin_x2")
                )},
                "network": {"hidden": _hidden(6, "tanh", 1)},
                "training": {
                    "optimizer": _ADAM,
                    "regularization": "l1",
                    "regularization_rate": 0.01,
                },
            },
        ),
        Lesson(
            "dropout",
            "Dropout",
            "dropout",
            "Units of the hidden layers are switched off at random in each step (their mask is in "
            "the record): the batch loss is noisier, the test loss stays closer to the train loss.",
            {
                "data": _OVERFIT_DATA,
                "network": {**_OVERFIT_NET, "hidden": _hidden(16, "relu", 3, dropout=0.3)},
                "training": {"optimizer": _ADAM},
            },
        ),
        Lesson(
            "mini_batches",
            "Online, mini-batch and full-batch",
            "mini-batches",
            "Batch size 1: every step follows one sample and the batch loss jumps around. Raise "
            "the batch size live and watch the curve calm down.",
            {"data": {"dataset": "xor", "noise": 0.2}, "training": {"batch_size": 1}},
        ),
        Lesson(
            "softmax",
            "Three classes with softmax and cross-entropy",
            "losses",
            "A softmax output gives one probability per class; with cross-entropy the output "
            "delta is simply a − y.",
            {
                "data": {"dataset": "spiral3"},
                "network": {
                    "hidden": _hidden(16, "relu", 2),
                    "output_activation": "softmax",
                    "initializer": "he_uniform",
                },
                "training": {"loss": "cce", "optimizer": _ADAM, "batch_size": 32},
            },
        ),
        Lesson(
            "features",
            "The right features replace hidden layers",
            "activations",
            "With X₁² and X₂² as inputs a network without hidden layers separates the circle: "
            "its boundary is a curve although every unit is linear in its inputs.",
            {
                "data": {"dataset": "circle", "features": ["x1_sq", "x2_sq"]},
                "network": {"hidden": []},
            },
        ),
    )
}
