"""Frames sized to what is painted (docs/protocol.md §4): the schema once per socket, no array
sent twice, thumbnails as uint8 planes — decoded by the doc decoder to the engine's values."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from app import views
from app.frames import (
    KIND_GRID,
    KIND_STEP,
    PEER_SCHEMAS,
    PREFIX_SIZE,
    decode_frame,
    encode_frame,
)
from app.run import Pace, Run
from engine.evaluation import evaluate_plane
from engine.spec import Spec
from engine.trainer import Trainer
from tests.app.protocol_decoder import decode
from tests.app.support import WsClient, frames_of

SMALL = {"network": {"hidden": [{"units": 4}, {"units": 2}]}}


def trained_run(spec: dict, steps: int = 5) -> Run:
    run = Run(Trainer(Spec.from_dict(spec)))
    for _ in range(steps):
        run.trainer.step()
    return run


def _raw_schema(frame: bytes) -> dict:
    """The schema JSON a whole frame carries (docs/protocol.md §4: S at offset 20)."""
    schema_len = struct.unpack_from("<I", frame, 20)[0]
    return json.loads(frame[PREFIX_SIZE : PREFIX_SIZE + schema_len])


def test_a_frame_round_trips_through_the_doc_decoder_with_nan_and_infinity_kept():
    w = np.arange(6, dtype=np.float64).reshape(2, 3) / 7
    b = np.array([np.nan, np.inf, -1.5])
    data = encode_frame(KIND_GRID, 9, 1234, {"note": "é"}, [("W", w), ("b", b)],
                        fixed={"resolution": 3})
    frame = decode(data)
    assert (frame.version, frame.kind, frame.seq, frame.step) == (2, "grid", 9, 1234)
    assert frame.header["resolution"] == 3 and frame.header["note"] == "é"
    np.testing.assert_array_equal(frame.arrays["W"], w.astype(np.float32))
    assert np.isnan(frame.arrays["b"][0]) and np.isinf(frame.arrays["b"][1])


def test_the_compact_frame_is_the_whole_frame_without_its_schema():
    frame = encode_frame(KIND_STEP, 1, 2, {"epoch": 0}, [("weight.0", np.ones((2, 3)))],
                         fixed={"run": "r0"}, values={"loss": 0.5})
    schemas: dict = {}
    whole, compact = decode(frame, schemas), decode(frame.compact, schemas)
    assert whole.had_schema and not compact.had_schema
    assert whole.header == compact.header == {"run": "r0", "epoch": 0, "loss": 0.5}
    np.testing.assert_array_equal(compact.arrays["weight.0"], np.ones((2, 3), np.float32))
    assert len(frame.compact) < len(frame)


def test_a_frame_without_its_schema_is_refused_by_a_decoder_that_never_saw_it():
    frame = encode_frame(KIND_STEP, 1, 2, {}, [("weight.0", np.ones(2))], fixed={"run": "x"})
    with pytest.raises(ValueError, match="schema"):
        decode_frame(frame.compact, {})
    with pytest.raises(AssertionError, match="never sent"):
        decode(frame.compact, {})


def test_the_same_configuration_has_the_same_schema_id_and_another_one_a_new_id():
    def make(lr):
        return encode_frame(KIND_STEP, 1, 1, {"epoch": 3}, [("weight.0", np.zeros(2))],
                            fixed={"learning_rate": lr})
    assert make(0.1).schema_id == make(0.1).schema_id
    assert make(0.1).schema_id != make(0.2).schema_id


def test_a_peer_gets_the_schema_once_then_compact_frames_and_it_again_after_a_change():
    known: set[int] = set()
    a1, a2 = (encode_frame(KIND_STEP, s, s, {}, [("w", np.full(2, s))], fixed={"c": 1})
              for s in (1, 2))
    b = encode_frame(KIND_STEP, 3, 3, {}, [("w", np.zeros(2))], fixed={"c": 2})
    assert a1.for_peer(known) is a1
    assert a2.for_peer(known) == a2.compact
    assert b.for_peer(known) is b
    assert a1.for_peer(set()) is a1  # another socket: its own memory


def test_a_peer_remembers_a_bounded_number_of_schemas_and_is_sent_them_again():
    known: set[int] = set()
    frames = [encode_frame(KIND_STEP, 1, 1, {}, [], fixed={"n": n})
              for n in range(PEER_SCHEMAS + 1)]
    for f in frames:
        f.for_peer(known)
    assert len(known) <= PEER_SCHEMAS
    assert frames[0].for_peer(known) is frames[0]  # forgotten: sent whole again


def test_without_regularisation_the_data_gradient_is_an_alias_of_the_gradient():
    run = trained_run(SMALL)
    frame = views.step_frame(run, Pace())
    entries = {e[0]: e for e in _raw_schema(frame)["arrays"]}
    assert entries["weight_grad_data.0"][2:] == ["same", "weight_grad.0"]
    got = decode(frame).arrays
    record = run.trainer.last_record.layers[0]
    np.testing.assert_array_equal(got["weight_grad_data.0"],
                                  record.weight_grad_data.astype(np.float32))
    np.testing.assert_array_equal(got["weight_grad.0"], record.weight_grad.astype(np.float32))


def test_with_l2_the_data_gradient_is_sent_as_its_own_array():
    run = trained_run({**SMALL, "training": {"regularization": "l2",
                                            "regularization_rate": 0.1}})
    frame = views.step_frame(run, Pace())
    entries = {e[0]: e for e in _raw_schema(frame)["arrays"]}
    assert entries["weight_grad_data.0"][2] == "f4"
    got = decode(frame).arrays
    record = run.trainer.last_record.layers[0]
    np.testing.assert_array_equal(got["weight_grad_data.0"],
                                  record.weight_grad_data.astype(np.float32))
    assert not np.array_equal(got["weight_grad_data.0"], got["weight_grad.0"])


def test_a_dense_layers_input_is_an_alias_of_the_previous_layers_activation():
    frame = views.step_frame(trained_run(SMALL), Pace())
    entries = {e[0]: e for e in _raw_schema(frame)["arrays"]}
    assert entries["sample.input.1"][2:] == ["same", "sample.activation.0"]


def test_the_step_header_is_the_engines_numbers_whether_in_schema_json_or_float64():
    run = trained_run(SMALL)
    frame = decode(views.step_frame(run, Pace()))
    t, record = run.trainer, run.trainer.last_record
    traced = t.trace_samples([run.selected[0]], run.selected[1])
    h = frame.header
    assert h["run"] == run.id and h["learning_rate"] == t.optimizer.learning_rate
    assert h["loss"] == record.total_loss and h["data_loss"] == record.data_loss
    assert h["penalty"] == record.penalty and h["epochs_done"] == t.epochs_done
    assert h["steps_per_s"] is None and h["batch"] == record.batch_indices.tolist()
    assert h["sample"]["loss"] == float(traced.sample_losses[0])
    assert h["sample"]["output"] == traced.outputs[0].tolist()
    assert h["sample"]["target"] == traced.targets[0].tolist()


def test_the_small_network_step_frame_without_its_schema_is_at_most_600_bytes():
    frame = views.step_frame(trained_run(SMALL, 20), Pace())
    assert len(frame.compact) <= 600


def test_grid_thumbnails_are_uint8_planes_within_half_a_level_of_the_engines_values():
    run = trained_run(SMALL)
    frame = views.grid_frames(run)[0]
    got = decode(frame)
    r = got.header["resolution"]
    g = evaluate_plane(run.trainer, r)
    assert {e[2] for e in _raw_schema(frame)["arrays"]} == {"u8"}
    for k, layer in enumerate(g.layers):
        want = layer.T.reshape(-1, r, r).astype(np.float32)
        span = np.ptp(want.reshape(len(want), -1), axis=1)
        error = np.abs(got.arrays[f"activation.{k}"] - want).reshape(len(want), -1).max(axis=1)
        assert np.all(error <= span / 510 + 1e-6 * np.abs(want).max())


def test_a_thumbnail_array_with_a_non_finite_value_is_sent_as_float32():
    planes = np.ones((2, 3, 3))
    planes[1, 0, 0] = np.nan
    frame = encode_frame(KIND_GRID, 1, 1, {}, [("activation.0", planes),
                                               ("input", np.zeros((1, 3, 3)))], quantise=True)
    entries = {e[0]: e[2] for e in _raw_schema(frame)["arrays"]}
    assert entries == {"activation.0": "f4", "input": "u8"}
    assert np.isnan(decode(frame).arrays["activation.0"][1, 0, 0])


def test_the_app_decoder_and_the_doc_decoder_agree_on_quantised_values():
    run = trained_run(SMALL)
    frame = views.grid_frames(run)[0]
    _, mine = decode_frame(frame)
    theirs = decode(frame).arrays
    for name, a in mine.items():
        np.testing.assert_array_equal(a, theirs[name])


def test_over_a_socket_the_schema_comes_once_and_later_frames_decode_to_the_same_layout(client):
    with client.websocket_connect("/ws") as ws:
        c = WsClient(ws)
        _, _, first, _grid = c.handshake()
        _, seen = c.request({"type": "step", "n": 2})  # (step 1: bias = its first update)
        _, seen2 = c.request({"type": "step", "n": 1})
    later = frames_of(seen, "step")[-1], frames_of(seen2, "step")[-1]
    assert first.had_schema
    assert later[1].schema_id == later[0].schema_id and not later[1].had_schema
    assert later[1].arrays.keys() == later[0].arrays.keys()
    assert later[1].header["run"] == first.header["run"]


def test_old_version_1_frames_from_recordings_still_decode():
    head = b'{"run":"r0","arrays":[["weight.0",[2]]]}'
    pad = (-(20 + len(head))) % 4
    data = (struct.pack("<4sBBHIII", b"PSF1", 1, KIND_STEP, 1, 5, 6, len(head)) + head
            + b" " * pad + np.array([1.5, -2], "<f4").tobytes())
    header, arrays = decode_frame(data)
    assert header["run"] == "r0" and header["version"] == 1 and header["step"] == 6
    np.testing.assert_array_equal(arrays["weight.0"], [1.5, -2])
