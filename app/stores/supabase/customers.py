"""Customer mappings on Supabase: reads over PostgREST, claims through the tatame_*_customer functions."""

from __future__ import annotations

from typing import Any

from ..base import CustomerClaim, CustomerMapping
from .client import SupabaseClient, timestamp

CUSTOMER_TABLE = "stripe_customer_mapping"
CUSTOMER_COLUMNS = (
    "id,clerk_user_id,stripe_customer_id,status,generation,claim_token,lease_expires_at,created_at,updated_at"
)


def _mapping(row: dict[str, Any]) -> CustomerMapping:
    return CustomerMapping(
        id=str(row["id"]),
        clerk_user_id=row["clerk_user_id"],
        stripe_customer_id=row["stripe_customer_id"],
        status=row["status"],
        generation=int(row["generation"]),
        claim_token=row["claim_token"],
        lease_expires_at=timestamp(row["lease_expires_at"]),
        created_at=timestamp(row.get("created_at")),
        updated_at=timestamp(row.get("updated_at")),
    )


def _claim(row: dict[str, Any]) -> CustomerClaim:
    return CustomerClaim(_mapping(row), owned=row.get("owned") is True)


class CustomerMappings(SupabaseClient):
    """The Store's customer methods."""

    def get_customer_mapping(self, clerk_user_id: str) -> CustomerMapping | None:
        """The user's mapping row, or None."""
        row = self._select_one(CUSTOMER_TABLE, CUSTOMER_COLUMNS, "clerk_user_id", clerk_user_id)
        return None if row is None else self._parse("mapping", _mapping, row)

    def claim_customer(self, clerk_user_id, token, lease_seconds, stale_customer_id=None) -> CustomerClaim:
        """Claim the right to create the user's Stripe customer (see Store.claim_customer)."""
        params = {
            "p_clerk_user_id": clerk_user_id,
            "p_token": token,
            "p_lease_seconds": float(lease_seconds),
            "p_stale_customer_id": stale_customer_id,
        }
        return self._claim("tatame_claim_customer", params, _claim)

    def complete_customer(self, clerk_user_id, token, stripe_customer_id) -> bool:
        """Activate the mapping if `token` still owns the claim."""
        params = {"p_clerk_user_id": clerk_user_id, "p_token": token, "p_stripe_customer_id": stripe_customer_id}
        return self._call_flag("tatame_complete_customer", params)

    def release_customer_claim(self, clerk_user_id, token) -> None:
        """Expire our lease at once so the next request may retry the creation."""
        self._rpc("tatame_release_customer_claim", {"p_clerk_user_id": clerk_user_id, "p_token": token})

    def delete_customer_mapping(self, stripe_customer_id) -> int:
        """Delete the mapping(s) of a Stripe customer; returns how many rows went."""
        return self._delete(CUSTOMER_TABLE, "stripe_customer_id", stripe_customer_id)
