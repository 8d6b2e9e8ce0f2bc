"""Purchase claims on SQLite: one open checkout session / incomplete subscription per user, price and kind."""

from __future__ import annotations

import sqlite3

from ..base import PurchaseClaim, PurchaseClaimResult
from .claims import ClaimTable, Claims, Keep, Lease, Take
from .database import parse

# Migration 2's statements for this table. Released: change the table by appending a migration.
CREATE = (
    """CREATE TABLE IF NOT EXISTS stripe_purchase_claims (
    id                TEXT PRIMARY KEY,
    kind              TEXT NOT NULL CHECK (kind IN ('checkout', 'payment_sheet')),
    clerk_user_id     TEXT NOT NULL,
    price_id          TEXT NOT NULL,
    status            TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'open')),
    generation        INTEGER NOT NULL DEFAULT 0,
    result_id         TEXT,
    result_expires_at INTEGER,
    claim_token       TEXT,
    lease_expires_at  TEXT,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    UNIQUE (kind, clerk_user_id, price_id),
    CHECK (status <> 'open' OR result_id IS NOT NULL)
)""",
)

PURCHASES = ClaimTable(
    name="stripe_purchase_claims",
    key=("kind", "clerk_user_id", "price_id"),
    columns="id, kind, clerk_user_id, price_id, status, generation, result_id, result_expires_at, claim_token,"
            " lease_expires_at, created_at, updated_at",
    claimed_status="pending",
)


def _key(kind: str, clerk_user_id: str, price_id: str) -> dict[str, str]:
    return {"kind": kind, "clerk_user_id": clerk_user_id, "price_id": price_id}


def _purchase(row: sqlite3.Row | None) -> PurchaseClaim | None:
    if row is None:
        return None
    return PurchaseClaim(
        id=row["id"],
        kind=row["kind"],
        clerk_user_id=row["clerk_user_id"],
        price_id=row["price_id"],
        status=row["status"],
        generation=row["generation"],
        result_id=row["result_id"],
        result_expires_at=row["result_expires_at"],
        claim_token=row["claim_token"],
        lease_expires_at=parse(row["lease_expires_at"]),
        created_at=parse(row["created_at"]),
        updated_at=parse(row["updated_at"]),
    )


class PurchaseClaims(Claims):
    """The Store's purchase claim methods."""

    def get_purchase_claim(self, kind, clerk_user_id, price_id) -> PurchaseClaim | None:
        """The purchase claim row, or None."""
        return _purchase(self._read(PURCHASES, _key(kind, clerk_user_id, price_id)))

    def claim_purchase(self, kind, clerk_user_id, price_id, token, lease_seconds,
                       stale_result_id=None) -> PurchaseClaimResult:
        """Claim the right to create the purchase (see Store.claim_purchase)."""

        def judge(row: sqlite3.Row, lease: Lease) -> Take | Keep:
            if row["status"] == "pending" and lease.is_free(row["lease_expires_at"]):
                return Take(True)  # an abandoned creation: same generation, same idempotency key
            if stale_result_id is not None and row["status"] == "open" and row["result_id"] == stale_result_id:
                return Take(True, "status = 'pending', result_id = NULL, result_expires_at = NULL,"
                                  " generation = generation + 1")
            return Keep(False)

        row, owned = self._claim(
            PURCHASES, _key(kind, clerk_user_id, price_id), {"status": "pending", "generation": 0},
            token, lease_seconds, judge, inserted=True,
        )
        return PurchaseClaimResult(_purchase(row), owned=owned)

    def complete_purchase(self, kind, clerk_user_id, price_id, token, result_id, result_expires_at) -> bool:
        """Record the result (status open) if `token` still owns the pending claim."""
        return self._finish(PURCHASES, _key(kind, clerk_user_id, price_id), token,
                            "status = 'open', result_id = :result_id, result_expires_at = :result_expires_at",
                            {"result_id": result_id, "result_expires_at": result_expires_at})

    def release_purchase_claim(self, kind, clerk_user_id, price_id, token) -> None:
        """Expire our lease at once so the next request may retry the creation."""
        self._release(PURCHASES, _key(kind, clerk_user_id, price_id), token)
