"""Accounts on Supabase: the last Clerk change applied per user (tatame_advance_clerk_user), and erasure."""

from __future__ import annotations

from ..base import PERSONAL_ROWS
from .client import SupabaseClient


class Accounts(SupabaseClient):
    """The Store's account methods."""

    def advance_clerk_user(self, clerk_user_id: str, clerk_updated_at: int) -> bool:
        """Record the user's Clerk change unless a later one is recorded (compared in the database)."""
        return self._call_flag("tatame_advance_clerk_user",
                               {"p_clerk_user_id": clerk_user_id, "p_clerk_updated_at": int(clerk_updated_at)})

    def forget_user(self, clerk_user_id: str, stripe_customer_ids: tuple[str, ...] = ()) -> int:
        """Delete every row of PERSONAL_ROWS naming the user or their customers (one request per table and value)."""
        named = self._select("stripe_customer_mapping", "stripe_customer_id", {"clerk_user_id": clerk_user_id})
        named += self._select("stripe_subscriptions", "stripe_customer_id", {"clerk_user_id": clerk_user_id})
        customers = {row.get("stripe_customer_id") for row in named} - {None} | set(stripe_customer_ids)
        removed = 0
        for table, column in PERSONAL_ROWS:
            for value in [clerk_user_id] if column == "clerk_user_id" else sorted(customers):
                removed += self._delete(table, column, value)
        return removed
