"""The embedded store: SQLite in WAL mode, safe across gunicorn workers and threads.

Each thread of each process gets its own connection. Claims run inside
`BEGIN IMMEDIATE`, which takes SQLite's single write lock before the read, so the
read-decide-write of a claim cannot interleave with another process's.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import uuid
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

from .base import (
    ClaimOutcome,
    CustomerClaim,
    CustomerMapping,
    EventClaim,
    StoreUnavailable,
    WebhookEvent,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS stripe_customer_mapping (
    id                 TEXT PRIMARY KEY,
    user_id            TEXT,
    clerk_user_id      TEXT NOT NULL UNIQUE,
    stripe_customer_id TEXT UNIQUE,
    status             TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'active')),
    generation         INTEGER NOT NULL DEFAULT 0,
    claim_token        TEXT,
    lease_expires_at   TEXT,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS stripe_webhook_events (
    id               TEXT PRIMARY KEY,
    stripe_event_id  TEXT NOT NULL UNIQUE,
    event_type       TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('processing', 'processed', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT,
    claim_token      TEXT,
    lease_expires_at TEXT,
    processed_at     TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_stripe_webhook_events_event_type ON stripe_webhook_events (event_type);
CREATE INDEX IF NOT EXISTS idx_stripe_webhook_events_status ON stripe_webhook_events (status);
"""

_CUSTOMER_COLUMNS = (
    "id, clerk_user_id, stripe_customer_id, status, generation, claim_token, lease_expires_at, created_at, updated_at"
)
_EVENT_COLUMNS = (
    "stripe_event_id, event_type, status, attempts, last_error, claim_token, lease_expires_at, "
    "processed_at, created_at, updated_at"
)
MAX_ERROR_LENGTH = 2000
_INSERT_EVENT = (
    "INSERT INTO stripe_webhook_events (id, stripe_event_id, event_type, status, attempts,"
    " claim_token, lease_expires_at, created_at, updated_at)"
    " VALUES (?, ?, ?, 'processing', 1, ?, ?, ?, ?)"
)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _iso(moment: datetime | None) -> str | None:
    # One fixed-width format, so that text comparison in SQL orders like time.
    return None if moment is None else moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)  # "...Z" → aware UTC


def _lease(seconds: float) -> tuple[str, str]:
    now = _now()
    return _iso(now), _iso(now + timedelta(seconds=seconds))


def _new_id() -> str:
    return str(uuid.uuid4())


class SQLiteStore:
    """The Store interface on a local SQLite file."""

    def __init__(self, path: str, busy_timeout_ms: int = 10_000):
        self.path = path
        self.busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        self._write_lock = threading.Lock()
        if path == ":memory:":
            raise ValueError("SQLiteStore needs a file: each thread opens its own connection")
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        with self._connection() as conn:
            conn.executescript(SCHEMA)

    # --- connections -------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path,
            timeout=self.busy_timeout_ms / 1000,
            isolation_level=None,  # we issue BEGIN ourselves
            check_same_thread=True,
        )
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        return conn

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        # A connection opened before a fork belongs to the parent: reopen per process.
        pid = os.getpid()
        conn = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "pid", None) != pid:
            try:
                conn = self._connect()
            except sqlite3.Error as exc:
                raise StoreUnavailable(f"cannot open SQLite database: {exc}") from exc
            self._local.conn, self._local.pid = conn, pid
        try:
            yield conn
        except sqlite3.OperationalError as exc:
            raise StoreUnavailable(f"SQLite error: {exc}") from exc

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that holds SQLite's write lock from its first statement.

        Threads of one process queue on a mutex first: SQLite's own busy handler waits by
        sleeping in growing steps (up to 100 ms), which under load turns into long tails.
        Between processes, SQLite's lock (and busy timeout) still settles who writes.
        """
        with self._write_lock, self._connection() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                # SQLite may have rolled back already (disk full, say): never leave the
                # thread's connection inside a transaction, and never hide the first error.
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def _write_one(self, sql: str, params: tuple) -> sqlite3.Cursor:
        """One statement, atomic on its own (autocommit), queued behind this process's writers."""
        with self._write_lock, self._connection() as conn:
            cursor = conn.execute(sql, params)
            cursor.fetchall()  # step a RETURNING statement to its end, so that it commits now
            return cursor

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def ping(self) -> None:
        with self._connection() as conn:
            conn.execute("SELECT 1").fetchone()

    # --- customers ---------------------------------------------------------
    @staticmethod
    def _customer(row: sqlite3.Row | None) -> CustomerMapping | None:
        if row is None:
            return None
        return CustomerMapping(
            id=row["id"],
            clerk_user_id=row["clerk_user_id"],
            stripe_customer_id=row["stripe_customer_id"],
            status=row["status"],
            generation=row["generation"],
            claim_token=row["claim_token"],
            lease_expires_at=_parse(row["lease_expires_at"]),
            created_at=_parse(row["created_at"]),
            updated_at=_parse(row["updated_at"]),
        )

    def _select_customer(self, conn: sqlite3.Connection, clerk_user_id: str) -> sqlite3.Row | None:
        return conn.execute(
            f"SELECT {_CUSTOMER_COLUMNS} FROM stripe_customer_mapping WHERE clerk_user_id = ?",
            (clerk_user_id,),
        ).fetchone()

    def get_customer_mapping(self, clerk_user_id: str) -> CustomerMapping | None:
        with self._connection() as conn:
            return self._customer(self._select_customer(conn, clerk_user_id))

    def claim_customer(self, clerk_user_id, token, lease_seconds, stale_customer_id=None) -> CustomerClaim:
        with self._write() as conn:
            now_text, lease_text = _lease(lease_seconds)  # read the clock once we hold the lock
            row = self._select_customer(conn, clerk_user_id)
            if row is None:
                conn.execute(
                    "INSERT INTO stripe_customer_mapping (id, user_id, clerk_user_id, status, generation,"
                    " claim_token, lease_expires_at, created_at, updated_at)"
                    " VALUES (?, ?, ?, 'pending', 0, ?, ?, ?, ?)",
                    (_new_id(), clerk_user_id, clerk_user_id, token, lease_text, now_text, now_text),
                )
            elif row["status"] == "pending" and (row["lease_expires_at"] or "") <= now_text:
                conn.execute(
                    "UPDATE stripe_customer_mapping SET claim_token = ?, lease_expires_at = ?, updated_at = ?"
                    " WHERE clerk_user_id = ?",
                    (token, lease_text, now_text, clerk_user_id),
                )
            elif (
                stale_customer_id is not None
                and row["status"] == "active"
                and row["stripe_customer_id"] == stale_customer_id
            ):
                conn.execute(
                    "UPDATE stripe_customer_mapping SET status = 'pending', stripe_customer_id = NULL,"
                    " generation = generation + 1, claim_token = ?, lease_expires_at = ?, updated_at = ?"
                    " WHERE clerk_user_id = ?",
                    (token, lease_text, now_text, clerk_user_id),
                )
            else:
                return CustomerClaim(self._customer(row), owned=False)
            return CustomerClaim(self._customer(self._select_customer(conn, clerk_user_id)), owned=True)

    def complete_customer(self, clerk_user_id, token, stripe_customer_id) -> bool:
        cursor = self._write_one(
            "UPDATE stripe_customer_mapping SET status = 'active', stripe_customer_id = ?,"
            " claim_token = NULL, lease_expires_at = NULL, updated_at = ?"
            " WHERE clerk_user_id = ? AND claim_token = ? AND status = 'pending'",
            (stripe_customer_id, _iso(_now()), clerk_user_id, token),
        )
        return cursor.rowcount == 1

    def release_customer_claim(self, clerk_user_id, token) -> None:
        now_text = _iso(_now())
        self._write_one(
            "UPDATE stripe_customer_mapping SET lease_expires_at = ?, updated_at = ?"
            " WHERE clerk_user_id = ? AND claim_token = ? AND status = 'pending'",
            (now_text, now_text, clerk_user_id, token),
        )

    def delete_customer_mapping(self, stripe_customer_id) -> int:
        cursor = self._write_one("DELETE FROM stripe_customer_mapping WHERE stripe_customer_id = ?",
                                 (stripe_customer_id,))
        return cursor.rowcount

    # --- webhook events ----------------------------------------------------
    @staticmethod
    def _event(row: sqlite3.Row | None) -> WebhookEvent | None:
        if row is None:
            return None
        return WebhookEvent(
            stripe_event_id=row["stripe_event_id"],
            event_type=row["event_type"],
            status=row["status"],
            attempts=row["attempts"],
            last_error=row["last_error"],
            claim_token=row["claim_token"],
            lease_expires_at=_parse(row["lease_expires_at"]),
            processed_at=_parse(row["processed_at"]),
            created_at=_parse(row["created_at"]),
            updated_at=_parse(row["updated_at"]),
        )

    def _select_event(self, conn: sqlite3.Connection, event_id: str) -> sqlite3.Row | None:
        return conn.execute(
            f"SELECT {_EVENT_COLUMNS} FROM stripe_webhook_events WHERE stripe_event_id = ?", (event_id,)
        ).fetchone()

    def get_event(self, event_id) -> WebhookEvent | None:
        with self._connection() as conn:
            return self._event(self._select_event(conn, event_id))

    def claim_event(self, event_id, event_type, token, lease_seconds) -> EventClaim:
        # The common case, a new event, is one atomic statement: insert unless it exists.
        with self._write_lock, self._connection() as conn:
            now_text, lease_text = _lease(lease_seconds)
            inserted = conn.execute(
                f"{_INSERT_EVENT} ON CONFLICT (stripe_event_id) DO NOTHING RETURNING {_EVENT_COLUMNS}",
                (_new_id(), event_id, event_type, token, lease_text, now_text, now_text),
            ).fetchall()
        if inserted:
            return EventClaim(ClaimOutcome.CLAIMED, self._event(inserted[0]))
        # It exists: read, decide and maybe take it over, in one write transaction.
        with self._write() as conn:
            now_text, lease_text = _lease(lease_seconds)  # read the clock once we hold the lock
            row = self._select_event(conn, event_id)
            if row is None:  # deleted in between (by hand): claim it afresh
                conn.execute(_INSERT_EVENT, (_new_id(), event_id, event_type, token, lease_text, now_text, now_text))
            elif row["status"] == "processed":
                return EventClaim(ClaimOutcome.PROCESSED, self._event(row))
            elif row["status"] == "processing" and (row["lease_expires_at"] or "") > now_text:
                return EventClaim(ClaimOutcome.IN_PROGRESS, self._event(row))
            else:
                conn.execute(
                    "UPDATE stripe_webhook_events SET status = 'processing', attempts = attempts + 1,"
                    " claim_token = ?, lease_expires_at = ?, updated_at = ? WHERE stripe_event_id = ?",
                    (token, lease_text, now_text, event_id),
                )
            return EventClaim(ClaimOutcome.CLAIMED, self._event(self._select_event(conn, event_id)))

    def mark_event_processed(self, event_id, token) -> bool:
        now_text = _iso(_now())
        cursor = self._write_one(
            "UPDATE stripe_webhook_events SET status = 'processed', processed_at = ?, last_error = NULL,"
            " claim_token = NULL, lease_expires_at = NULL, updated_at = ?"
            " WHERE stripe_event_id = ? AND claim_token = ? AND status = 'processing'",
            (now_text, now_text, event_id, token),
        )
        return cursor.rowcount == 1

    def mark_event_failed(self, event_id, token, error) -> bool:
        now_text = _iso(_now())
        cursor = self._write_one(
            "UPDATE stripe_webhook_events SET status = 'failed', last_error = ?,"
            " claim_token = NULL, lease_expires_at = NULL, updated_at = ?"
            " WHERE stripe_event_id = ? AND claim_token = ? AND status = 'processing'",
            (error[:MAX_ERROR_LENGTH], now_text, event_id, token),
        )
        return cursor.rowcount == 1
