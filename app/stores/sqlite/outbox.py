"""The Clerk outbox on SQLite: one row per user, the newest staged state (stamp-guarded) and what Clerk last took."""

from __future__ import annotations

import json
import sqlite3

from ..base import MAX_ERROR_LENGTH, OutboxEntry
from .database import Database, new_id, now_text

CREATE = (
    """CREATE TABLE IF NOT EXISTS stripe_clerk_outbox (
    id              TEXT PRIMARY KEY,
    clerk_user_id   TEXT NOT NULL UNIQUE,
    state           TEXT NOT NULL,
    stamp           INTEGER NOT NULL,
    changed_at      REAL NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    sent_stamp      INTEGER,
    sent_at         REAL,
    last_error      TEXT,
    lease_token     TEXT,
    lease_until     REAL,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
)""",
    "CREATE INDEX IF NOT EXISTS idx_stripe_clerk_outbox_due ON stripe_clerk_outbox (next_attempt_at)",
)

TABLE = "stripe_clerk_outbox"
COLUMNS = ("clerk_user_id, state, stamp, changed_at, attempts, next_attempt_at, sent_stamp, sent_at, last_error,"
           " lease_token, lease_until")
PENDING = "(sent_stamp IS NULL OR sent_stamp < stamp)"


def _entry(row: sqlite3.Row) -> OutboxEntry:
    return OutboxEntry(clerk_user_id=row["clerk_user_id"], state=json.loads(row["state"]), stamp=row["stamp"],
                       changed_at=row["changed_at"], attempts=row["attempts"], next_attempt_at=row["next_attempt_at"],
                       sent_stamp=row["sent_stamp"], sent_at=row["sent_at"], last_error=row["last_error"],
                       lease_token=row["lease_token"], lease_until=row["lease_until"])


class Outbox(Database):
    """The Store's outbox methods."""

    def save_outbox(self, clerk_user_id: str, state: dict, stamp: int, changed_at: float) -> bool:
        """Stage the state unless a greater stamp is staged (see Store.save_outbox)."""
        now = now_text()
        with self._write_lock, self._connection() as conn:
            return bool(conn.execute(
                f"INSERT INTO {TABLE} (id, clerk_user_id, state, stamp, changed_at, next_attempt_at, created_at,"
                " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (clerk_user_id) DO UPDATE SET state = excluded.state, stamp = excluded.stamp,"
                " changed_at = excluded.changed_at, attempts = 0, next_attempt_at = excluded.next_attempt_at,"
                f" last_error = NULL, updated_at = excluded.updated_at WHERE {TABLE}.stamp < excluded.stamp"
                " RETURNING clerk_user_id",
                (new_id(), clerk_user_id, json.dumps(state, sort_keys=True), stamp, changed_at, changed_at, now, now)).fetchall())

    def claim_outbox(self, now: float, token: str, lease_seconds: float, limit: int,
                     waiting_too: bool = False) -> list[OutboxEntry]:
        """Lease the due rows, smallest stamp first (see Store.claim_outbox)."""
        with self._write_lock, self._connection() as conn:
            rows = conn.execute(
                f"UPDATE {TABLE} SET lease_token = ?, lease_until = ?, updated_at = ? WHERE clerk_user_id IN ("
                f" SELECT clerk_user_id FROM {TABLE} WHERE {PENDING} AND next_attempt_at <= ?"
                " AND (lease_until IS NULL OR lease_until <= ?) ORDER BY stamp LIMIT ?)"
                f" RETURNING {COLUMNS}",
                (token, now + lease_seconds, now_text(), float("inf") if waiting_too else now, now, limit)).fetchall()
        return sorted((_entry(row) for row in rows), key=lambda entry: entry.stamp)

    def mark_outbox_sent(self, clerk_user_id: str, token: str, stamp: int, now: float) -> bool:
        """Record the state of `stamp` as accepted and free the lease, if ours (see Store.mark_outbox_sent)."""
        cursor = self._write_one(
            f"UPDATE {TABLE} SET sent_stamp = max(coalesce(sent_stamp, 0), ?), sent_at = ?, last_error = NULL,"
            " attempts = 0, lease_token = NULL, lease_until = NULL, updated_at = ?"
            " WHERE clerk_user_id = ? AND lease_token = ?",
            (stamp, now, now_text(), clerk_user_id, token))
        return cursor.rowcount == 1

    def mark_outbox_failed(self, clerk_user_id: str, token: str, error: str, next_attempt_at: float) -> bool:
        """Count the failure, wait until `next_attempt_at`, free the lease, if ours (see Store.mark_outbox_failed)."""
        cursor = self._write_one(
            f"UPDATE {TABLE} SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?, lease_token = NULL,"
            " lease_until = NULL, updated_at = ? WHERE clerk_user_id = ? AND lease_token = ?",
            (error[:MAX_ERROR_LENGTH], next_attempt_at, now_text(), clerk_user_id, token))
        return cursor.rowcount == 1

    def get_outbox(self, clerk_user_id: str) -> OutboxEntry | None:
        """The user's outbox row, or None."""
        with self._connection() as conn:
            row = conn.execute(f"SELECT {COLUMNS} FROM {TABLE} WHERE clerk_user_id = ?", (clerk_user_id,)).fetchone()
        return None if row is None else _entry(row)

    def count_outbox_pending(self) -> int:
        """How many users have a state Clerk has not accepted yet."""
        with self._connection() as conn:
            return conn.execute(f"SELECT count(*) FROM {TABLE} WHERE {PENDING}").fetchone()[0]
