"""The class roster's plain functions (app/classroom.py): nicknames, the changed-settings diff,
which controls a message touches, and CSV cells no spreadsheet runs as formulas."""

from __future__ import annotations

import json

import pytest

from app import classroom as C
from app import protocol as P
from app.protocol import ProtocolError
from engine.spec import Spec


def test_a_nickname_is_normalised_and_trimmed():
    assert C.clean_nickname("  Zoe\u0301  ") == "Zoé"  # NFC: one character, not two
    assert C.clean_nickname("👩‍🏫 Ms K") == "👩‍🏫 Ms K"  # an emoji joined by ZWJ is text


@pytest.mark.parametrize("bad", ["", "   ", "x" * 25, "tab\there", "nul\x00", "rtl\u202eoverride"])
def test_a_blank_too_long_or_control_character_nickname_is_refused(bad):
    with pytest.raises(ProtocolError) as err:
        C.clean_nickname(bad)
    assert err.value.code == "invalid_nickname"


def test_changed_settings_name_each_setting_with_its_old_and_new_value():
    teacher = Spec.from_dict({"data": {"dataset": "xor"}}).to_dict()
    student = Spec.from_dict({"data": {"dataset": "xor"},
                              "network": {"hidden": [{"units": 4, "activation": "relu"},
                                                     {"units": 2}]},
                              "training": {"optimizer": {"learning_rate": 0.1}}}).to_dict()
    texts = [c["text"] for c in C.changed_settings(teacher, student)]
    assert texts == ["layer 1 activation tanh → relu", "learning rate 0.03 → 0.1"]
    assert C.changed_settings(teacher, teacher) == []


def test_a_removed_layer_is_listed_as_removed():
    teacher = Spec.from_dict({"network": {"hidden": [{"units": 4}, {"units": 2}]}}).to_dict()
    student = Spec.from_dict({"network": {"hidden": [{"units": 4}]}}).to_dict()
    texts = [c["text"] for c in C.changed_settings(teacher, student)]
    assert "layer 2 units removed" in texts


def test_a_configure_touches_the_controls_whose_settings_it_changes():
    spec = Spec.from_dict({"data": {"dataset": "xor"}}).to_dict()
    wanted = Spec.from_dict({"data": {"dataset": "xor", "noise": 0.2},
                             "network": {"output_activation": "sigmoid"}}).to_dict()
    msg = P.parse_message(json.dumps({"type": "configure", "id": 1, "spec": wanted}))
    assert C.controls_touched(msg, spec) == {"data", "activation"}
    same = P.parse_message(json.dumps({"type": "configure", "id": 2, "spec": spec}))
    assert C.controls_touched(same, spec) == set()


def test_csv_cells_that_start_like_a_formula_get_a_quote():
    assert [C.safe_cell(v) for v in ("=1+1", "+1", "-2", "@SUM(A1)", "Ana", 0.5, None, 7)] == [
        "'=1+1", "'+1", "'-2", "'@SUM(A1)", "Ana", "0.5", "", "7"]
    assert [C.safe_cell(v) for v in (-0.5, True, False)] == ["-0.5", "yes", "no"]  # numbers
