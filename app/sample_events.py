"""Realistic sample Stripe events, for `make event` (like `stripe trigger`, offline)."""

from __future__ import annotations

import secrets
import time

API_VERSION = "2026-10-28.endive"


def _id(prefix: str) -> str:
    return f"{prefix}_demo{secrets.token_hex(8)}"


def _customer(customer_id: str) -> dict:
    return {"id": customer_id, "object": "customer", "email": "aluno@example.com", "name": "Aluno Demo",
            "metadata": {"clerk_user_id": "user_demo"}, "livemode": False, "created": int(time.time()),
            "balance": 0, "currency": "brl", "delinquent": False}


def _subscription(customer_id: str, status: str) -> dict:
    now = int(time.time())
    return {"id": _id("sub"), "object": "subscription", "customer": customer_id, "status": status,
            "cancel_at_period_end": False, "currency": "brl", "livemode": False, "created": now,
            "items": {"object": "list", "has_more": False, "data": [{
                "id": _id("si"), "object": "subscription_item", "quantity": 1, "current_period_start": now,
                "current_period_end": now + 30 * 86400,
                "price": {"id": "price_demo_unlimited_monthly", "object": "price", "currency": "brl",
                          "unit_amount": 24900, "product": "prod_demo_unlimited", "type": "recurring",
                          "recurring": {"interval": "month", "interval_count": 1}}}]},
            "metadata": {}}


def _invoice(customer_id: str, paid: bool) -> dict:
    return {"id": _id("in"), "object": "invoice", "customer": customer_id, "currency": "brl",
            "amount_due": 24900, "amount_paid": 24900 if paid else 0, "amount_remaining": 0 if paid else 24900,
            "status": "paid" if paid else "open", "billing_reason": "subscription_cycle",
            "attempt_count": 1, "livemode": False, "created": int(time.time())}


def _checkout(customer_id: str, completed: bool) -> dict:
    return {"id": _id("cs_test"), "object": "checkout.session", "customer": customer_id, "mode": "subscription",
            "status": "complete" if completed else "expired",
            "payment_status": "paid" if completed else "unpaid", "currency": "brl", "amount_total": 24900,
            "client_reference_id": "user_demo", "livemode": False, "created": int(time.time())}


def _product(active: bool) -> dict:
    return {"id": "prod_demo_unlimited", "object": "product", "active": active, "name": "Unlimited Jiu-Jitsu",
            "default_price": "price_demo_unlimited_monthly", "livemode": False, "updated": int(time.time())}


def _price(active: bool) -> dict:
    return {"id": "price_demo_unlimited_monthly", "object": "price", "active": active, "currency": "brl",
            "unit_amount": 24900, "product": "prod_demo_unlimited", "type": "recurring",
            "recurring": {"interval": "month", "interval_count": 1}, "livemode": False}


OBJECTS = {
    "customer.created": lambda c: _customer(c),
    "customer.updated": lambda c: _customer(c),
    "customer.deleted": lambda c: _customer(c),
    "customer.subscription.created": lambda c: _subscription(c, "active"),
    "customer.subscription.updated": lambda c: _subscription(c, "past_due"),
    "customer.subscription.deleted": lambda c: _subscription(c, "canceled"),
    "invoice.payment_succeeded": lambda c: _invoice(c, True),
    "invoice.payment_failed": lambda c: _invoice(c, False),
    "checkout.session.completed": lambda c: _checkout(c, True),
    "checkout.session.expired": lambda c: _checkout(c, False),
    "product.created": lambda c: _product(True),
    "product.updated": lambda c: _product(True),
    "product.deleted": lambda c: _product(False),
    "price.created": lambda c: _price(True),
    "price.updated": lambda c: _price(True),
    "price.deleted": lambda c: _price(False),
}


def sample_event(event_type: str, *, event_id: str | None = None, customer_id: str | None = None) -> dict:
    """A Stripe-shaped event of `event_type` (one of OBJECTS)."""
    if event_type not in OBJECTS:
        raise KeyError(f"no sample for {event_type}; choose one of: {', '.join(sorted(OBJECTS))}")
    return {
        "id": event_id or _id("evt"),
        "object": "event",
        "api_version": API_VERSION,
        "created": int(time.time()),
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
        "data": {"object": OBJECTS[event_type](customer_id or _id("cus"))},
    }
