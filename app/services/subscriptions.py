"""Subscription state that always ends as Stripe's latest.

Every writer (a webhook handler, cancel/resume, `flask stripe sync`) takes a stamp from the
store *before* it reads the subscription from Stripe, and the store writes a read only when
its stamp is greater than the stored one (compared in the database). Of two reads, the one whose
stamp was taken later started later, so it saw Stripe's state at least as new: whatever order
deliveries arrive and writers finish in, an older read never overwrites a newer one (Stripe's
`created` seconds would tie). A writer that *changes* Stripe (cancel/resume) and finds a later
stamp already stored reads again, since that read may predate its change.

A customer's features (Stripe Entitlements: the lookup keys of their active entitlements) are
kept the same way, one row per customer: every writer takes a stamp, then lists the customer's
active entitlements, and the store keeps the read with the greatest stamp.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Callable

from app.gateways.base import BillingGateway, expandable_id
from app.services.shared_version import SharedVersion, VersionedCache
from app.stores.base import FeaturesRecord, Store, SubscriptionRecord

log = logging.getLogger(__name__)

# Statuses in which a subscription still binds the member: a new recurring purchase must wait.
LIVE = frozenset({"active", "trialing", "past_due", "unpaid", "incomplete", "paused"})
ENDED = frozenset({"canceled", "incomplete_expired"})  # final: Stripe never changes them again


class SubscriptionSync:
    """Reads subscriptions from Stripe into the store, and answers "what is my membership?" from it."""

    def __init__(self, store: Store, gateway: BillingGateway, *, past_due_access: bool = False,
                 version: SharedVersion | None = None):
        self.store, self.gateway, self.past_due_access = store, gateway, past_due_access
        # Called with the user's id after each write of their subscription or features (the published plan).
        self.on_change: Callable[[str], object] = lambda clerk_user_id: None
        # Each user's current subscription and its customer's features, remembered until this sync (in any
        # process) writes a subscription or features again.
        self._rows: VersionedCache[str, tuple[SubscriptionRecord | None, tuple[str, ...]]] = VersionedCache(version)

    def refresh(self, subscription_id: str, clerk_user_id: str | None = None, *,
                ended: dict | None = None) -> SubscriptionRecord | None:
        """Re-read the subscription from Stripe and store it unless a newer read is stored already.

        `ended`: the object of a deletion event. Deletion is final, so when Stripe no longer returns the
        subscription it is stored as canceled (still through the stamp guard); without it, the last known
        state is kept."""
        stamp = self.store.next_stamp()
        subscription = self.gateway.get_subscription(subscription_id)
        if subscription is not None:
            return self.record(subscription, stamp, clerk_user_id)
        if ended is not None:
            return self._record_ended(subscription_id, ended, stamp, clerk_user_id)
        log.warning("subscription %s is unknown to Stripe; its stored state is kept", subscription_id)
        return self.store.get_subscription(subscription_id)

    def _record_ended(self, subscription_id: str, ended: dict, stamp: int,
                      clerk_user_id: str | None) -> SubscriptionRecord | None:
        """The stored row, or what the event names of its owner (ids and metadata only: the rest of a signed
        event's object is not trusted into the table), as canceled."""
        stored = self.store.get_subscription(subscription_id)
        if stored is not None:
            record = replace(stored, status="canceled", stamp=stamp,
                             canceled_at=stored.canceled_at or _seconds(ended.get("canceled_at")))
        else:
            customer = expandable_id(ended.get("customer"))
            if not customer:
                return None
            owner = clerk_user_id or (ended.get("metadata") or {}).get("clerk_user_id") or self._user_of(
                {"customer": customer})
            record = to_record({"id": subscription_id, "customer": customer, "status": "canceled",
                                "canceled_at": _seconds(ended.get("canceled_at")),
                                "created": _seconds(ended.get("created")) or 0}, stamp, owner)
            if self._unknown(record):
                return record  # an erased member's (see record): not stored
        return self._save(record)

    def record(self, subscription: dict, stamp: int, clerk_user_id: str | None = None) -> SubscriptionRecord:
        """Store `subscription`, read after `stamp` was taken; returns what is stored now."""
        record = to_record(subscription, stamp, clerk_user_id or self._user_of(subscription))
        if record.status in ENDED and self._unknown(record):
            # An ended subscription of a customer we hold nothing of: an erased member's (the late deliveries of an
            # erasure), or one that never reached us. It grants nothing; storing it would bring the person back.
            log.info("ended subscription %s of an unknown customer is not stored", record.stripe_subscription_id)
            return record
        return self._save(record)

    def _save(self, record: SubscriptionRecord) -> SubscriptionRecord:
        """Write `record` through the stamp guard; what is stored now. Its owner's published plan is staged."""
        try:
            saved = self.store.save_subscription(record)
        finally:
            self._rows.changed()  # after the write (or an error in the middle of it): every copy is old
        if not saved:
            return self.store.get_subscription(record.stripe_subscription_id) or record
        self._changed(record.clerk_user_id or (self.store.get_subscription(record.stripe_subscription_id)
                                               or record).clerk_user_id)
        return record

    def refresh_features(self, stripe_customer_id: str, clerk_user_id: str | None = None) -> FeaturesRecord:
        """Re-read the customer's active entitlements from Stripe and store them unless a newer read is stored."""
        stamp = self.store.next_stamp()
        active = self.gateway.list_active_entitlements(stripe_customer_id)
        keys = tuple(sorted({e["lookup_key"] for e in active if e.get("lookup_key")}))
        user = clerk_user_id or self._user_of({"customer": stripe_customer_id})
        record = FeaturesRecord(stripe_customer_id=stripe_customer_id, clerk_user_id=user, features=keys, stamp=stamp)
        if not self._holds_customer(stripe_customer_id, user):
            # A customer we hold nothing of: an erased member's (a summary arriving after the erasure), or one
            # that never reached us. As for an ended subscription (see record), storing it would bring them back.
            log.info("features of unknown customer %s are not stored", stripe_customer_id)
            return record
        try:
            saved = self.store.save_features(record)
        finally:
            self._rows.changed()
        if not saved:
            return self.store.get_features(stripe_customer_id) or record
        self._changed(user or (self.store.get_features(stripe_customer_id) or record).clerk_user_id)
        return record

    def _changed(self, clerk_user_id: str | None) -> None:
        if clerk_user_id:
            self.on_change(clerk_user_id)

    def current(self, clerk_user_id: str) -> SubscriptionRecord | None:
        """The user's subscription that grants access, else the most recent one; None without any."""
        return self.membership(clerk_user_id)[0]

    def membership(self, clerk_user_id: str) -> tuple[SubscriptionRecord | None, list[str]]:
        """The current subscription (as `current`) and the lookup keys of the features it unlocks now: Stripe's
        active entitlements of its customer while it grants access, [] otherwise. One read of the store."""
        return self._unlocked(*self._rows.get(clerk_user_id, lambda: self._read_membership(clerk_user_id)))

    def read_membership(self, clerk_user_id: str) -> tuple[SubscriptionRecord | None, list[str]]:
        """As `membership`, read from the store now (never a remembered copy): what the published plan says."""
        return self._unlocked(*self._read_membership(clerk_user_id))

    def _unlocked(self, current: SubscriptionRecord | None,
                  features: tuple[str, ...]) -> tuple[SubscriptionRecord | None, list[str]]:
        return current, list(features) if current is not None and self.grants_access(current.status) else []

    def _read_membership(self, clerk_user_id: str) -> tuple[SubscriptionRecord | None, tuple[str, ...]]:
        records = self.store.list_subscriptions(clerk_user_id)
        if not records:
            return None, ()
        current = max(records, key=lambda r: (self.grants_access(r.status), r.stripe_created, r.stripe_subscription_id))
        stored = self.store.get_features(current.stripe_customer_id)
        return current, stored.features if stored else ()

    def forgotten(self) -> None:
        """A user's rows were deleted (erasure): no process serves its remembered copy of them again."""
        self._rows.changed()

    def _unknown(self, record: SubscriptionRecord) -> bool:
        """Neither the subscription nor its customer's mapping is stored."""
        if self.store.get_subscription(record.stripe_subscription_id) is not None:
            return False
        return not self._maps(record.clerk_user_id, record.stripe_customer_id)

    def _holds_customer(self, stripe_customer_id: str, clerk_user_id: str | None) -> bool:
        """The customer's features, its mapping, or a subscription of it is stored (judged as `_unknown` judges a
        subscription: by what we store, never by what the event says)."""
        if self.store.get_features(stripe_customer_id) is not None or self._maps(clerk_user_id, stripe_customer_id):
            return True
        return clerk_user_id is not None and any(
            row.stripe_customer_id == stripe_customer_id for row in self.store.list_subscriptions(clerk_user_id))

    def _maps(self, clerk_user_id: str | None, stripe_customer_id: str) -> bool:
        mapping = self.store.get_customer_mapping(clerk_user_id) if clerk_user_id else None
        return mapping is not None and mapping.stripe_customer_id == stripe_customer_id

    def grants_access(self, status: str) -> bool:
        return status in ("active", "trialing") or (status == "past_due" and self.past_due_access)

    def _user_of(self, subscription: dict) -> str | None:
        """The Clerk user: the subscription's metadata, else its customer's (set when we created it)."""
        user = (subscription.get("metadata") or {}).get("clerk_user_id")
        if user:
            return user
        customer = subscription.get("customer")
        if isinstance(customer, str):
            customer = self.gateway.get_customer(customer)
        return ((customer or {}).get("metadata") or {}).get("clerk_user_id")


def to_record(subscription: dict, stamp: int, clerk_user_id: str | None) -> SubscriptionRecord:
    """The stored shape of a Stripe subscription (API 2026-10-28.endive: periods live on the item)."""
    items = (subscription.get("items") or {}).get("data") or [{}]
    item = items[0]
    price = item.get("price") or {}
    customer = subscription.get("customer")
    return SubscriptionRecord(
        stripe_subscription_id=subscription["id"],
        stripe_customer_id=customer.get("id") if isinstance(customer, dict) else customer,
        clerk_user_id=clerk_user_id,
        status=subscription["status"],
        price_id=price.get("id") if isinstance(price, dict) else price,
        product_id=expandable_id(price.get("product")) if isinstance(price, dict) else None,
        quantity=item.get("quantity"),
        current_period_end=item.get("current_period_end", subscription.get("current_period_end")),
        cancel_at_period_end=bool(subscription.get("cancel_at_period_end")),
        cancel_at=subscription.get("cancel_at"),
        canceled_at=subscription.get("canceled_at"),
        trial_end=subscription.get("trial_end"),
        stripe_created=int(subscription.get("created") or 0),
        stamp=stamp,
    )


def member_view(record: SubscriptionRecord | None) -> dict | None:
    """What GET /stripe/subscription shows of a stored subscription."""
    if record is None:
        return None
    return {"id": record.stripe_subscription_id, "status": record.status, "price": record.price_id,
            "product": record.product_id, "quantity": record.quantity,
            "current_period_end": record.current_period_end, "cancel_at_period_end": record.cancel_at_period_end,
            "cancel_at": record.cancel_at, "canceled_at": record.canceled_at, "trial_end": record.trial_end,
            "updated_at": int(record.updated_at.timestamp()) if record.updated_at else None}


def _seconds(value) -> int | None:
    """Unix seconds from an event field, or None for anything else."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None
