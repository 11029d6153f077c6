"""Small builders shared by the engine tests."""

from __future__ import annotations

from engine.spec import Spec
from engine.trainer import Trainer


def trainer_from(**sections) -> Trainer:
    """A trainer from a partial spec, e.g. trainer_from(data={"dataset": "xor"})."""
    return Trainer(Spec.from_dict(sections))


def params_equal(a: Trainer, b: Trainer) -> bool:
    pa, pb = a.network.parameters(), b.network.parameters()
    return len(pa) == len(pb) and all((x == y).all() for x, y in zip(pa, pb, strict=True))
