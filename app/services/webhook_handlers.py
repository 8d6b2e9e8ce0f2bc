"""Which Stripe events we handle, and how: one small function per event type.

`HANDLERS` is the one place that answers "which events do we handle?". A handler
gets the event (a plain dict) and a HandlerContext; it raises to have the event
recorded as failed and retried by Stripe.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

from app.gateways.base import BillingGateway, expandable_id
from app.services.billing import BillingService
from app.services.catalog import CatalogService
from app.services.customers import CustomerService
from app.services.payments import PaymentHistory
from app.services.subscriptions import SubscriptionSync
from app.stores.base import Store

log = logging.getLogger("app.webhooks")


@dataclass(frozen=True)
class HandlerContext:
    """What a handler may use: built once by the composition root (app/bootstrap.py)."""

    store: Store
    gateway: BillingGateway
    catalog: CatalogService
    customers: CustomerService
    subscriptions: SubscriptionSync
    billing: BillingService
    payments: PaymentHistory


Handler = Callable[[dict, HandlerContext], None]
HANDLERS: dict[str, Handler] = {}


def handles(*event_types: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        for event_type in event_types:
            if event_type in HANDLERS:
                raise ValueError(f"two handlers for {event_type}")
            HANDLERS[event_type] = handler
        return handler

    return register


def _seen(event: dict, **fields) -> None:
    """The structured line every handled event leaves behind."""
    obj = event["data"]["object"]
    log.info(
        "stripe event handled",
        extra={"event_id": event["id"], "event_type": event["type"], "object_id": obj.get("id"),
               "livemode": event.get("livemode"), **fields},
    )


@handles("customer.created", "customer.updated")
def customer_changed(event: dict, ctx: HandlerContext) -> None:
    obj = event["data"]["object"]
    _seen(event, has_clerk_user=bool((obj.get("metadata") or {}).get("clerk_user_id")))


@handles("customer.deleted")
def customer_deleted(event: dict, ctx: HandlerContext) -> None:
    """The customer is gone in Stripe: forget the user's mapping, so the next request creates a new one."""
    removed = ctx.store.delete_customer_mapping(event["data"]["object"]["id"])
    _seen(event, mappings_removed=removed)


@handles("product.created", "product.updated", "product.deleted",
         "price.created", "price.updated", "price.deleted")
def catalog_changed(event: dict, ctx: HandlerContext) -> None:
    """A change in the Stripe dashboard: every instance's cached catalog goes at once."""
    ctx.catalog.invalidate()
    _seen(event)


# Subscription state: every handler re-reads the subscription from Stripe and stores it only if that read is
# newer than the stored one (SubscriptionSync), so late, repeated and reordered deliveries end in Stripe's state.
@handles("customer.subscription.created", "customer.subscription.updated", "customer.subscription.deleted",
         "customer.subscription.paused", "customer.subscription.resumed", "customer.subscription.trial_will_end")
def subscription_changed(event: dict, ctx: HandlerContext) -> None:
    obj = event["data"]["object"]
    # Deletion is final: when Stripe no longer returns the subscription, it is stored as canceled.
    ended = obj if event["type"] == "customer.subscription.deleted" else None
    record = ctx.subscriptions.refresh(obj["id"], ended=ended)
    if record is not None:
        ctx.billing.settle_after_subscription_change(record)  # open checkouts close; a second one is flagged
        ctx.subscriptions.refresh_features(record.stripe_customer_id, record.clerk_user_id)
    _seen(event, customer=expandable_id(obj.get("customer")), status=record.status if record else None)


@handles("entitlements.active_entitlement_summary.updated")
def entitlements_changed(event: dict, ctx: HandlerContext) -> None:
    """What the customer is entitled to changed: re-read their active entitlements (a late or repeated summary
    cannot undo a newer one: the read's stamp guards the write)."""
    customer = expandable_id(event["data"]["object"].get("customer"))
    record = ctx.subscriptions.refresh_features(customer) if customer else None
    _seen(event, customer=customer, features=list(record.features) if record else None)


# Payment history (app/services/payments.py): each handler re-reads the invoice or PaymentIntent from Stripe and
# stores it through the same guarded write, so the member's list ends as Stripe's latest state.
@handles("invoice.paid", "invoice.payment_succeeded", "invoice.payment_failed", "invoice.payment_action_required")
def invoice_changed(event: dict, ctx: HandlerContext) -> None:
    obj = event["data"]["object"]
    subscription = invoice_subscription(obj)
    record = ctx.subscriptions.refresh(subscription) if subscription else None
    payment = ctx.payments.refresh_invoice(obj["id"])
    _seen(event, customer=expandable_id(obj.get("customer")), subscription=subscription,
          status=record.status if record else None, amount_paid=obj.get("amount_paid"),
          amount_due=obj.get("amount_due"), currency=obj.get("currency"),
          invoice_status=payment.status if payment else None)


@handles("invoice.created", "invoice.finalized", "invoice.voided", "invoice.marked_uncollectible")
def invoice_recorded(event: dict, ctx: HandlerContext) -> None:
    """An invoice's life that does not move the subscription: only the member's payment history changes."""
    obj = event["data"]["object"]
    payment = ctx.payments.refresh_invoice(obj["id"])
    _seen(event, customer=expandable_id(obj.get("customer")), invoice_status=payment.status if payment else None)


@handles("payment_intent.succeeded")
def payment_intent_succeeded(event: dict, ctx: HandlerContext) -> None:
    """A one-time payment of ours (metadata clerk_user_id, set by checkout or the payment sheet) was paid."""
    obj = event["data"]["object"]
    ours = bool((obj.get("metadata") or {}).get("clerk_user_id"))
    payment = ctx.payments.refresh_payment(obj["id"]) if ours else None  # an invoice's payment: its invoice shows it
    _seen(event, customer=expandable_id(obj.get("customer")), ours=ours, status=payment.status if payment else None)


@handles("charge.succeeded", "charge.refunded")
def charge_changed(event: dict, ctx: HandlerContext) -> None:
    """A charge (its receipt) or a refund: its PaymentIntent is re-read, and stored if it is one of our payments."""
    obj = event["data"]["object"]
    intent = expandable_id(obj.get("payment_intent"))
    payment = ctx.payments.refresh_payment(intent) if intent else None
    _seen(event, customer=expandable_id(obj.get("customer")), payment_intent=intent,
          status=payment.status if payment else None)


@handles("checkout.session.completed", "checkout.session.expired",
         "checkout.session.async_payment_succeeded", "checkout.session.async_payment_failed")
def checkout_session(event: dict, ctx: HandlerContext) -> None:
    obj = event["data"]["object"]
    subscription = expandable_id(obj.get("subscription"))
    if subscription:
        # The owner comes from the subscription's (or its customer's) metadata, which we set; never from the
        # session's client_reference_id, which a Payment Link's buyer could choose.
        ctx.subscriptions.refresh(subscription)
    intent = expandable_id(obj.get("payment_intent")) if obj.get("mode") == "payment" else None
    if intent:
        ctx.payments.refresh_payment(intent)  # a one-time purchase: the member's payment history
    _seen(event, customer=expandable_id(obj.get("customer")), mode=obj.get("mode"),
          payment_status=obj.get("payment_status"), subscription=subscription)


def invoice_subscription(invoice: dict) -> str | None:
    """The invoice's subscription: `parent.subscription_details` in the pinned API, `subscription` before it."""
    details = ((invoice.get("parent") or {}).get("subscription_details") or {})
    return expandable_id(details.get("subscription")) or expandable_id(invoice.get("subscription"))
