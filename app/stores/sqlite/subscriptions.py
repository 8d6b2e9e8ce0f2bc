"""Stripe subscriptions on SQLite: one row per subscription, written only by a newer read."""

from __future__ import annotations

import sqlite3

from ..base import SubscriptionRecord
from .database import Database, new_id, newer_record_upsert, now_text, parse

# Migration 2's statements for this table. Released: change the table by appending a migration.
CREATE = (
    # No CHECK on status: Stripe may add statuses, and a read we cannot store would be lost.
    """CREATE TABLE IF NOT EXISTS stripe_subscriptions (
    id                     TEXT PRIMARY KEY,
    stripe_subscription_id TEXT NOT NULL UNIQUE,
    stripe_customer_id     TEXT NOT NULL,
    clerk_user_id          TEXT,
    status                 TEXT NOT NULL,
    price_id               TEXT,
    product_id             TEXT,
    quantity               INTEGER,
    current_period_end     INTEGER,
    cancel_at_period_end   INTEGER NOT NULL DEFAULT 0 CHECK (cancel_at_period_end IN (0, 1)),
    cancel_at              INTEGER,
    canceled_at            INTEGER,
    trial_end              INTEGER,
    stripe_created         INTEGER NOT NULL,
    stamp                  INTEGER NOT NULL,
    created_at             TEXT NOT NULL,
    updated_at             TEXT NOT NULL
)""",
    "CREATE INDEX IF NOT EXISTS idx_stripe_subscriptions_clerk_user_id ON stripe_subscriptions (clerk_user_id)",
    "CREATE INDEX IF NOT EXISTS idx_stripe_subscriptions_stripe_customer_id"
    " ON stripe_subscriptions (stripe_customer_id)",
    # The stamp counter: one row, incremented by one statement, so every process shares it.
    """CREATE TABLE IF NOT EXISTS stripe_stamp (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    value INTEGER NOT NULL
)""",
    "INSERT OR IGNORE INTO stripe_stamp (id, value) VALUES (1, 0)",
)

TABLE = "stripe_subscriptions"
# The record's fields that a newer read replaces (stripe_customer_id too: Stripe never changes it).
FIELDS = (
    "stripe_customer_id", "status", "price_id", "product_id", "quantity", "current_period_end",
    "cancel_at_period_end", "cancel_at", "canceled_at", "trial_end", "stripe_created", "stamp",
)
COLUMNS = ", ".join(("stripe_subscription_id", "clerk_user_id", *FIELDS, "updated_at"))

_SAVE = newer_record_upsert(TABLE, "stripe_subscription_id", FIELDS)


def _record(row: sqlite3.Row | None) -> SubscriptionRecord | None:
    if row is None:
        return None
    return SubscriptionRecord(
        stripe_subscription_id=row["stripe_subscription_id"],
        stripe_customer_id=row["stripe_customer_id"],
        clerk_user_id=row["clerk_user_id"],
        status=row["status"],
        price_id=row["price_id"],
        product_id=row["product_id"],
        quantity=row["quantity"],
        current_period_end=row["current_period_end"],
        cancel_at_period_end=bool(row["cancel_at_period_end"]),
        cancel_at=row["cancel_at"],
        canceled_at=row["canceled_at"],
        trial_end=row["trial_end"],
        stripe_created=row["stripe_created"],
        stamp=row["stamp"],
        updated_at=parse(row["updated_at"]),
    )


class Subscriptions(Database):
    """The Store's subscription methods."""

    def next_stamp(self) -> int:
        """A number greater than any handed out before (one statement under SQLite's write lock)."""
        with self._write_lock, self._connection() as conn:
            # fetchall: step the statement to its end, so that it commits before we answer.
            rows = conn.execute("UPDATE stripe_stamp SET value = value + 1 WHERE id = 1 RETURNING value").fetchall()
        return rows[0][0]

    def save_subscription(self, record: SubscriptionRecord) -> bool:
        """Insert, or replace a row with a smaller stamp; whether it was written (see Store.save_subscription)."""
        params = {field: getattr(record, field) for field in ("stripe_subscription_id", "clerk_user_id", *FIELDS)}
        params.update(id=new_id(), now=now_text(), cancel_at_period_end=int(bool(record.cancel_at_period_end)))
        with self._write_lock, self._connection() as conn:
            return bool(conn.execute(_SAVE, params).fetchall())

    def get_subscription(self, stripe_subscription_id: str) -> SubscriptionRecord | None:
        """The subscription's row, or None."""
        with self._connection() as conn:
            row = conn.execute(f"SELECT {COLUMNS} FROM {TABLE} WHERE stripe_subscription_id = ?",
                               (stripe_subscription_id,)).fetchone()
        return _record(row)

    def list_subscriptions(self, clerk_user_id: str) -> list[SubscriptionRecord]:
        """Every stored subscription of the user, in no particular order."""
        with self._connection() as conn:
            rows = conn.execute(f"SELECT {COLUMNS} FROM {TABLE} WHERE clerk_user_id = ?", (clerk_user_id,)).fetchall()
        return [_record(row) for row in rows]

    def attach_subscriptions(self, stripe_customer_id: str, clerk_user_id: str) -> int:
        """Set clerk_user_id on the customer's subscriptions that have none; returns how many."""
        cursor = self._write_one(
            f"UPDATE {TABLE} SET clerk_user_id = ?, updated_at = ?"
            " WHERE stripe_customer_id = ? AND clerk_user_id IS NULL",
            (clerk_user_id, now_text(), stripe_customer_id),
        )
        return cursor.rowcount
