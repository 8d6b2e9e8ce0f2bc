"""Customer mappings on SQLite: one Clerk user, one Stripe customer, created under a claim."""

from __future__ import annotations

import sqlite3

from ..base import CustomerClaim, CustomerMapping
from .claims import ClaimTable, Claims, Keep, Lease, Take
from .database import parse

# Migration 1's statements for this table. Released: change the table by appending a migration.
CREATE = (
    """CREATE TABLE IF NOT EXISTS stripe_customer_mapping (
    id                 TEXT PRIMARY KEY,
    user_id            TEXT,
    clerk_user_id      TEXT NOT NULL UNIQUE,
    stripe_customer_id TEXT UNIQUE,
    status             TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'active')),
    generation         INTEGER NOT NULL DEFAULT 0,
    claim_token        TEXT,
    lease_expires_at   TEXT,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL
)""",
)

MAPPINGS = ClaimTable(
    name="stripe_customer_mapping",
    key=("clerk_user_id",),
    columns="id, clerk_user_id, stripe_customer_id, status, generation, claim_token, lease_expires_at,"
            " created_at, updated_at",
    claimed_status="pending",
)


def _mapping(row: sqlite3.Row | None) -> CustomerMapping | None:
    if row is None:
        return None
    return CustomerMapping(
        id=row["id"],
        clerk_user_id=row["clerk_user_id"],
        stripe_customer_id=row["stripe_customer_id"],
        status=row["status"],
        generation=row["generation"],
        claim_token=row["claim_token"],
        lease_expires_at=parse(row["lease_expires_at"]),
        created_at=parse(row["created_at"]),
        updated_at=parse(row["updated_at"]),
    )


class CustomerMappings(Claims):
    """The Store's customer methods."""

    def get_customer_mapping(self, clerk_user_id: str) -> CustomerMapping | None:
        """The user's mapping row, or None."""
        return _mapping(self._read(MAPPINGS, {"clerk_user_id": clerk_user_id}))

    def claim_customer(self, clerk_user_id, token, lease_seconds, stale_customer_id=None) -> CustomerClaim:
        """Claim the right to create the user's Stripe customer (see Store.claim_customer)."""

        def judge(row: sqlite3.Row, lease: Lease) -> Take | Keep:
            if row["status"] == "pending" and lease.is_free(row["lease_expires_at"]):
                return Take(True)  # an abandoned creation: same generation
            if stale_customer_id is not None and row["status"] == "active" \
                    and row["stripe_customer_id"] == stale_customer_id:
                return Take(True, "status = 'pending', stripe_customer_id = NULL, generation = generation + 1")
            return Keep(False)

        row, owned = self._claim(
            MAPPINGS, {"clerk_user_id": clerk_user_id}, {"user_id": clerk_user_id, "status": "pending", "generation": 0},
            token, lease_seconds, judge, inserted=True,
        )
        return CustomerClaim(_mapping(row), owned=owned)

    def complete_customer(self, clerk_user_id, token, stripe_customer_id) -> bool:
        """Activate the mapping if `token` still owns the claim."""
        return self._finish(MAPPINGS, {"clerk_user_id": clerk_user_id}, token,
                            "status = 'active', stripe_customer_id = :customer", {"customer": stripe_customer_id})

    def release_customer_claim(self, clerk_user_id, token) -> None:
        """Expire our lease at once so the next request may retry the creation."""
        self._release(MAPPINGS, {"clerk_user_id": clerk_user_id}, token)

    def delete_customer_mapping(self, stripe_customer_id) -> int:
        """Delete the mapping(s) of a Stripe customer; returns how many rows went."""
        cursor = self._write_one(f"DELETE FROM {MAPPINGS.name} WHERE stripe_customer_id = ?", (stripe_customer_id,))
        return cursor.rowcount
