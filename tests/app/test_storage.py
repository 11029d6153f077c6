"""SQLite storage: migrations, owner tokens, and crash safety under SIGKILL."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.storage import MIGRATIONS, SCHEMA_VERSION, Forbidden, NotFound, Storage

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(120)


def test_schema_is_migrated_step_by_step(tmp_path):
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    MIGRATIONS[0](db)  # a database from schema version 1
    db.execute("PRAGMA user_version = 1")
    db.execute("INSERT INTO experiments VALUES ('abc', 'old', 'h', 1, 1, 5, '{}', x'00', '{}')")
    db.commit()
    db.close()
    store = Storage(path)
    assert store.version() == SCHEMA_VERSION >= 2
    old = store.get("abc", with_state=True)
    assert old.name == "old" and old.dataset == "" and old.state == b"\0"
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    store.close()
    assert Storage(path).version() == SCHEMA_VERSION  # idempotent


def test_owner_token_guards_rename_and_delete(tmp_path):
    store = Storage(tmp_path / "s.db")
    exp, token = store.save("a", {"x": 1}, b"state", {"rows": []}, 3, "circle")
    assert store.get(exp.id, with_state=True).state == b"state"
    with pytest.raises(Forbidden):
        store.rename(exp.id, "b", "wrong")
    with pytest.raises(Forbidden):
        store.delete(exp.id, None)
    assert store.rename(exp.id, "b", token).name == "b"
    store.delete(exp.id, token)
    with pytest.raises(NotFound):
        store.get(exp.id)
    assert "token" not in repr(store.db.execute("SELECT * FROM experiments").fetchall())


def test_every_acknowledged_save_survives_sigkill(tmp_path):
    """50 times: a helper process saves in a loop, printing each committed id; SIGKILL it at a
    random moment; reopen the database: every printed id is there, intact."""
    path = tmp_path / "crash.db"
    acknowledged: dict[str, str] = {}
    rng = random.Random(6)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for _ in range(50):
        proc = subprocess.Popen(
            [sys.executable, "-c",
             "import sys; from app.storage import _helper_main; _helper_main(sys.argv[1:])",
             str(path), str(rng.choice([2_000, 40_000, 300_000]))],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, env=env,
        )
        assert proc.stdout.readline().strip() == b"ready"
        time.sleep(rng.uniform(0.0, 0.08))
        proc.send_signal(signal.SIGKILL)
        out, err = proc.communicate(timeout=10)
        assert proc.returncode == -signal.SIGKILL, err.decode()
        for line in out.decode().splitlines():
            parts = line.split()
            if len(parts) == 2:  # a line cut short by the kill is not an acknowledgement
                acknowledged[parts[0]] = parts[1]
    assert len(acknowledged) > 50
    store = Storage(path)
    assert store.integrity() == "ok"
    present = store.ids()
    missing = set(acknowledged) - present
    assert not missing, f"{len(missing)} acknowledged saves were lost"
    for exp_id in rng.sample(sorted(acknowledged), 25):
        state = store.get(exp_id, with_state=True).state
        assert hashlib.sha256(state).hexdigest() == acknowledged[exp_id]
