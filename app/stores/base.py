"""The persistence interface: customer mappings and webhook event claims.

Every method is atomic on its own; the claim methods are the only places where
two workers can race, and each backend settles those races in the database.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

MAX_ERROR_LENGTH = 2000  # characters of a failed event's last_error that are kept


class StoreUnavailable(Exception):
    """The store could not be reached or did not answer in time."""


class ClaimOutcome(str, enum.Enum):
    CLAIMED = "claimed"          # the caller owns the claim and must finish it
    PROCESSED = "processed"      # already done: nothing to do
    IN_PROGRESS = "in_progress"  # someone else holds a live lease


@dataclass(frozen=True)
class CustomerMapping:
    clerk_user_id: str
    stripe_customer_id: str | None   # None while a creation is claimed but not finished
    status: str                      # "pending" or "active"
    generation: int                  # bumped each time the Stripe customer is replaced
    claim_token: str | None
    lease_expires_at: datetime | None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    # The row's own id. A mapping deleted (customer.deleted) and made again gets a new one, so
    # together with `generation` it names one creation attempt: the Stripe idempotency key.
    id: str | None = None

    @property
    def is_active(self) -> bool:
        return self.status == "active" and self.stripe_customer_id is not None


@dataclass(frozen=True)
class CustomerClaim:
    """The answer to `claim_customer`: the row as it now stands, and whether we own it."""

    mapping: CustomerMapping
    owned: bool


@dataclass(frozen=True)
class WebhookEvent:
    stripe_event_id: str
    event_type: str
    status: str                     # "processing", "processed" or "failed"
    attempts: int
    last_error: str | None
    claim_token: str | None
    lease_expires_at: datetime | None
    processed_at: datetime | None
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True)
class EventClaim:
    outcome: ClaimOutcome
    event: WebhookEvent


class Store(Protocol):
    """What the services need from persistence."""

    def ping(self) -> None:
        """Raise StoreUnavailable unless the store answers a trivial query."""

    # --- customers -------------------------------------------------------
    def get_customer_mapping(self, clerk_user_id: str) -> CustomerMapping | None:
        """The user's mapping row, or None."""

    def claim_customer(
        self,
        clerk_user_id: str,
        token: str,
        lease_seconds: float,
        stale_customer_id: str | None = None,
    ) -> CustomerClaim:
        """Claim the right to create the user's Stripe customer.

        Owned when: no row existed (a pending row is inserted); or the row is pending
        and its lease has expired (taken over, same generation); or the row is active
        with `stale_customer_id` (marked pending, generation + 1). Otherwise the row is
        returned untouched and not owned.
        """

    def complete_customer(self, clerk_user_id: str, token: str, stripe_customer_id: str) -> bool:
        """Activate the mapping if `token` still owns the claim; False otherwise."""

    def release_customer_claim(self, clerk_user_id: str, token: str) -> None:
        """Expire our lease at once so the next request may retry the creation."""

    def delete_customer_mapping(self, stripe_customer_id: str) -> int:
        """Delete the mapping(s) of a Stripe customer; returns how many rows went."""

    # --- webhook events --------------------------------------------------
    def claim_event(self, event_id: str, event_type: str, token: str, lease_seconds: float) -> EventClaim:
        """Claim an event for processing.

        CLAIMED when new, failed, or processing with an expired lease (attempts + 1);
        PROCESSED when already processed; IN_PROGRESS when another lease is live.
        """

    def mark_event_processed(self, event_id: str, token: str) -> bool:
        """Record success if `token` still owns the claim; False otherwise."""

    def mark_event_failed(self, event_id: str, token: str, error: str) -> bool:
        """Record failure (last_error) and free the claim for a retry; False if not ours."""

    def get_event(self, event_id: str) -> WebhookEvent | None:
        """The event's row, or None."""
