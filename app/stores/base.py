"""The persistence interface: customer mappings, webhook event claims, subscriptions, purchase claims, payments.

Every method is atomic on its own; the claim methods and `save_subscription` are the places
where two workers can race, and each backend settles those races in the database.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

MAX_ERROR_LENGTH = 2000  # characters of a failed event's last_error that are kept

# Every row of ours about a person, on every backend (erasure deletes them: forget_user): (table, the column naming
# them by Clerk user id or Stripe customer id). A new table that names a user is one more line here; the mapping
# goes last, since it names the customers, so that an erasure cut short is finished by the next one.
PERSONAL_ROWS = (
    ("stripe_subscriptions", "clerk_user_id"),
    ("stripe_subscriptions", "stripe_customer_id"),
    ("stripe_purchase_claims", "clerk_user_id"),
    ("stripe_payments", "clerk_user_id"),
    ("stripe_payments", "stripe_customer_id"),
    ("stripe_features", "clerk_user_id"),
    ("stripe_features", "stripe_customer_id"),
    ("stripe_clerk_outbox", "clerk_user_id"),
    ("stripe_clerk_users", "clerk_user_id"),
    ("stripe_customer_mapping", "clerk_user_id"),
)


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


@dataclass(frozen=True)
class SubscriptionRecord:
    """One Stripe subscription as last read from Stripe; `stamp` orders the reads."""

    stripe_subscription_id: str
    stripe_customer_id: str
    clerk_user_id: str | None        # from the customer mapping, or the subscription's metadata.clerk_user_id
    status: str                      # Stripe's: incomplete, incomplete_expired, trialing, active, past_due, ...
    price_id: str | None
    product_id: str | None
    quantity: int | None
    current_period_end: int | None   # Unix seconds (from the subscription item, API 2026-10-28.endive)
    cancel_at_period_end: bool
    cancel_at: int | None
    canceled_at: int | None
    trial_end: int | None
    stripe_created: int              # the subscription's `created`
    stamp: int                       # from Store.next_stamp, taken before the read: the write guard
    updated_at: datetime | None = None


@dataclass(frozen=True)
class FeaturesRecord:
    """A Stripe customer's active entitlements (their features' lookup keys) as last read; `stamp` orders the reads."""

    stripe_customer_id: str
    clerk_user_id: str | None
    features: tuple[str, ...]        # lookup keys, sorted, no repeats
    stamp: int                       # from Store.next_stamp, taken before the read: the write guard
    updated_at: datetime | None = None


@dataclass(frozen=True)
class PaymentRecord:
    """One invoice or one-time payment as last read from Stripe: what the member sees they paid; `stamp` orders reads."""

    stripe_id: str                   # the invoice's id (in_...) or the PaymentIntent's (pi_...)
    kind: str                        # "invoice" or "payment"
    clerk_user_id: str | None        # from the object's or its customer's metadata.clerk_user_id
    stripe_customer_id: str | None
    number: str | None               # the invoice's number; None for a payment
    status: str                      # Stripe's: draft, open, paid, void, uncollectible / succeeded, ..., refunded
    amount_due: int                  # minor units of `currency`
    amount_paid: int
    currency: str
    stripe_created: int              # the object's `created`: the list's order
    period_start: int | None         # invoices: the billed period (Unix seconds)
    period_end: int | None
    description: str | None          # the plan's product name, else the price id, else Stripe's description
    hosted_invoice_url: str | None
    invoice_pdf: str | None
    receipt_url: str | None          # payments: the latest charge's receipt
    stamp: int                       # from Store.next_stamp, taken before the read: the write guard
    updated_at: datetime | None = None


@dataclass(frozen=True)
class OutboxEntry:
    """One user's billing state to publish to Clerk: the newest state staged, and what was last sent."""

    clerk_user_id: str
    state: dict                      # {status, access, plan, features, current_period_end}
    stamp: int                       # from Store.next_stamp, taken before the state was read: the write guard
    changed_at: float                # Unix seconds when the state was staged (the lag is measured from it)
    attempts: int = 0                # failed sends of this state
    next_attempt_at: float = 0.0     # Unix seconds: not sent before then
    sent_stamp: int | None = None    # the stamp of the state Clerk last accepted
    sent_at: float | None = None
    last_error: str | None = None
    lease_token: str | None = None   # a sender holding the row (one at a time, so sends never cross)
    lease_until: float | None = None

    @property
    def pending(self) -> bool:
        return self.sent_stamp is None or self.sent_stamp < self.stamp


@dataclass(frozen=True)
class PurchaseClaim:
    """One user's purchase of one price by one path: the open checkout session or incomplete subscription."""

    id: str
    kind: str                        # "checkout" or "payment_sheet"
    clerk_user_id: str
    price_id: str
    status: str                      # "pending" (being created) or "open" (result recorded)
    generation: int                  # bumped each time the result is replaced
    result_id: str | None            # the checkout session id / subscription id
    result_expires_at: int | None    # Unix seconds when the result stops being reusable, or None
    claim_token: str | None
    lease_expires_at: datetime | None
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True)
class PurchaseClaimResult:
    """The answer to `claim_purchase`: the row as it now stands, and whether we own it."""

    claim: PurchaseClaim
    owned: bool


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

    # --- subscriptions -----------------------------------------------------
    def next_stamp(self) -> int:
        """A number greater than any this store handed out before, to any process or instance."""

    def save_subscription(self, record: SubscriptionRecord) -> bool:
        """Insert the subscription, or replace it if `record.stamp` is greater than the stored one.

        Compared in the database, atomically: True when written, False when a read with an
        equal or greater stamp is already stored (the row is left as it was). A stored
        clerk_user_id is kept when the record has none.
        """

    def get_subscription(self, stripe_subscription_id: str) -> SubscriptionRecord | None:
        """The subscription's row, or None."""

    def list_subscriptions(self, clerk_user_id: str) -> list[SubscriptionRecord]:
        """Every stored subscription of the user, in no particular order."""

    def attach_subscriptions(self, stripe_customer_id: str, clerk_user_id: str) -> int:
        """Set clerk_user_id on the customer's subscriptions that have none; returns how many."""

    # --- purchase claims ---------------------------------------------------
    def get_purchase_claim(self, kind: str, clerk_user_id: str, price_id: str) -> PurchaseClaim | None:
        """The purchase claim row, or None."""

    def claim_purchase(
        self,
        kind: str,
        clerk_user_id: str,
        price_id: str,
        token: str,
        lease_seconds: float,
        stale_result_id: str | None = None,
    ) -> PurchaseClaimResult:
        """Claim the right to create the purchase (a checkout session, a subscription) of a user and price.

        Owned when: no row existed (a pending row is inserted, generation 0); or the row is
        pending and its lease has expired (taken over, same row, same generation); or the row
        is open with `result_id == stale_result_id` (marked pending, result cleared,
        generation + 1). Otherwise the row is returned untouched and not owned.
        """

    def complete_purchase(
        self, kind: str, clerk_user_id: str, price_id: str, token: str, result_id: str, result_expires_at: int | None
    ) -> bool:
        """Record the result (status open) if `token` still owns the pending claim; False otherwise."""

    def release_purchase_claim(self, kind: str, clerk_user_id: str, price_id: str, token: str) -> None:
        """Expire our lease at once so the next request may retry the creation."""

    # --- features (Stripe Entitlements) --------------------------------------------------------
    def save_features(self, record: FeaturesRecord) -> bool:
        """Insert the customer's features, or replace them if `record.stamp` is greater than the stored one.

        The same guard as save_subscription: compared in the database, atomically; True when written,
        False when a read with an equal or greater stamp is stored. A stored clerk_user_id is kept when the
        record has none."""

    def get_features(self, stripe_customer_id: str) -> FeaturesRecord | None:
        """The customer's features row, or None."""

    # --- the Clerk outbox: each user's billing state, published in stamp order ------------------
    def save_outbox(self, clerk_user_id: str, state: dict, stamp: int, changed_at: float) -> bool:
        """Stage `state` for the user, or replace the staged one if `stamp` is greater (compared in the database).

        A new state is due at once (attempts 0, next_attempt_at = changed_at); a live lease is kept, so a
        send in flight finishes before the newer state goes. True when written."""

    def claim_outbox(self, now: float, token: str, lease_seconds: float, limit: int,
                     waiting_too: bool = False) -> list[OutboxEntry]:
        """Lease up to `limit` rows that are due (pending, next_attempt_at <= now, no live lease), smallest
        stamp first; each is ours until `now + lease_seconds` or until marked sent or failed. `waiting_too`:
        rows waiting out a backoff as well (`flask stripe sync` sends every pending row)."""

    def mark_outbox_sent(self, clerk_user_id: str, token: str, stamp: int, now: float) -> bool:
        """Clerk accepted the state of `stamp`: record it as sent (never lowering sent_stamp) and free the lease,
        if `token` still holds it. A state staged meanwhile stays pending."""

    def mark_outbox_failed(self, clerk_user_id: str, token: str, error: str, next_attempt_at: float) -> bool:
        """The send failed: attempts + 1, last_error, not due before `next_attempt_at`; the lease is freed."""

    def get_outbox(self, clerk_user_id: str) -> OutboxEntry | None:
        """The user's outbox row, or None."""

    def count_outbox_pending(self) -> int:
        """How many users have a state Clerk has not accepted yet."""
    # --- payment history: invoices and one-time payments ---------------------
    def save_payment(self, record: PaymentRecord) -> bool:
        """Insert the invoice or payment, or replace it if `record.stamp` is greater than the stored one.

        Compared in the database, atomically, as `save_subscription`: True when written, False when
        a read with an equal or greater stamp is stored. A stored clerk_user_id is kept when the
        record has none.
        """

    def get_payment(self, stripe_id: str) -> PaymentRecord | None:
        """The invoice's or payment's row, or None."""

    def list_payments(self, clerk_user_id: str, limit: int, after: tuple[int, str] | None = None) -> list[PaymentRecord]:
        """At most `limit` of the user's rows, newest first (stripe_created, then stripe_id, both descending),
        only those after the cursor `after` = (stripe_created, stripe_id) in that order."""

    # --- accounts (Clerk) -------------------------------------------------
    def advance_clerk_user(self, clerk_user_id: str, clerk_updated_at: int) -> bool:
        """Record `clerk_updated_at` (Clerk's user.updated_at, ms) as the user's last applied change.

        Compared in the database, atomically: True when recorded (no row, or the stored value is
        smaller or equal, so a retry of the same change applies again); False when a later change
        is recorded already (the row is left as it was).
        """

    def forget_user(self, clerk_user_id: str, stripe_customer_ids: tuple[str, ...] = ()) -> int:
        """Delete every row about the user: theirs by Clerk user id, and those of their Stripe customers
        (`stripe_customer_ids` plus the ones the store's own rows name). Webhook event rows stay (they
        hold no personal data). Idempotent; returns how many rows went."""
