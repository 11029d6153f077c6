"""The dense specs whose 200-step trajectories were captured before the engine became a layer
protocol. Regenerate the goldens only on purpose: `python -m tests.engine.golden_specs`."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from engine.spec import Spec
from engine.trainer import Trainer

GOLDEN_DIR = Path(__file__).with_name("golden")
STEPS = 200

GOLDEN_SPECS: dict[str, dict] = {
    "circle_sgd_tanh": {"data": {"dataset": "circle", "noise": 0.1}},
    "spiral_adam_relu_dropout_l2": {
        "data": {"dataset": "spiral", "features": ["x1", "x2", "x1_sq", "sin_x1"]},
        "network": {
            "hidden": [
                {"units": 8, "activation": "relu", "dropout": 0.2},
                {"units": 6, "activation": "leaky_relu"},
            ],
            "initializer": "he_normal",
        },
        "training": {
            "optimizer": {"name": "adam", "learning_rate": 0.01},
            "regularization": "l2",
            "regularization_rate": 0.003,
            "batch_size": 16,
        },
    },
    "xor_momentum_sigmoid_l1": {
        "data": {"dataset": "xor", "noise": 0.2},
        "network": {
            "hidden": [{"units": 5, "activation": "sigmoid", "dropout": 0.1}],
            "output_activation": "sigmoid",
            "initializer": "xavier_normal",
        },
        "training": {
            "loss": "bce",
            "optimizer": {"name": "momentum", "learning_rate": 0.1, "nesterov": True},
            "regularization": "l1",
            "regularization_rate": 0.001,
        },
    },
    "spiral3_rmsprop_softmax_f32": {
        "data": {"dataset": "spiral3"},
        "network": {
            "hidden": [{"units": 12, "activation": "tanh"}, {"units": 8, "activation": "relu"}],
            "output_activation": "softmax",
            "dtype": "float32",
            "initializer": "he_uniform",
        },
        "training": {
            "loss": "cce",
            "optimizer": {"name": "rmsprop", "learning_rate": 0.005},
            "batch_size": 25,
        },
    },
    "house_sgd_linear_regression": {
        "data": {"dataset": "house"},
        "network": {
            "hidden": [{"units": 10, "activation": "relu", "dropout": 0.05}],
            "output_activation": "linear",
        },
        "training": {"optimizer": {"name": "sgd", "learning_rate": 0.01}, "batch_size": 32},
    },
}


def trajectory(raw: dict, record_every: int = 1) -> dict[str, np.ndarray]:
    """Per step: the total loss, the gradient norms and a digest of the parameters; at the end the
    parameters themselves, so a mismatch says where it began. ``record_every`` k records every
    k-th step and runs the others lean."""
    trainer = Trainer(Spec.from_dict(raw))
    losses, norms, digests = [], [], []
    for k in range(STEPS):
        record = trainer.step(record=(k + 1) % record_every == 0)
        losses.append(record.total_loss)
        norms.append(record.grad_norms)
        digests.append(hashlib.sha256(trainer.network.flat.tobytes()).hexdigest()[:16])
    return {
        "losses": np.array(losses),
        "grad_norms": np.array(norms),
        "digests": np.array(digests),
        "final": trainer.network.flat.copy(),
    }


def main() -> None:
    GOLDEN_DIR.mkdir(exist_ok=True)
    for name, raw in GOLDEN_SPECS.items():
        np.savez_compressed(GOLDEN_DIR / f"{name}.npz", **trajectory(raw))
        (GOLDEN_DIR / f"{name}.json").write_text(json.dumps(raw, indent=1) + "\n")
        print("wrote", name)


if __name__ == "__main__":
    main()
