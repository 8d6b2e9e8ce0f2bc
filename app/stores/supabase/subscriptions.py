"""Stripe subscriptions on Supabase: reads over PostgREST, stamps and guarded writes through tatame_* functions."""

from __future__ import annotations

from typing import Any

from ..base import SubscriptionRecord
from .client import SupabaseClient, timestamp

SUBSCRIPTION_TABLE = "stripe_subscriptions"
# The record's fields, each a column and a p_<field> argument of tatame_save_subscription.
_FIELDS = (
    "stripe_subscription_id", "stripe_customer_id", "clerk_user_id", "status", "price_id", "product_id", "quantity",
    "current_period_end", "cancel_at_period_end", "cancel_at", "canceled_at", "trial_end", "stripe_created", "stamp",
)
SUBSCRIPTION_COLUMNS = ",".join((*_FIELDS, "updated_at"))


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _record(row: dict[str, Any]) -> SubscriptionRecord:
    if not isinstance(row["cancel_at_period_end"], bool):
        raise TypeError("cancel_at_period_end is not a boolean")
    return SubscriptionRecord(
        stripe_subscription_id=row["stripe_subscription_id"],
        stripe_customer_id=row["stripe_customer_id"],
        clerk_user_id=row["clerk_user_id"],
        status=row["status"],
        price_id=row["price_id"],
        product_id=row["product_id"],
        quantity=_optional_int(row["quantity"]),
        current_period_end=_optional_int(row["current_period_end"]),
        cancel_at_period_end=row["cancel_at_period_end"],
        cancel_at=_optional_int(row["cancel_at"]),
        canceled_at=_optional_int(row["canceled_at"]),
        trial_end=_optional_int(row["trial_end"]),
        stripe_created=int(row["stripe_created"]),
        stamp=int(row["stamp"]),
        updated_at=timestamp(row.get("updated_at")),
    )


class Subscriptions(SupabaseClient):
    """The Store's subscription methods."""

    def next_stamp(self) -> int:
        """A number greater than any handed out before: the database sequence's next value."""
        return self._call_int("tatame_next_stamp", {})

    def save_subscription(self, record: SubscriptionRecord) -> bool:
        """Insert, or replace a row with a smaller stamp; whether it was written (see Store.save_subscription)."""
        params = {f"p_{field}": getattr(record, field) for field in _FIELDS}
        params["p_cancel_at_period_end"] = bool(record.cancel_at_period_end)
        return self._call_flag("tatame_save_subscription", params)

    def get_subscription(self, stripe_subscription_id: str) -> SubscriptionRecord | None:
        """The subscription's row, or None."""
        row = self._select_one(SUBSCRIPTION_TABLE, SUBSCRIPTION_COLUMNS, "stripe_subscription_id",
                               stripe_subscription_id)
        return None if row is None else self._parse("subscription", _record, row)

    def list_subscriptions(self, clerk_user_id: str) -> list[SubscriptionRecord]:
        """Every stored subscription of the user, in no particular order."""
        rows = self._select(SUBSCRIPTION_TABLE, SUBSCRIPTION_COLUMNS, {"clerk_user_id": clerk_user_id})
        return [self._parse("subscription", _record, row) for row in rows]

    def attach_subscriptions(self, stripe_customer_id: str, clerk_user_id: str) -> int:
        """Set clerk_user_id on the customer's subscriptions that have none; returns how many."""
        params = {"p_stripe_customer_id": stripe_customer_id, "p_clerk_user_id": clerk_user_id}
        return self._call_int("tatame_attach_subscriptions", params)
