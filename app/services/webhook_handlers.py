"""Which Stripe events we handle, and how: one small function per event type.

`HANDLERS` is the one place that answers "which events do we handle?". A handler
gets the event (a plain dict) and a HandlerContext; it raises to have the event
recorded as failed and retried by Stripe.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

from app.gateways.base import BillingGateway
from app.services.catalog import CatalogService
from app.services.customers import CustomerService
from app.stores.base import Store

log = logging.getLogger("app.webhooks")


@dataclass(frozen=True)
class HandlerContext:
    """What a handler may use: built once by the composition root (app/bootstrap.py)."""

    store: Store
    gateway: BillingGateway
    catalog: CatalogService
    customers: CustomerService


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


@handles("customer.subscription.created", "customer.subscription.updated", "customer.subscription.deleted")
def subscription_changed(event: dict, ctx: HandlerContext) -> None:
    obj = event["data"]["object"]
    _seen(event, customer=obj.get("customer"), status=obj.get("status"))


@handles("invoice.payment_succeeded", "invoice.payment_failed")
def invoice_paid_or_failed(event: dict, ctx: HandlerContext) -> None:
    obj = event["data"]["object"]
    _seen(event, customer=obj.get("customer"), amount_paid=obj.get("amount_paid"),
          amount_due=obj.get("amount_due"), currency=obj.get("currency"))


@handles("checkout.session.completed", "checkout.session.expired")
def checkout_session(event: dict, ctx: HandlerContext) -> None:
    obj = event["data"]["object"]
    _seen(event, customer=obj.get("customer"), mode=obj.get("mode"), payment_status=obj.get("payment_status"))
