"""Accounts on SQLite: the last Clerk change applied per user, and forgetting a person (erasure)."""

from __future__ import annotations

from ..base import PERSONAL_ROWS
from .database import Database, now_text

# Migration 5's statements. Released: change the table by appending a migration.
CREATE = (
    # The `updated_at` (Clerk's, milliseconds) of the last user.updated applied to the user's Stripe customer.
    """CREATE TABLE IF NOT EXISTS stripe_clerk_users (
    clerk_user_id    TEXT PRIMARY KEY,
    clerk_updated_at INTEGER NOT NULL,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
)""",
)

_ADVANCE = (
    "INSERT INTO stripe_clerk_users (clerk_user_id, clerk_updated_at, created_at, updated_at)"
    " VALUES (:user, :stamp, :now, :now)"
    " ON CONFLICT (clerk_user_id) DO UPDATE SET clerk_updated_at = excluded.clerk_updated_at,"
    " updated_at = excluded.updated_at"
    " WHERE stripe_clerk_users.clerk_updated_at <= excluded.clerk_updated_at RETURNING clerk_user_id"
)


class Accounts(Database):
    """The Store's account methods."""

    def advance_clerk_user(self, clerk_user_id: str, clerk_updated_at: int) -> bool:
        """Record the user's Clerk change unless a later one is recorded (compared in the database)."""
        with self._write_lock, self._connection() as conn:
            return bool(conn.execute(_ADVANCE, {"user": clerk_user_id, "stamp": clerk_updated_at,
                                                "now": now_text()}).fetchall())

    def forget_user(self, clerk_user_id: str, stripe_customer_ids: tuple[str, ...] = ()) -> int:
        """Delete every row of PERSONAL_ROWS naming the user or their customers, in one transaction."""
        removed = 0
        with self._write() as conn:
            rows = conn.execute(
                "SELECT stripe_customer_id FROM stripe_customer_mapping WHERE clerk_user_id = :user"
                " UNION SELECT stripe_customer_id FROM stripe_subscriptions WHERE clerk_user_id = :user",
                {"user": clerk_user_id}).fetchall()
            customers = {row[0] for row in rows if row[0]} | set(stripe_customer_ids)
            for table, column in PERSONAL_ROWS:
                values = [clerk_user_id] if column == "clerk_user_id" else sorted(customers)
                for value in values:
                    removed += conn.execute(f"DELETE FROM {table} WHERE {column} = ?", (value,)).rowcount
        return removed
