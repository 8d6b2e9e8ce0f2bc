"""Purchase claims on Supabase: reads over PostgREST, claims through the tatame_*_purchase functions."""

from __future__ import annotations

from typing import Any

from ..base import PurchaseClaim, PurchaseClaimResult
from .client import SupabaseClient, timestamp

PURCHASE_TABLE = "stripe_purchase_claims"
PURCHASE_COLUMNS = (
    "id,kind,clerk_user_id,price_id,status,generation,result_id,result_expires_at,claim_token,lease_expires_at,"
    "created_at,updated_at"
)


def _key(kind: str, clerk_user_id: str, price_id: str) -> dict[str, str]:
    return {"p_kind": kind, "p_clerk_user_id": clerk_user_id, "p_price_id": price_id}


def _purchase(row: dict[str, Any]) -> PurchaseClaim:
    expires = row["result_expires_at"]
    return PurchaseClaim(
        id=str(row["id"]),
        kind=row["kind"],
        clerk_user_id=row["clerk_user_id"],
        price_id=row["price_id"],
        status=row["status"],
        generation=int(row["generation"]),
        result_id=row["result_id"],
        result_expires_at=None if expires is None else int(expires),
        claim_token=row["claim_token"],
        lease_expires_at=timestamp(row["lease_expires_at"]),
        created_at=timestamp(row.get("created_at")),
        updated_at=timestamp(row.get("updated_at")),
    )


def _claim(row: dict[str, Any]) -> PurchaseClaimResult:
    return PurchaseClaimResult(_purchase(row), owned=row.get("owned") is True)


class PurchaseClaims(SupabaseClient):
    """The Store's purchase claim methods."""

    def get_purchase_claim(self, kind, clerk_user_id, price_id) -> PurchaseClaim | None:
        """The purchase claim row, or None."""
        rows = self._select(PURCHASE_TABLE, PURCHASE_COLUMNS,
                            {"kind": kind, "clerk_user_id": clerk_user_id, "price_id": price_id})
        return self._parse("purchase claim", _purchase, rows[0]) if rows else None

    def claim_purchase(self, kind, clerk_user_id, price_id, token, lease_seconds,
                       stale_result_id=None) -> PurchaseClaimResult:
        """Claim the right to create the purchase (see Store.claim_purchase)."""
        params = {**_key(kind, clerk_user_id, price_id), "p_token": token, "p_lease_seconds": float(lease_seconds),
                  "p_stale_result_id": stale_result_id}
        return self._claim("tatame_claim_purchase", params, _claim)

    def complete_purchase(self, kind, clerk_user_id, price_id, token, result_id, result_expires_at) -> bool:
        """Record the result (status open) if `token` still owns the pending claim."""
        params = {**_key(kind, clerk_user_id, price_id), "p_token": token, "p_result_id": result_id,
                  "p_result_expires_at": result_expires_at}
        return self._call_flag("tatame_complete_purchase", params)

    def release_purchase_claim(self, kind, clerk_user_id, price_id, token) -> None:
        """Expire our lease at once so the next request may retry the creation."""
        self._rpc("tatame_release_purchase_claim", {**_key(kind, clerk_user_id, price_id), "p_token": token})
