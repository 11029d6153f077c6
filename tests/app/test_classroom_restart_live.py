"""A classroom survives a server restart (issue 14): the room under its code, the roster, the
locks, the challenge and the gallery, the teacher's run and every student's copy at its step —
after a graceful stop (SIGTERM) and after a crash (SIGKILL, losing at most the save interval).
Real server processes on one SQLite file; the same people come back with the same tokens."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest

from app.devserver import running_server
from tests.app.live_server import LiveClient
from tests.app.test_class_dashboard_live import SPEC, is_type, until

pytestmark = pytest.mark.timeout(180)


def run(coro):
    return asyncio.run(coro)


async def lesson(base: str) -> dict:
    """A teacher, Ana (learning rate 0.1, 7 steps, submitted) and Ben (2 steps), a lock and a
    challenge: what should come back."""
    teacher = await LiveClient.connect(base)
    await teacher.request({"type": "configure", "spec": SPEC})
    await teacher.request({"type": "step", "n": 3})
    ack, _ = await teacher.request({"type": "room_open"})
    code = ack["code"]
    kids = {}
    for name in ("Ana", "Ben"):
        s = await LiveClient.connect(base, f"?room={code}")
        await until(s, is_type("room_hold"))
        joined, _ = await s.request({"type": "class_join", "nickname": name})
        kids[name] = (s, joined["device"])
    await teacher.request({"type": "room_handout"})
    for s, _ in kids.values():
        await until(s, is_type("snapshot"))
    ana, ben = kids["Ana"][0], kids["Ben"][0]
    await ana.request({"type": "set", "learning_rate": 0.1})
    await ana.request({"type": "step", "n": 7})
    await ben.request({"type": "step", "n": 2})
    await teacher.request({"type": "class_lock", "controls": ["batch_size"]})
    await teacher.request({"type": "challenge_set", "goal": {"kind": "loss_in_steps",
                                                              "steps": 50}})
    submitted, _ = await ana.request({"type": "class_submit"})
    board = await until(teacher, lambda m: is_type("class_leaderboard")(m) and m["gallery"]
                        and {r["nickname"]: r["step"] for r in m["rows"]}
                        == {"Ana": 3 + 7, "Ben": 3 + 2})
    return {"code": code, "token": teacher.welcome["token"], "board": board,
            "devices": {n: d for n, (_, d) in kids.items()}, "submitted": submitted,
            "clients": [teacher, ana, ben]}


async def come_back(base: str, before: dict) -> dict:
    teacher = await LiveClient.connect(base, f"?resume={before['token']}")
    opened, _ = await teacher.request({"type": "room_open"})
    board, _ = await teacher.request({"type": "class_dashboard"})
    ana = await LiveClient.connect(base, f"?room={before['code']}")
    await until(ana, is_type("room_hold"))
    joined, seen = await ana.request({"type": "class_join", "device": before["devices"]["Ana"]})
    got = [m for m in seen if is_type("room_handout")(m)]  # before the ack, or after it
    handout = got[0] if got else await until(ana, is_type("room_handout"))
    snaps = [m for m in seen if is_type("snapshot")(m)]
    snap = snaps[-1] if got and snaps else await until(ana, is_type("snapshot"))
    locked, _ = await ana.request({"type": "set", "batch_size": 5})
    more, _ = await ana.request({"type": "step", "n": 100})
    leaders = await until(teacher, lambda m: is_type("class_leaderboard")(m)
                          and m["challenge"] is not None
                          and {r["nickname"]: r["step"] for r in m["rows"]}
                          == {"Ana": 50, "Ben": 5})  # Ana's copy at its step budget
    for c in (teacher, ana):
        await c.close()
    return {"welcome": teacher.welcome, "opened": opened, "board": board, "joined": joined,
            "handout": handout, "snapshot": snap, "locked": locked, "more": more,
            "leaders": leaders}


def check_the_class_came_back(before: dict, after: dict) -> None:
    assert after["welcome"]["resumed"] is True and after["opened"]["code"] == before["code"]
    rows = {r["nickname"]: r for r in after["board"]["rows"]}
    assert set(rows) == {"Ana", "Ben"} and rows["Ana"]["step"] == 10 and rows["Ben"]["step"] == 5
    assert [c["text"] for c in rows["Ana"]["changed"]] == ["learning rate 0.03 → 0.1"]
    assert after["board"]["locks"] == ["batch_size"]
    assert after["joined"]["came_back"] is True and after["joined"]["copy"] is True
    assert after["handout"]["resumed"] is True and after["handout"]["step"] == 10
    assert after["snapshot"]["spec"]["training"]["optimizer"]["learning_rate"] == 0.1
    assert after["locked"]["code"] == "locked"
    # the step budget holds across the restart: 100 more steps stop at 50
    assert after["more"]["type"] == "ack" and after["more"]["step"] == 50
    leaders = after["leaders"]
    assert leaders["challenge"]["text"] == before["board"]["challenge"]["text"]
    assert [g["experiment"] for g in leaders["gallery"]] == [before["submitted"]["experiment"]]


def test_a_classroom_comes_back_after_the_server_is_stopped_and_started(tmp_path):
    env = {"PROPSCOPE_DB": str(tmp_path / "class.db")}
    with running_server(env=env, timeout=30) as first:
        before = run(lesson(first.base))
        # the board before the restart: Ana's held-out loss, to compare with the one after
    with running_server(env=env, timeout=30) as second:
        after = run(come_back(second.base, before))
    check_the_class_came_back(before, after)
    ana_before = next(r for r in before["board"]["rows"] if r["nickname"] == "Ana")
    ana_after = next(r for r in after["leaders"]["rows"] if r["nickname"] == "Ana")
    # the same held-out draw (its seed is kept): Ben's network, untouched at step 5, scores
    # exactly as before the restart
    ben_before = next(r for r in before["board"]["rows"] if r["nickname"] == "Ben")
    ben_after = next(r for r in after["leaders"]["rows"] if r["nickname"] == "Ben")
    assert ben_after["step"] == ben_before["step"] == 5
    assert ben_after["loss"] == ben_before["loss"]
    assert ana_after["step"] == 50 and ana_before["step"] == 10


def test_a_classroom_comes_back_after_a_crash_from_its_last_save(tmp_path):
    env = {"PROPSCOPE_DB": str(tmp_path / "class.db"), "PROPSCOPE_CLASSROOM_SAVE_S": "0.5"}
    with running_server(env=env, timeout=30) as first:
        before = run(lesson(first.base))
        time.sleep(1.5)  # three save intervals: the last state is on disk
        os.kill(first.proc.pid, signal.SIGKILL)
        first.proc.wait()
    with running_server(env=env, timeout=30) as second:
        t0 = time.monotonic()
        after = run(come_back(second.base, before))
        took = time.monotonic() - t0
        print(f"back after a SIGKILL: the teacher, Ana and her copy in {took:.2f} s")
    check_the_class_came_back(before, after)


def test_a_room_the_teacher_closed_does_not_come_back(tmp_path):
    env = {"PROPSCOPE_DB": str(tmp_path / "class.db")}

    async def close_it(base):
        teacher = await LiveClient.connect(base)
        ack, _ = await teacher.request({"type": "room_open"})
        await teacher.request({"type": "room_close"})
        await teacher.close()
        return teacher.welcome["token"], ack["code"]

    async def look(base, token, code):
        teacher = await LiveClient.connect(base, f"?resume={token}")
        viewer_error = None
        try:
            viewer = await LiveClient.connect(base, f"?room={code}")
            viewer_error = viewer.welcome
            await viewer.close()
        except Exception as err:  # the socket is closed after the error
            viewer_error = {"closed": type(err).__name__}
        await teacher.close()
        return teacher.welcome, viewer_error

    with running_server(env=env, timeout=30) as first:
        token, code = run(close_it(first.base))
    with running_server(env=env, timeout=30) as second:
        welcome, viewer = run(look(second.base, token, code))
    assert welcome["resumed"] is False  # nothing kept of a closed room's teacher
    assert viewer.get("code") == "unknown_room" or "closed" in viewer


def test_a_database_that_cannot_be_opened_leaves_the_server_running(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)  # no file can be made there (root ignores it: then a file is in the way)
    db = folder / "sub" / "class.db"
    if os.geteuid() == 0:
        (tmp_path / "file").write_text("not a folder")
        db = tmp_path / "file" / "class.db"

    async def lesson_without_keeping(base):
        teacher = await LiveClient.connect(base)
        ack, _ = await teacher.request({"type": "room_open"})
        closed, _ = await teacher.request({"type": "room_close"})
        await teacher.close()
        return ack, closed

    log = tmp_path / "server.log"
    with running_server(env={"PROPSCOPE_DB": str(db), "PROPSCOPE_CLASSROOM_SAVE_S": "0.2"},
                        timeout=30, log=log) as server:
        opened, closed = run(lesson_without_keeping(server.base))
    assert opened["type"] == "ack" and closed["type"] == "ack"  # the lesson went on
    assert "classrooms_not_restored" in log.read_text()  # and the server said why


def test_a_kept_trainer_is_packed_again_only_when_it_moved_or_was_edited():
    from app.classroom_store import fingerprint
    from engine.spec import Spec
    from engine.trainer import Trainer

    trainer = Trainer(Spec.from_dict(SPEC))
    first = fingerprint(trainer)
    assert fingerprint(trainer) == first  # nothing happened: the last .npz serves
    trainer.step()
    stepped = fingerprint(trainer)
    assert stepped != first
    trainer.network.layers[0].weight[0, 0] += 0.5  # a hand-edited weight, no step
    assert fingerprint(trainer) != stepped
    assert fingerprint(Trainer(Spec.from_dict(SPEC))) != first  # another trainer
