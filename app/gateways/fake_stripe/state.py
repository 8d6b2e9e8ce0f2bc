"""The stand-in's state in SQLite: objects by id, and idempotency keys with the answer they first got.

A file is shared by every gunicorn worker of a development server (each process opens its own
connection; writes take `BEGIN IMMEDIATE`); `path=None` keeps it in memory for one process (tests).
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

SCHEMA = """
CREATE TABLE IF NOT EXISTS stripe_objects (
    id TEXT PRIMARY KEY, type TEXT NOT NULL, created INTEGER NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0, body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS stripe_objects_by_type ON stripe_objects (type, created);
CREATE TABLE IF NOT EXISTS stripe_idempotency_keys (
    key TEXT PRIMARY KEY, request TEXT NOT NULL, status INTEGER NOT NULL, body TEXT NOT NULL,
    created REAL NOT NULL);
"""


class State:
    """Stored Stripe objects; one connection per process, used by one thread at a time."""

    def __init__(self, path: str | None = None):
        self.path = path
        self._lock = threading.RLock()
        self._depth = 0
        self._conn: sqlite3.Connection | None = None
        self._pid = None
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            self._db().executescript(SCHEMA)

    def _db(self) -> sqlite3.Connection:
        # gunicorn forks after building the app (preload_app): a connection must not cross a fork.
        if self._conn is None or self._pid != os.getpid():
            self._conn = sqlite3.connect(self.path or ":memory:", timeout=10, isolation_level=None,
                                         check_same_thread=False)
            if self.path:
                self._conn.execute("PRAGMA journal_mode = WAL")
            self._pid = os.getpid()
        return self._conn

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All of it or none of it, and no other writer meanwhile (threads: a lock; processes: SQLite's)."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            db = self._db()
            db.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield
            except BaseException:
                db.execute("ROLLBACK")
                raise
            else:
                db.execute("COMMIT")
            finally:
                self._depth = 0

    def _query(self, sql: str, args: tuple = ()) -> list[tuple]:
        with self._lock:
            return self._db().execute(sql, args).fetchall()

    def get(self, object_id: str) -> tuple[dict, bool] | None:
        """(object, deleted) or None when the id was never stored."""
        rows = self._query("SELECT body, deleted FROM stripe_objects WHERE id = ?", (object_id,))
        return (json.loads(rows[0][0]), bool(rows[0][1])) if rows else None

    def put(self, obj: dict, deleted: bool = False) -> None:
        """Store (or replace) an object; a deleted one keeps its last body (search's index may still show it)."""
        with self.transaction():
            self._db().execute(
                "INSERT OR REPLACE INTO stripe_objects (id, type, created, deleted, body) VALUES (?, ?, ?, ?, ?)",
                (obj["id"], obj["object"], obj.get("created", 0), int(deleted), json.dumps(obj)))

    def all(self, type_: str) -> list[tuple[dict, bool]]:
        """Every stored object of a type, deleted ones included, oldest first."""
        rows = self._query("SELECT body, deleted FROM stripe_objects WHERE type = ? ORDER BY created, rowid",
                           (type_,))
        return [(json.loads(body), bool(deleted)) for body, deleted in rows]

    def count(self, type_: str) -> int:
        return self._query("SELECT count(*) FROM stripe_objects WHERE type = ?", (type_,))[0][0]

    def remembered(self, key: str) -> tuple[str, int, dict] | None:
        """(request fingerprint, status, body) first answered under an idempotency key."""
        rows = self._query("SELECT request, status, body FROM stripe_idempotency_keys WHERE key = ?", (key,))
        return (rows[0][0], rows[0][1], json.loads(rows[0][2])) if rows else None

    def remember(self, key: str, request: str, status: int, body: dict, now: float) -> None:
        """Keep an answer for its key; Stripe forgets keys after 24 hours, and so does the stand-in."""
        with self.transaction():
            db = self._db()
            db.execute("DELETE FROM stripe_idempotency_keys WHERE created < ?", (now - 24 * 3600,))
            db.execute("INSERT INTO stripe_idempotency_keys (key, request, status, body, created)"
                       " VALUES (?, ?, ?, ?, ?)", (key, request, status, json.dumps(body), now))
