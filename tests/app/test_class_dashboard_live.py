"""The class dashboard (issue 14) against a real ``python -m app serve`` process: nicknames, the
teacher's live rows, projection, pacing (pause all, push, locks), reconnect and CSV export.

Every client is a real websockets client on 127.0.0.1; the teacher is the session that opened the
room, the students are viewers of ``/ws?room=CODE``.
"""

from __future__ import annotations

import asyncio
import base64
import csv
import io
import time

import pytest

from app.devserver import running_server
from tests.app.live_server import LiveClient
from tests.app.protocol_decoder import Frame

pytestmark = pytest.mark.timeout(120)

SPEC = {"data": {"dataset": "xor"}, "network": {"hidden": [{"units": 4}, {"units": 3}]},
        "training": {"batch_size": 10,
                     "optimizer": {"name": "sgd", "learning_rate": 0.03}}}


@pytest.fixture(scope="module")
def base():
    with running_server(timeout=30) as server:
        yield server.base


def run(coro):
    return asyncio.run(coro)


async def until(client: LiveClient, pred, timeout: float = 15.0):
    """Receive until pred(item) holds; → that item."""
    end = time.monotonic() + timeout
    while True:
        left = end - time.monotonic()
        if left <= 0:
            raise AssertionError(f"not received in {timeout} s; last: {client.items[-3:]}")
        item = await client.recv(left)
        if pred(item):
            return item


def is_type(kind: str, **fields):
    return lambda m: isinstance(m, dict) and m.get("type") == kind and all(
        m.get(k) == v for k, v in fields.items())


async def teacher_with_room(base: str) -> tuple[LiveClient, str]:
    teacher = await LiveClient.connect(base)
    ack, _ = await teacher.request({"type": "configure", "spec": SPEC})
    assert ack["type"] == "ack", ack
    ack, _ = await teacher.request({"type": "room_open"})
    return teacher, ack["code"]


async def student(base: str, code: str, nickname: str | None = None) -> LiveClient:
    s = await LiveClient.connect(base, f"?room={code}")
    assert s.welcome["role"] == "viewer"
    await until(s, is_type("room_hold"))  # the end of the room's state
    if nickname is not None:
        ack, _ = await s.request({"type": "class_join", "nickname": nickname})
        assert ack["type"] == "ack", ack
        s.joined = ack
    return s


async def hand_out(teacher: LiveClient, students: list[LiveClient]) -> None:
    ack, _ = await teacher.request({"type": "room_handout"})
    assert ack["viewers"] == len(students), ack
    for s in students:
        await until(s, is_type("room_handout"))
        await until(s, is_type("snapshot"))


async def dashboard(teacher: LiveClient, pred, timeout: float = 15.0) -> dict:
    return await until(teacher, lambda m: is_type("class_dashboard")(m) and pred(m), timeout)


def row_of(board: dict, name: str) -> dict:
    return next(r for r in board["rows"] if r["nickname"] == name)


async def close_all(*clients: LiveClient) -> None:
    for c in clients:
        await c.close()


def latest_eval(client: LiveClient) -> dict:
    return [m for m in client.messages("metrics") if m.get("eval")][-1]["eval"]


# --- nicknames ---------------------------------------------------------------------------------


def test_a_nickname_is_trimmed_and_a_blank_long_control_or_duplicate_one_is_refused(base):
    async def scenario():
        teacher, code = await teacher_with_room(base)
        ana = await student(base, code, "  Ana  ")
        assert ana.joined["nickname"] == "Ana" and len(ana.joined["device"]) >= 16
        other = await student(base, code)
        answers = {}
        for name in ("   ", "x" * 25, "bad\u0007bell", "ANA", " ana "):
            reply, _ = await other.request({"type": "class_join", "nickname": name})
            answers[name] = reply
        ok, _ = await other.request({"type": "class_join", "nickname": "Zoë 🚀"})
        await close_all(teacher, ana, other)
        return answers, ok

    answers, ok = run(scenario())
    assert answers["   "]["code"] == "invalid_nickname"
    assert answers["x" * 25]["code"] == "invalid_nickname" and "24" in answers["x" * 25]["message"]
    assert answers["bad\u0007bell"]["code"] == "invalid_nickname"
    for dup in ("ANA", " ana "):
        assert answers[dup]["code"] == "nickname_taken"
        assert "already taken" in answers[dup]["message"]
    assert ok["type"] == "ack" and ok["nickname"] == "Zoë 🚀"


# --- the dashboard -----------------------------------------------------------------------------


def test_the_dashboard_shows_each_copys_own_latest_metrics_and_what_it_changed(base):
    async def scenario():
        teacher, code = await teacher_with_room(base)
        ana, ben = await student(base, code, "Ana"), await student(base, code, "Ben")
        board = await dashboard(teacher, lambda m: len(m["rows"]) == 2)
        assert all(not r["has_copy"] for r in board["rows"])
        await hand_out(teacher, [ana, ben])
        ack, _ = await ana.request({"type": "set", "learning_rate": 0.1})
        assert ack["type"] == "ack", ack
        ack, _ = await ana.request({"type": "step", "n": 12})
        assert ack["step"] == 12
        ack, _ = await ben.request({"type": "step", "n": 5})
        board = await dashboard(teacher, lambda m: row_of(m, "Ana")["step"] == 12
                                and row_of(m, "Ben")["step"] == 5)
        evals = {"Ana": latest_eval(ana), "Ben": latest_eval(ben)}
        await close_all(teacher, ana, ben)
        return board, evals

    board, evals = run(scenario())
    for name in ("Ana", "Ben"):
        r = row_of(board, name)
        assert r["train_loss"] == evals[name]["train_loss"]
        assert r["test_loss"] == evals[name]["test_loss"]
        assert r["accuracy"] == evals[name]["test_accuracy"]
        assert r["eval_step"] == r["step"]
        thumb = r["thumb"]
        assert thumb["kind"] == "value" and thumb["size"] == 16
        assert len(base64.b64decode(thumb["cells"])) == 16 * 16
    ana = row_of(board, "Ana")
    assert [c["text"] for c in ana["changed"]] == ["learning rate 0.03 → 0.1"]
    assert ana["changed"][0]["setting"] == "training.optimizer.learning_rate"
    assert row_of(board, "Ben")["changed"] == []


def test_a_changed_activation_is_listed_by_layer(base):
    async def scenario():
        teacher, code = await teacher_with_room(base)
        ana = await student(base, code, "Ana")
        await hand_out(teacher, [ana])
        spec = ana.messages("snapshot")[-1]["spec"]
        spec["network"]["hidden"][0]["activation"] = "relu"
        ack, _ = await ana.request({"type": "configure", "spec": spec})
        assert ack["type"] == "ack", ack
        board = await dashboard(teacher, lambda m: row_of(m, "Ana")["changed"])
        await close_all(teacher, ana)
        return board

    changed = [c["text"] for c in row_of(run(scenario()), "Ana")["changed"]]
    assert changed == ["layer 1 activation tanh → relu"]


# --- projection ----------------------------------------------------------------------------------


def test_projecting_a_copy_shows_it_to_followers_and_stopping_returns_to_the_teacher(base):
    async def scenario():
        teacher, code = await teacher_with_room(base)
        ana = await student(base, code, "Ana")
        await hand_out(teacher, [ana])
        await ana.request({"type": "step", "n": 9})
        projector = await student(base, code)  # follows the teacher (joined after the hand-out)
        board = await dashboard(teacher, lambda m: row_of(m, "Ana")["step"] == 9)
        ana_id = row_of(board, "Ana")["id"]
        ack, _ = await teacher.request({"type": "class_project", "student": ana_id})
        assert ack["projected"] == ana_id
        shown = await until(projector, is_type("class_projecting"))
        snap = await until(projector, is_type("snapshot"))
        # the copy's steps reach the follower, the teacher's own step (0) does not come back
        await ana.request({"type": "step", "n": 2})
        frame = await until(projector, lambda m: isinstance(m, Frame) and m.kind == "step"
                            and m.step == 11)
        ack, _ = await teacher.request({"type": "class_hide_names", "hide": True})
        hidden = await until(projector, is_type("class_projecting"))
        ack, _ = await teacher.request({"type": "class_project", "student": None})
        back = await until(projector, is_type("class_projecting"))
        snap_back = await until(projector, is_type("snapshot"))
        await close_all(teacher, ana, projector)
        return shown, snap, frame, hidden, back, snap_back

    shown, snap, frame, hidden, back, snap_back = run(scenario())
    assert shown["projecting"] is True and shown["student"] == "Ana"
    assert snap["state"]["step"] == 9
    assert frame.step == 11
    assert hidden["projecting"] is True and hidden["student"] is None and hidden["hidden"] is True
    assert back["projecting"] is False
    assert snap_back["state"]["step"] == 0


# --- pacing ------------------------------------------------------------------------------------


def test_pause_all_stops_every_playing_copy(base):
    async def scenario():
        teacher, code = await teacher_with_room(base)
        ana, ben = await student(base, code, "Ana"), await student(base, code, "Ben")
        await hand_out(teacher, [ana, ben])
        for s in (ana, ben):
            ack, _ = await s.request({"type": "play", "speed": 50})
            assert ack["playing"] is True
        await dashboard(teacher, lambda m: all(r["playing"] for r in m["rows"]))
        ack, _ = await teacher.request({"type": "class_pause_all"})
        assert ack["copies"] == 2
        statuses = [await until(s, is_type("status", reason="teacher_pause")) for s in (ana, ben)]
        board = await dashboard(teacher, lambda m: not any(r["playing"] for r in m["rows"]))
        await close_all(teacher, ana, ben)
        return statuses, board

    statuses, board = run(scenario())
    assert all(s["playing"] is False for s in statuses)
    assert len(board["rows"]) == 2


def test_push_gives_every_copy_the_teachers_learning_rate_and_it_is_no_longer_a_change(base):
    async def scenario():
        teacher, code = await teacher_with_room(base)
        ana, ben = await student(base, code, "Ana"), await student(base, code, "Ben")
        await hand_out(teacher, [ana, ben])
        await ana.request({"type": "set", "learning_rate": 1.0})
        await ana.request({"type": "step", "n": 3})
        await teacher.request({"type": "set", "learning_rate": 0.3})
        ack, _ = await teacher.request({"type": "class_push", "controls": ["learning_rate"]})
        assert ack["copies"] == 2
        settings = [await until(s, lambda m: is_type("event", event="settings")(m)
                                and m["training"]["optimizer"]["learning_rate"] == 0.3)
                    for s in (ana, ben)]
        board = await dashboard(teacher, lambda m: all(not r["changed"] for r in m["rows"]))
        await close_all(teacher, ana, ben)
        return settings, board

    settings, board = run(scenario())
    assert all(s["training"]["optimizer"]["learning_rate"] == 0.3 for s in settings)
    assert row_of(board, "Ana")["step"] == 3  # a live setting: the copy keeps its step


def test_a_locked_control_is_refused_by_the_server_even_on_the_copys_own_socket(base):
    async def scenario():
        teacher, code = await teacher_with_room(base)
        ana = await student(base, code, "Ana")
        await hand_out(teacher, [ana])
        token = ana.messages("room_handout")[-1]["token"]
        ack, _ = await teacher.request({"type": "class_lock",
                                        "controls": ["learning_rate", "activation"]})
        assert ack["locks"] == ["activation", "learning_rate"]
        told = await until(ana, lambda m: is_type("class_locks")(m) and m["locks"])
        refused, _ = await ana.request({"type": "set", "learning_rate": 0.5})
        spec = ana.messages("snapshot")[-1]["spec"]
        spec["network"]["hidden"][1]["activation"] = "relu"
        refused_configure, _ = await ana.request({"type": "configure", "spec": spec})
        allowed, _ = await ana.request({"type": "set", "batch_size": 5})
        ack, _ = await teacher.request({"type": "class_lock", "controls": ["learning_rate"],
                                        "locked": False})
        released = await until(ana, lambda m: is_type("class_locks")(m)
                               and [x["control"] for x in m["locks"]] == ["activation"])
        after, _ = await ana.request({"type": "set", "learning_rate": 0.5})
        # the copy's resume token on a plain session socket does not get round the lock
        direct = await LiveClient.connect(base, f"?resume={token}")
        refused_direct, _ = await direct.request({"type": "configure", "spec": spec})
        await close_all(teacher, direct)
        return told, refused, refused_configure, allowed, refused_direct, released, after

    told, refused, refused_configure, allowed, refused_direct, released, after = run(scenario())
    assert {x["control"] for x in told["locks"]} == {"learning_rate", "activation"}
    assert all(x["reason"] == "locked by your teacher" for x in told["locks"])
    assert refused["code"] == "locked" and "learning rate" in refused["message"]
    assert refused["details"]["controls"] == ["learning_rate"]
    assert refused_configure["code"] == "locked"
    assert refused_configure["details"]["controls"] == ["activation"]
    assert allowed["type"] == "ack" and allowed["training"]["batch_size"] == 5
    assert refused_direct["code"] == "locked"
    assert released["locks"][0]["label"] == "activation"
    assert after["type"] == "ack" and after["training"]["optimizer"]["learning_rate"] == 0.5


def test_a_student_cannot_send_the_teachers_messages(base):
    teacher_only = [{"type": "class_pause_all"}, {"type": "class_lock", "controls": ["data"]},
                    {"type": "class_push", "controls": ["learning_rate"]},
                    {"type": "class_project", "student": "abcd"}, {"type": "class_export"},
                    {"type": "class_hide_names"}, {"type": "class_dashboard"}]

    async def scenario():
        teacher, code = await teacher_with_room(base)
        ana, ben = await student(base, code, "Ana"), await student(base, code, "Ben")
        ack, _ = await teacher.request({"type": "room_handout"})
        await until(ana, is_type("room_handout"))
        await ben.request({"type": "room_follow"})  # Ben follows, Ana drives her copy
        following = [(await ben.request(m))[0] for m in teacher_only]
        with_copy = [(await ana.request(m))[0] for m in teacher_only]
        await close_all(teacher, ana, ben)
        return following, with_copy

    following, with_copy = run(scenario())
    assert [r["code"] for r in following] == ["read_only"] * len(teacher_only)
    assert [r["code"] for r in with_copy] == ["not_teacher"] * len(teacher_only)


# --- nothing lost ------------------------------------------------------------------------------


def test_a_student_who_reconnects_from_the_same_device_gets_the_copy_back_at_its_step(base):
    async def scenario():
        teacher, code = await teacher_with_room(base)
        ana = await student(base, code, "Ana")
        device = ana.joined["device"]
        await hand_out(teacher, [ana])
        await ana.request({"type": "set", "learning_rate": 0.1})
        await ana.request({"type": "step", "n": 17})
        await ana.close()
        await dashboard(teacher, lambda m: not row_of(m, "Ana")["connected"])
        again = await student(base, code)
        ack, seen = await again.request({"type": "class_join", "device": device})
        handout = next(m for m in seen if is_type("room_handout")(m))  # before the ack
        snap = await until(again, is_type("snapshot", reason="resume"))
        ack2, _ = await again.request({"type": "step", "n": 1})
        board = await dashboard(teacher, lambda m: row_of(m, "Ana")["connected"]
                                and row_of(m, "Ana")["step"] == 18)
        stranger, _ = await (await student(base, code)).request(
            {"type": "class_join", "device": "not-a-real-device-token"})
        await close_all(teacher, again)
        return ack, handout, snap, ack2, board, stranger

    ack, handout, snap, ack2, board, stranger = run(scenario())
    assert ack["nickname"] == "Ana" and ack["came_back"] is True and ack["copy"] is True
    assert handout["resumed"] is True and handout["step"] == 17
    assert snap["state"]["step"] == 17 and snap["reason"] == "resume"
    assert snap["spec"]["training"]["optimizer"]["learning_rate"] == 0.1
    assert ack2["step"] == 18
    assert [c["text"] for c in row_of(board, "Ana")["changed"]] == ["learning rate 0.03 → 0.1"]
    assert stranger["code"] == "invalid_nickname"  # an unknown token is a new join: name needed


def test_the_class_results_export_as_csv_with_formula_cells_quoted(base):
    async def scenario():
        teacher, code = await teacher_with_room(base)
        ana = await student(base, code, "=HYPERLINK(1)")
        ben = await student(base, code, "Ben")
        await hand_out(teacher, [ana, ben])
        await ana.request({"type": "set", "learning_rate": 0.1})
        await ana.request({"type": "step", "n": 4})
        await ben.request({"type": "step", "n": 2})
        board = await dashboard(teacher, lambda m: row_of(m, "Ben")["step"] == 2
                                and row_of(m, "=HYPERLINK(1)")["step"] == 4)
        ack, _ = await teacher.request({"type": "class_export"})
        await close_all(teacher, ana, ben)
        return board, ack

    board, ack = run(scenario())
    assert ack["filename"].endswith(".csv") and ack["media_type"] == "text/csv"
    rows = list(csv.reader(io.StringIO(ack["csv"])))
    assert rows[0] == ["nickname", "changed settings", "step", "train loss", "test loss",
                       "accuracy"]
    by_name = {r[0]: r for r in rows[1:]}
    assert set(by_name) == {"'=HYPERLINK(1)", "Ben"}
    ana, ben = by_name["'=HYPERLINK(1)"], by_name["Ben"]
    assert ana[1] == "learning rate 0.03 → 0.1" and ana[2] == "4"
    expected = row_of(board, "Ben")
    assert ben[2] == "2" and float(ben[3]) == pytest.approx(expected["train_loss"], rel=1e-5)
    assert float(ben[4]) == pytest.approx(expected["test_loss"], rel=1e-5)
    assert float(ben[5]) == pytest.approx(expected["accuracy"], rel=1e-5)


def test_the_teacher_gets_one_dashboard_message_a_tick_however_fast_the_copies_step(base):
    async def scenario():
        teacher, code = await teacher_with_room(base)
        ana, ben = await student(base, code, "Ana"), await student(base, code, "Ben")
        await hand_out(teacher, [ana, ben])
        for s in (ana, ben):
            await s.request({"type": "play", "speed": "max"})
        await dashboard(teacher, lambda m: all(r["playing"] for r in m["rows"]))
        start = len(teacher.messages("class_dashboard"))
        t0 = time.monotonic()
        await teacher.drain_for(3.0)
        seconds = time.monotonic() - t0
        boards = teacher.messages("class_dashboard")[start:]
        steps = [row_of(b, "Ana")["step"] for b in boards]
        await close_all(teacher, ana, ben)
        return seconds, boards, steps

    seconds, boards, steps = run(scenario())
    assert 2 <= len(boards) <= seconds / 0.5 + 1  # coalesced: not one per student step
    assert steps == sorted(steps) and steps[-1] - steps[0] > len(boards)


def test_pushing_an_activation_rebuilds_every_copy_with_the_teachers(base):
    async def scenario():
        teacher, code = await teacher_with_room(base)
        ana = await student(base, code, "Ana")
        await hand_out(teacher, [ana])
        await ana.request({"type": "step", "n": 4})
        spec = teacher.messages("snapshot")[-1]["spec"]
        for layer in spec["network"]["hidden"]:
            layer["activation"] = "relu"
        await teacher.request({"type": "configure", "spec": spec})
        board = await dashboard(teacher, lambda m: row_of(m, "Ana")["step"] == 4)
        ack, _ = await teacher.request({"type": "class_push", "controls": ["activation"]})
        snap = await until(ana, is_type("snapshot", reason="class_push"))
        pushed = await until(ana, is_type("class_pushed"))
        after = await dashboard(teacher, lambda m: row_of(m, "Ana")["step"] == 0)
        await close_all(teacher, ana)
        return board, ack, snap, pushed, after

    board, ack, snap, pushed, after = run(scenario())
    assert row_of(board, "Ana")["changed"] == []  # the teacher changed, not Ana
    assert ack["copies"] == 1 and pushed["controls"] == ["activation"]
    assert [h["activation"] for h in snap["spec"]["network"]["hidden"]] == ["relu", "relu"]
    assert row_of(after, "Ana")["changed"] == []


def test_a_student_who_leaves_without_a_copy_frees_the_nickname(base):
    async def scenario():
        teacher, code = await teacher_with_room(base)
        dan = await student(base, code, "Dan")
        await dashboard(teacher, lambda m: [r["nickname"] for r in m["rows"]] == ["Dan"])
        await dan.close()
        await dashboard(teacher, lambda m: m["rows"] == [])
        again = await student(base, code)
        ack, _ = await again.request({"type": "class_join", "nickname": "Dan"})
        await close_all(teacher, again)
        return ack

    ack = run(scenario())
    assert ack["type"] == "ack" and ack["nickname"] == "Dan" and ack["came_back"] is False
