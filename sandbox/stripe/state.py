"""The sandbox's state in SQLite: objects by id, idempotency keys with the answer they first got,
settings (the clock's offset, the decline switch) and webhook deliveries (delivery.py).

A file is shared by every gunicorn worker of a development server (WAL; writes take `BEGIN
IMMEDIATE`); `path=None` keeps it in memory for one process (tests).
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from contextlib import contextmanager, nullcontext
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
CREATE TABLE IF NOT EXISTS stripe_settings (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS stripe_deliveries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL, body TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0, delayed INTEGER NOT NULL DEFAULT 0,
    recorded REAL NOT NULL, next_attempt REAL NOT NULL, claimed_until REAL, last_error TEXT);
CREATE INDEX IF NOT EXISTS stripe_deliveries_due ON stripe_deliveries (state, next_attempt);
"""


class State:
    """Stored Stripe objects. A file: one connection per thread and process; memory: one connection, one thread at a time."""

    def __init__(self, path: str | None = None):
        self.path = path
        # Writers of one process queue here, not in SQLite's sleeping busy handler (a much shorter tail);
        # in memory there is one connection, so readers queue here too.
        self._lock = threading.RLock()
        self._read_lock = self._lock if path is None else nullcontext()
        self._local = threading.local()
        self._memory = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False) if not path else None
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            self._db().executescript(SCHEMA)

    def _db(self) -> sqlite3.Connection:
        if self._memory is not None:
            return self._memory
        local = self._local
        # gunicorn forks after building the app (preload_app): a connection must not cross a fork.
        if getattr(local, "conn", None) is None or local.pid != os.getpid():
            local.conn = sqlite3.connect(self.path, timeout=10, isolation_level=None)
            local.conn.execute("PRAGMA journal_mode = WAL")
            local.pid = os.getpid()
        return local.conn

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All of it or none of it, and no other writer meanwhile (threads: a lock; processes: SQLite's)."""
        with self._lock:
            depth = getattr(self._local, "depth", 0)
            if depth:  # already inside this thread's transaction
                self._local.depth = depth + 1
                try:
                    yield
                finally:
                    self._local.depth = depth
                return
            db = self._db()
            db.execute("BEGIN IMMEDIATE")
            self._local.depth = 1
            try:
                yield
            except BaseException:
                db.execute("ROLLBACK")
                raise
            else:
                db.execute("COMMIT")
            finally:
                self._local.depth = 0

    def _query(self, sql: str, args: tuple = ()) -> list[tuple]:
        with self._read_lock:
            return self._db().execute(sql, args).fetchall()

    def get(self, object_id: str) -> tuple[dict, bool] | None:
        """(object, deleted) or None when the id was never stored."""
        rows = self._query("SELECT body, deleted FROM stripe_objects WHERE id = ?", (object_id,))
        return (json.loads(rows[0][0]), bool(rows[0][1])) if rows else None

    def put(self, obj: dict, deleted: bool = False) -> None:
        """Store (or replace) an object; a deleted one keeps its last body (search's index may still show it)."""
        with self.transaction():
            # An upsert, not INSERT OR REPLACE: an object keeps its rowid, so `all` keeps the order of creation.
            self._db().execute(
                "INSERT INTO stripe_objects (id, type, created, deleted, body) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (id) DO UPDATE SET type = excluded.type, created = excluded.created,"
                " deleted = excluded.deleted, body = excluded.body",
                (obj["id"], obj["object"], obj.get("created", 0), int(deleted), json.dumps(obj)))

    def prune(self, type_: str, created_before: int) -> None:
        """Forget objects of a type created before a time (events: Stripe keeps 30 days)."""
        with self.transaction():
            self._db().execute("DELETE FROM stripe_objects WHERE type = ? AND created < ?", (type_, created_before))

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
        """Keep an answer for its key; Stripe forgets keys after 24 hours, and so does the sandbox's Stripe."""
        with self.transaction():
            db = self._db()
            db.execute("DELETE FROM stripe_idempotency_keys WHERE created < ?", (now - 24 * 3600,))
            db.execute("INSERT INTO stripe_idempotency_keys (key, request, status, body, created)"
                       " VALUES (?, ?, ?, ?, ?)", (key, request, status, json.dumps(body), now))

    def setting(self, name: str, default: str | None = None) -> str | None:
        """A stored setting (the clock's offset, the decline switch), shared by every process on the file."""
        rows = self._query("SELECT value FROM stripe_settings WHERE name = ?", (name,))
        return rows[0][0] if rows else default

    def set_setting(self, name: str, value: str) -> None:
        with self.transaction():
            self._db().execute("INSERT INTO stripe_settings (name, value) VALUES (?, ?)"
                               " ON CONFLICT (name) DO UPDATE SET value = excluded.value", (name, value))

    def query(self, sql: str, args: tuple = ()) -> list[tuple]:
        """Rows of a read (the delivery queue's own SQL)."""
        return self._query(sql, args)

    def execute(self, sql: str, args: tuple = ()) -> int:
        """One write, in a transaction (the caller's, if any); the number of rows it changed."""
        with self.transaction():
            return self._db().execute(sql, args).rowcount
