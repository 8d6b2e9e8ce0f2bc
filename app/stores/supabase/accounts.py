"""Accounts on Supabase: the last Clerk change applied per user (tatame_advance_clerk_user), and erasure."""

from __future__ import annotations

from .client import SupabaseClient

CLERK_USER_TABLE = "stripe_clerk_users"

# Every row of ours about a person: (table, the column naming them by Clerk user id or Stripe customer id).
# A new table that names a user is one more line here; the mapping goes last, since it names the customers, so
# that an erasure cut short is finished by the next one.
PERSONAL_ROWS = (
    ("stripe_subscriptions", "clerk_user_id"),
    ("stripe_subscriptions", "stripe_customer_id"),
    ("stripe_purchase_claims", "clerk_user_id"),
    ("stripe_payments", "clerk_user_id"),
    ("stripe_payments", "stripe_customer_id"),
    ("stripe_features", "clerk_user_id"),
    ("stripe_features", "stripe_customer_id"),
    ("stripe_clerk_outbox", "clerk_user_id"),
    (CLERK_USER_TABLE, "clerk_user_id"),
    ("stripe_customer_mapping", "clerk_user_id"),
)


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
