"""Recovering what webhook deliveries missed: `flask stripe reconcile` and `flask stripe sync`.

reconcile lists Stripe's events of the handled types (the Events API keeps 30 days) and runs each
through the same exactly-once path as a delivery, so an event already processed is skipped and
one being processed elsewhere right now is left to that worker: safe while webhooks arrive and
on several instances at once. sync re-reads every subscription, invoice and one-time payment
through the guarded write.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from app.gateways.base import BillingGateway
from app.services.errors import AppError, EventInProgress
from app.services.payments import PaymentHistory
from app.services.subscriptions import SubscriptionSync
from app.stores.base import SubscriptionRecord
from app.services.webhooks import WebhookService

TYPES_PER_LISTING = 20  # Stripe's limit for `types[]` on GET /v1/events
PAGE_SIZE = 100


@dataclass
class Summary:
    seen: int = 0
    processed: int = 0
    skipped: int = 0
    failed: int = 0
    failures: list[str] = field(default_factory=list)

    def line(self) -> str:
        return f"seen {self.seen}, processed {self.processed}, skipped {self.skipped}, failed {self.failed}"


class Reconciler:
    """Replays Stripe's recent events and re-reads subscriptions, through the normal, guarded paths."""

    def __init__(self, gateway: BillingGateway, webhooks: WebhookService, subscriptions: SubscriptionSync,
                 payments: PaymentHistory | None = None, clock: Callable[[], float] = time.time):
        self.gateway, self.webhooks, self.subscriptions, self.clock = gateway, webhooks, subscriptions, clock
        self.payments = payments

    def reconcile(self, since_seconds: int, progress: Callable[[Summary], None] = lambda _: None) -> Summary:
        """Every handled event created in the last `since_seconds`, oldest first, exactly once."""
        summary = Summary()
        types = sorted(self.webhooks.handlers)
        events: dict[str, dict] = {}
        for start in range(0, len(types), TYPES_PER_LISTING):
            params = {"types": types[start:start + TYPES_PER_LISTING],
                      "created": {"gte": int(self.clock()) - since_seconds}, "limit": PAGE_SIZE}
            for event in self._all(self.gateway.list_events, params):
                events[event["id"]] = event
        # Oldest first, as Stripe would have delivered them (order does not matter for correctness).
        for event in sorted(events.values(), key=lambda e: (e.get("created") or 0, e["id"])):
            summary.seen += 1
            try:
                delivery = self.webhooks.process(event)
            except EventInProgress:
                summary.skipped += 1  # another worker holds it now, and will finish it
            except AppError as exc:
                summary.failed += 1
                summary.failures.append(f"{event['id']} {event.get('type')}: {exc.message}")
            else:
                if delivery.duplicate:
                    summary.skipped += 1
                else:
                    summary.processed += 1
            progress(summary)
        return summary

    def sync(self, progress: Callable[[Summary], None] = lambda _: None) -> Summary:
        """Every subscription, invoice and one-time payment Stripe has, each stored unless a newer read is; then
        the features of each subscription's customer."""
        summary = Summary()
        customers: dict[str, str | None] = {}  # each subscription's customer and its Clerk user

        def record_subscription(subscription: dict, stamp: int) -> SubscriptionRecord:
            record = self.subscriptions.record(subscription, stamp)
            customers.setdefault(record.stripe_customer_id, record.clerk_user_id)
            return record

        self._sync(summary, progress, self.gateway.list_subscriptions, {"status": "all", "limit": PAGE_SIZE},
                   record_subscription)
        for customer, user in customers.items():
            try:
                self.subscriptions.refresh_features(customer, user)
            except AppError as exc:
                summary.failed += 1
                summary.failures.append(f"{customer} features: {exc.message}")
        if self.payments is not None:
            owners: dict[str, str | None] = {}  # each customer's Clerk user, looked up once
            self._sync(summary, progress, self.gateway.list_invoices, {"limit": PAGE_SIZE},
                       lambda invoice, stamp: self.payments.record_invoice(invoice, stamp, owners))
            self._sync(summary, progress, self.gateway.list_payment_intents, {"limit": PAGE_SIZE},
                       self.payments.record_payment)
        return summary

    def _sync(self, summary: Summary, progress, list_page, params: dict, record) -> None:
        """Every object of one listing, each stored by `record(obj, stamp)` (None: not kept) with a stamp taken
        before its page was read."""
        while True:
            stamp = self.subscriptions.store.next_stamp()  # before the read, as every writer does
            listing = list_page(params)
            for obj in listing.get("data", []):
                summary.seen += 1
                try:
                    if record(obj, stamp) is None:
                        summary.skipped += 1  # not kept: a draft, or a payment that is not a purchase of ours
                    else:
                        summary.processed += 1
                except AppError as exc:
                    summary.failed += 1
                    summary.failures.append(f"{obj.get('id')}: {exc.message}")
                progress(summary)
            if not listing.get("has_more") or not listing.get("data"):
                return
            params = {**params, "starting_after": listing["data"][-1]["id"]}

    @staticmethod
    def _all(list_page, params: dict):
        while True:
            listing = list_page(params)
            yield from listing.get("data", [])
            if not listing.get("has_more") or not listing.get("data"):
                return
            params = {**params, "starting_after": listing["data"][-1]["id"]}
