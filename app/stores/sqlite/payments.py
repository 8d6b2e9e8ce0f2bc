"""Payment history on SQLite: one row per invoice or one-time payment, written only by a newer read."""

from __future__ import annotations

import sqlite3

from ..base import PaymentRecord
from .database import Database, new_id, newer_record_upsert, now_text, parse

# Migration 4's statements for this table. Released: change the table by appending a migration.
CREATE = (
    # No CHECK on status: Stripe may add statuses, and a read we cannot store would be lost.
    """CREATE TABLE IF NOT EXISTS stripe_payments (
    id                 TEXT PRIMARY KEY,
    stripe_id          TEXT NOT NULL UNIQUE,
    kind               TEXT NOT NULL CHECK (kind IN ('invoice', 'payment')),
    clerk_user_id      TEXT,
    stripe_customer_id TEXT,
    number             TEXT,
    status             TEXT NOT NULL,
    amount_due         INTEGER NOT NULL,
    amount_paid        INTEGER NOT NULL,
    currency           TEXT NOT NULL,
    stripe_created     INTEGER NOT NULL,
    period_start       INTEGER,
    period_end         INTEGER,
    description        TEXT,
    hosted_invoice_url TEXT,
    invoice_pdf        TEXT,
    receipt_url        TEXT,
    stamp              INTEGER NOT NULL,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL
)""",
    # The list: one user's rows, newest first.
    "CREATE INDEX IF NOT EXISTS idx_stripe_payments_user_created"
    " ON stripe_payments (clerk_user_id, stripe_created DESC, stripe_id DESC)",
)

TABLE = "stripe_payments"
# The record's fields that a newer read replaces.
FIELDS = (
    "kind", "stripe_customer_id", "number", "status", "amount_due", "amount_paid", "currency", "stripe_created",
    "period_start", "period_end", "description", "hosted_invoice_url", "invoice_pdf", "receipt_url", "stamp",
)
COLUMNS = ", ".join(("stripe_id", "clerk_user_id", *FIELDS, "updated_at"))

_SAVE = newer_record_upsert(TABLE, "stripe_id", FIELDS)


def _record(row: sqlite3.Row | None) -> PaymentRecord | None:
    if row is None:
        return None
    values = {name: row[name] for name in ("stripe_id", "clerk_user_id", *FIELDS)}
    return PaymentRecord(**values, updated_at=parse(row["updated_at"]))


class Payments(Database):
    """The Store's payment history methods."""

    def save_payment(self, record: PaymentRecord) -> bool:
        """Insert, or replace a row with a smaller stamp; whether it was written (see Store.save_payment)."""
        params = {field: getattr(record, field) for field in ("stripe_id", "clerk_user_id", *FIELDS)}
        params.update(id=new_id(), now=now_text())
        with self._write_lock, self._connection() as conn:
            return bool(conn.execute(_SAVE, params).fetchall())

    def get_payment(self, stripe_id: str) -> PaymentRecord | None:
        """The invoice's or payment's row, or None."""
        with self._connection() as conn:
            row = conn.execute(f"SELECT {COLUMNS} FROM {TABLE} WHERE stripe_id = ?", (stripe_id,)).fetchone()
        return _record(row)

    def list_payments(self, clerk_user_id: str, limit: int, after: tuple[int, str] | None = None) -> list[PaymentRecord]:
        """At most `limit` of the user's rows, newest first, after the cursor (see Store.list_payments)."""
        where, params = "clerk_user_id = ?", [clerk_user_id]
        if after is not None:
            where += " AND (stripe_created < ? OR (stripe_created = ? AND stripe_id < ?))"
            params += [after[0], after[0], after[1]]
        with self._connection() as conn:
            rows = conn.execute(f"SELECT {COLUMNS} FROM {TABLE} WHERE {where}"
                                " ORDER BY stripe_created DESC, stripe_id DESC LIMIT ?", (*params, limit)).fetchall()
        return [_record(row) for row in rows]
