"""Saved experiments in SQLite (stdlib ``sqlite3``), crash-safe.

* WAL journal, ``synchronous=FULL`` (a save is on disk when :meth:`Storage.save` returns — the
  acknowledgement the client gets is sent after that), ``busy_timeout`` for concurrent writers,
  every write inside ``BEGIN IMMEDIATE … COMMIT``.
* Versioned schema: ``PRAGMA user_version`` holds the number of applied migrations;
  :data:`MIGRATIONS` lists them in order and :meth:`Storage.migrate` applies the missing ones,
  each in its own transaction.
* Owner tokens are never stored, only their SHA-256; rename and delete need the token.

This module imports nothing heavy (no NumPy) so that a tiny helper process can use it.
Thread-safety: one connection guarded by a lock; callers on the event loop use
``asyncio.to_thread``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ID_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i
ID_LENGTH = 10
MAX_NAME = 200
BUSY_TIMEOUT_MS = 10_000


def _m1_create(db: sqlite3.Connection) -> None:
    db.execute(
        """CREATE TABLE experiments (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            owner_hash TEXT NOT NULL,
            created REAL NOT NULL,
            updated REAL NOT NULL,
            step INTEGER NOT NULL,
            spec TEXT NOT NULL,
            state BLOB NOT NULL,
            history TEXT NOT NULL
        )"""
    )


def _m2_dataset_and_index(db: sqlite3.Connection) -> None:
    db.execute("ALTER TABLE experiments ADD COLUMN dataset TEXT NOT NULL DEFAULT ''")
    db.execute("ALTER TABLE experiments ADD COLUMN state_format TEXT NOT NULL DEFAULT 'npz'")
    db.execute("CREATE INDEX experiments_updated ON experiments (updated DESC)")


def _m3_published(db: sqlite3.Connection) -> None:
    # The public list shows only what an owner chose to publish; earlier rows were never asked.
    db.execute("ALTER TABLE experiments ADD COLUMN published INTEGER NOT NULL DEFAULT 0")


def _m4_classrooms(db: sqlite3.Connection) -> None:
    # A classroom survives a restart (app/classroom_store.py): the room and its roster as JSON,
    # the teacher's trainer, and one row per student's copy. Tokens only as their SHA-256.
    db.execute(
        """CREATE TABLE classrooms (
            code TEXT PRIMARY KEY,
            teacher_hash TEXT NOT NULL,
            saved REAL NOT NULL,
            room TEXT NOT NULL,
            teacher_state BLOB NOT NULL,
            teacher_history TEXT NOT NULL
        )"""
    )
    db.execute(
        """CREATE TABLE classroom_copies (
            code TEXT NOT NULL REFERENCES classrooms (code) ON DELETE CASCADE,
            student TEXT NOT NULL,
            state BLOB NOT NULL,
            history TEXT NOT NULL,
            PRIMARY KEY (code, student)
        )"""
    )


MIGRATIONS = [_m1_create, _m2_dataset_and_index, _m3_published, _m4_classrooms]
SCHEMA_VERSION = len(MIGRATIONS)


class NotFound(KeyError):
    pass


class Forbidden(PermissionError):
    pass


@dataclass
class Experiment:
    id: str
    name: str
    created: float
    updated: float
    step: int
    dataset: str
    spec: dict
    history: dict | None = None
    state: bytes | None = None
    state_format: str = "npz"
    published: bool = False

    def summary(self) -> dict:
        return {
            "id": self.id,
            "name": self.name,
            "published": self.published,
            "created": self.created,
            "updated": self.updated,
            "step": self.step,
            "dataset": self.dataset,
            "share_path": f"/e/{self.id}",
        }


@dataclass
class SavedClassroom:
    """What is kept of one classroom (app/classroom_store.py makes and reads it)."""

    code: str
    teacher_hash: str
    saved: float
    room: dict  # the room, its roster, locks, challenge and gallery (JSON)
    teacher_state: bytes  # the teacher's trainer (engine.persistence .npz)
    teacher_history: dict
    copies: dict[str, tuple[bytes, dict]]  # student id → (copy's .npz, its history)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_id() -> str:
    return "".join(secrets.choice(ID_ALPHABET) for _ in range(ID_LENGTH))


def clean_name(name: str) -> str:
    name = " ".join(str(name).split())[:MAX_NAME]
    return name or "Untitled experiment"


class Storage:
    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.lock = threading.Lock()
        self.db = sqlite3.connect(
            self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
            check_same_thread=False,
        )
        self.db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute("PRAGMA synchronous = FULL")
        self.db.execute("PRAGMA foreign_keys = ON")
        self.migrate()

    # --- schema -------------------------------------------------------------------------------

    def version(self) -> int:
        return self.db.execute("PRAGMA user_version").fetchone()[0]

    def migrate(self) -> int:
        """Apply the migrations not yet applied; returns the schema version."""
        with self.lock:
            while True:
                self.db.execute("BEGIN IMMEDIATE")
                try:
                    current = self.version()
                    if current >= len(MIGRATIONS):
                        self.db.execute("COMMIT")
                        return current
                    MIGRATIONS[current](self.db)
                    self.db.execute(f"PRAGMA user_version = {current + 1}")
                    self.db.execute("COMMIT")
                except BaseException:
                    self.db.execute("ROLLBACK")
                    raise

    def _write(self, sql: str, args: tuple) -> int:
        with self.lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                count = self.db.execute(sql, args).rowcount
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            return count

    # --- operations -----------------------------------------------------------------------------

    def save(
        self, name: str, spec: dict, state: bytes, history: dict | None, step: int,
        dataset: str = "", state_format: str = "npz", published: bool = False,
    ) -> tuple[Experiment, str]:
        """Store a new experiment; returns it and its owner token. Durable when it returns.
        Unpublished (the default) experiments open by id but are not in the public list."""
        token = secrets.token_urlsafe(24)
        now = time.time()
        exp = Experiment(new_id(), clean_name(name), now, now, int(step), dataset, spec,
                         history, state, state_format, bool(published))
        self._write(
            "INSERT INTO experiments (id, name, owner_hash, created, updated, step, spec, state,"
            " history, dataset, state_format, published) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
            " ?, ?)",
            (exp.id, exp.name, hash_token(token), now, now, exp.step, json.dumps(spec),
             sqlite3.Binary(state), json.dumps(history or {}), dataset, state_format,
             int(exp.published)),
        )
        return exp, token

    def get(self, exp_id: str, *, with_state: bool = False) -> Experiment:
        cols = ("id, name, created, updated, step, dataset, spec, history, state_format, "
                "published")
        if with_state:
            cols += ", state"
        with self.lock:
            row = self.db.execute(
                f"SELECT {cols} FROM experiments WHERE id = ?", (exp_id,)
            ).fetchone()
        if row is None:
            raise NotFound(exp_id)
        return Experiment(
            id=row[0], name=row[1], created=row[2], updated=row[3], step=row[4], dataset=row[5],
            spec=json.loads(row[6]), history=json.loads(row[7]), state_format=row[8],
            published=bool(row[9]), state=bytes(row[10]) if with_state else None,
        )

    def list(
        self, limit: int = 50, offset: int = 0, mine: tuple[str, ...] = ()
    ) -> tuple[list[Experiment], int]:
        """Published experiments, plus those whose ids the caller names (its own: knowing an
        id already opens it); nobody can enumerate what was not published."""
        marks = ",".join("?" * len(mine))
        where = f"published = 1 OR id IN ({marks})" if mine else "published = 1"
        with self.lock:
            total = self.db.execute(
                f"SELECT COUNT(*) FROM experiments WHERE {where}", mine
            ).fetchone()[0]
            rows = self.db.execute(
                "SELECT id, name, created, updated, step, dataset, spec, published FROM "
                f"experiments WHERE {where} ORDER BY updated DESC, id LIMIT ? OFFSET ?",
                (*mine, limit, offset),
            ).fetchall()
        return [
            Experiment(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6]),
                       published=bool(r[7])) for r in rows
        ], total

    def ids(self) -> set[str]:
        with self.lock:
            return {r[0] for r in self.db.execute("SELECT id FROM experiments")}

    def _check_owner(self, exp_id: str, token: str | None) -> None:
        with self.lock:
            row = self.db.execute(
                "SELECT owner_hash FROM experiments WHERE id = ?", (exp_id,)
            ).fetchone()
        if row is None:
            raise NotFound(exp_id)
        if not token or not hmac.compare_digest(row[0], hash_token(token)):
            raise Forbidden(exp_id)

    def rename(self, exp_id: str, name: str, token: str | None) -> Experiment:
        self._check_owner(exp_id, token)
        self._write(
            "UPDATE experiments SET name = ?, updated = ? WHERE id = ?",
            (clean_name(name), time.time(), exp_id),
        )
        return self.get(exp_id)

    def set_published(self, exp_id: str, published: bool, token: str | None) -> Experiment:
        self._check_owner(exp_id, token)
        self._write(
            "UPDATE experiments SET published = ?, updated = ? WHERE id = ?",
            (int(bool(published)), time.time(), exp_id),
        )
        return self.get(exp_id)

    def delete(self, exp_id: str, token: str | None) -> None:
        self._check_owner(exp_id, token)
        self._write("DELETE FROM experiments WHERE id = ?", (exp_id,))

    # --- classrooms (app/classroom_store.py) ----------------------------------------------------

    def save_classroom(self, saved: SavedClassroom) -> None:
        """Replace what is kept of one classroom, copies included, in one transaction."""
        with self.lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                self.db.execute("DELETE FROM classroom_copies WHERE code = ?", (saved.code,))
                self.db.execute(
                    "INSERT OR REPLACE INTO classrooms (code, teacher_hash, saved, room,"
                    " teacher_state, teacher_history) VALUES (?, ?, ?, ?, ?, ?)",
                    (saved.code, saved.teacher_hash, saved.saved, json.dumps(saved.room),
                     sqlite3.Binary(saved.teacher_state), json.dumps(saved.teacher_history)),
                )
                self.db.executemany(
                    "INSERT INTO classroom_copies (code, student, state, history)"
                    " VALUES (?, ?, ?, ?)",
                    [(saved.code, student, sqlite3.Binary(state), json.dumps(history))
                     for student, (state, history) in saved.copies.items()],
                )
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise

    def classrooms(self, since: float) -> list[SavedClassroom]:
        """Every classroom saved at or after ``since`` (older ones are over: dropped)."""
        self._write("DELETE FROM classrooms WHERE saved < ?", (since,))
        with self.lock:
            rooms = self.db.execute(
                "SELECT code, teacher_hash, saved, room, teacher_state, teacher_history"
                " FROM classrooms ORDER BY saved").fetchall()
            copies = self.db.execute(
                "SELECT code, student, state, history FROM classroom_copies").fetchall()
        out = []
        for code, teacher_hash, saved, room, state, history in rooms:
            mine = {student: (bytes(s), json.loads(h)) for c, student, s, h in copies
                    if c == code}
            out.append(SavedClassroom(code, teacher_hash, saved, json.loads(room), bytes(state),
                                      json.loads(history), mine))
        return out

    def touch_classroom(self, code: str, saved: float) -> None:
        """A kept classroom that did not change: only its time moves on (it stays fresh)."""
        self._write("UPDATE classrooms SET saved = ? WHERE code = ?", (saved, code))

    def delete_classroom(self, code: str) -> None:
        self._write("DELETE FROM classrooms WHERE code = ?", (code,))

    def integrity(self) -> str:
        with self.lock:
            return self.db.execute("PRAGMA integrity_check").fetchone()[0]

    def close(self) -> None:
        with self.lock:
            self.db.close()


def _helper_main(argv: list[str]) -> None:  # pragma: no cover - run as a separate process
    """``python -m app.storage DB BLOB_BYTES``: save forever, printing each acknowledged id.

    Used by tests/app/test_storage.py, which SIGKILLs this process at random moments.
    """
    import os
    import sys

    path, size = argv[0], int(argv[1])
    store = Storage(path)
    print("ready", flush=True)
    n = 0
    while True:
        n += 1
        blob = os.urandom(size)
        exp, _ = store.save(f"crash {n}", {"n": n}, blob, {"rows": [[n, 1]]}, n)
        sys.stdout.write(f"{exp.id} {hashlib.sha256(blob).hexdigest()}\n")
        sys.stdout.flush()


if __name__ == "__main__":  # pragma: no cover
    import sys

    _helper_main(sys.argv[1:])
