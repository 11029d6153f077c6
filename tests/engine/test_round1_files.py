"""Files written by the round-1 engine (before layers became a protocol) still load and continue
training exactly where they stopped."""

from pathlib import Path

import numpy as np
import pytest

from engine import persistence

GOLDEN = Path(__file__).with_name("golden")


@pytest.mark.parametrize(
    ("name", "load"),
    [
        ("round1_export.json", lambda p: persistence.from_json(p.read_text())),
        ("round1_export.npz", lambda p: persistence.from_npz(p.read_bytes())),
    ],
)
def test_a_round_one_export_loads_and_continues_bit_identically(name, load):
    trainer = load(GOLDEN / name)
    assert trainer.step_count == 37
    for _ in range(25):
        trainer.step()
    assert np.array_equal(trainer.network.flat, np.load(GOLDEN / "round1_export_after25.npy"))


def test_an_export_of_a_recurrent_run_mid_step_passes_the_untrusted_file_checks():
    from engine.file_checks import check_state
    from engine.spec import Spec
    from engine.trainer import Trainer
    from tests.engine.test_convolutional_networks import cnn
    from tests.engine.test_recurrent_networks import RECALL_LSTM

    for raw in (RECALL_LSTM, cnn()):
        trainer = Trainer(Spec.from_dict(raw))
        trainer.step()
        trainer.next_phase()
        state = persistence.to_dict(trainer)
        assert check_state(state) is state
