"""A Stripe customer's active entitlements on Supabase: reads over PostgREST, the guarded write through a function."""

from __future__ import annotations

from typing import Any

from ..base import FeaturesRecord
from .client import SupabaseClient, timestamp

FEATURES_TABLE = "stripe_features"
FEATURES_COLUMNS = "stripe_customer_id,clerk_user_id,features,stamp,updated_at"


def _record(row: dict[str, Any]) -> FeaturesRecord:
    if not isinstance(row["features"], list) or not all(isinstance(key, str) for key in row["features"]):
        raise TypeError("features is not a list of strings")
    return FeaturesRecord(stripe_customer_id=row["stripe_customer_id"], clerk_user_id=row["clerk_user_id"],
                          features=tuple(row["features"]), stamp=int(row["stamp"]),
                          updated_at=timestamp(row.get("updated_at")))


class Features(SupabaseClient):
    """The Store's features methods."""

    def save_features(self, record: FeaturesRecord) -> bool:
        """Insert, or replace a row with a smaller stamp; whether it was written (see Store.save_features)."""
        return self._call_flag("tatame_save_features", {
            "p_stripe_customer_id": record.stripe_customer_id, "p_clerk_user_id": record.clerk_user_id,
            "p_features": sorted(set(record.features)), "p_stamp": record.stamp})

    def get_features(self, stripe_customer_id: str) -> FeaturesRecord | None:
        """The customer's features row, or None."""
        row = self._select_one(FEATURES_TABLE, FEATURES_COLUMNS, "stripe_customer_id", stripe_customer_id)
        return None if row is None else self._parse("features", _record, row)
