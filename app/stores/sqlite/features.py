"""A Stripe customer's active entitlements on SQLite: one row per customer, written only by a newer read."""

from __future__ import annotations

import json
import sqlite3

from ..base import FeaturesRecord
from .database import Database, new_id, now_text, parse

CREATE = (
    """CREATE TABLE IF NOT EXISTS stripe_features (
    id                 TEXT PRIMARY KEY,
    stripe_customer_id TEXT NOT NULL UNIQUE,
    clerk_user_id      TEXT,
    features           TEXT NOT NULL,
    stamp              INTEGER NOT NULL,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL
)""",
    "CREATE INDEX IF NOT EXISTS idx_stripe_features_clerk_user_id ON stripe_features (clerk_user_id)",
)

TABLE = "stripe_features"
_SAVE = (
    f"INSERT INTO {TABLE} (id, stripe_customer_id, clerk_user_id, features, stamp, created_at, updated_at)"
    " VALUES (:id, :stripe_customer_id, :clerk_user_id, :features, :stamp, :now, :now)"
    " ON CONFLICT (stripe_customer_id) DO UPDATE SET features = excluded.features, stamp = excluded.stamp,"
    f" clerk_user_id = coalesce(excluded.clerk_user_id, {TABLE}.clerk_user_id), updated_at = excluded.updated_at"
    f" WHERE {TABLE}.stamp < excluded.stamp RETURNING id"
)


def _record(row: sqlite3.Row | None) -> FeaturesRecord | None:
    if row is None:
        return None
    return FeaturesRecord(stripe_customer_id=row["stripe_customer_id"], clerk_user_id=row["clerk_user_id"],
                          features=tuple(json.loads(row["features"])), stamp=row["stamp"],
                          updated_at=parse(row["updated_at"]))


class Features(Database):
    """The Store's features methods."""

    def save_features(self, record: FeaturesRecord) -> bool:
        """Insert, or replace a row with a smaller stamp; whether it was written (see Store.save_features)."""
        params = {"id": new_id(), "now": now_text(), "stripe_customer_id": record.stripe_customer_id,
                  "clerk_user_id": record.clerk_user_id, "features": json.dumps(sorted(set(record.features))),
                  "stamp": record.stamp}
        with self._write_lock, self._connection() as conn:
            return bool(conn.execute(_SAVE, params).fetchall())

    def get_features(self, stripe_customer_id: str) -> FeaturesRecord | None:
        """The customer's features row, or None."""
        with self._connection() as conn:
            row = conn.execute(f"SELECT stripe_customer_id, clerk_user_id, features, stamp, updated_at FROM {TABLE}"
                               " WHERE stripe_customer_id = ?", (stripe_customer_id,)).fetchone()
        return _record(row)
