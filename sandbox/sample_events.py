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


PRICE = {"id": "price_demo_unlimited_monthly", "object": "price", "active": True, "currency": "brl",
         "unit_amount": 24900, "unit_amount_decimal": "24900", "product": "prod_demo_unlimited", "type": "recurring",
         "recurring": {"interval": "month", "interval_count": 1, "meter": None, "trial_period_days": None,
                       "usage_type": "licensed"}, "livemode": False, "metadata": {}}
PAID = ("active", "past_due", "unpaid")


def _subscription(customer_id: str, status: str) -> dict:
    """A subscription as the pinned version sends it: the billing period on the item, none on the subscription."""
    now = int(time.time())
    trial = status == "trialing"
    start, end = (now, now + 14 * 86400) if trial else (now - 10 * 86400, now + 20 * 86400)
    sub_id = _id("sub")
    return {"id": sub_id, "object": "subscription", "customer": customer_id, "status": status,
            "billing_cycle_anchor": end if trial else start, "cancel_at": None, "cancel_at_period_end": False,
            "canceled_at": now if status == "canceled" else None,
            "cancellation_details": {"comment": None, "feedback": None,
                                     "reason": "cancellation_requested" if status == "canceled" else None},
            "collection_method": "charge_automatically", "currency": "brl", "created": start,
            "default_payment_method": _id("pm") if status in PAID or trial else None,
            "ended_at": now if status == "canceled" else None, "latest_invoice": _id("in"), "livemode": False,
            "items": {"object": "list", "has_more": False, "total_count": 1,
                      "url": f"/v1/subscription_items?subscription={sub_id}", "data": [{
                          "id": _id("si"), "object": "subscription_item", "created": start, "quantity": 1,
                          "current_period_start": start, "current_period_end": end, "metadata": {},
                          "price": PRICE, "subscription": sub_id, "discounts": [], "tax_rates": []}]},
            "metadata": {"clerk_user_id": "user_demo"}, "pause_collection": None,
            "payment_settings": {"payment_method_options": None, "payment_method_types": None,
                                 "save_default_payment_method": "on_subscription"},
            "pending_setup_intent": None, "pending_update": None, "schedule": None, "start_date": start,
            "trial_end": end if trial else None, "trial_start": start if trial else None}


def _invoice(customer_id: str, status: str, attempts: int = 1) -> dict:
    """An invoice of the pinned version: the subscription under `parent`, no `payment_intent` or `subscription` field;
    `confirmation_secret` is only ever in an answer that expands it, never in an event."""
    now, paid = int(time.time()), status == "paid"
    invoice_id, sub_id = _id("in"), _id("sub")
    return {"id": invoice_id, "object": "invoice", "customer": customer_id, "currency": "brl",
            "amount_due": 24900, "amount_paid": 24900 if paid else 0, "amount_remaining": 0 if paid else 24900,
            "attempt_count": attempts, "attempted": True, "billing_reason": "subscription_cycle",
            "collection_method": "charge_automatically", "created": now, "livemode": False, "metadata": {},
            "hosted_invoice_url": None if status == "draft" else f"https://invoice.sandbox.invalid/i/{invoice_id}",
            "invoice_pdf": None if status == "draft" else f"https://invoice.sandbox.invalid/i/{invoice_id}/pdf",
            "number": None if status == "draft" else "DEMO-0001", "status": status,
            "parent": {"type": "subscription_details", "quote_details": None,
                       "subscription_details": {"metadata": {"clerk_user_id": "user_demo"}, "subscription": sub_id}},
            "lines": {"object": "list", "has_more": False, "total_count": 1, "url": f"/v1/invoices/{invoice_id}/lines",
                      "data": [{"id": _id("il"), "object": "line_item", "amount": 24900, "currency": "brl",
                                "invoice": invoice_id, "quantity": 1, "metadata": {},
                                "period": {"start": now, "end": now + 30 * 86400},
                                "parent": {"type": "subscription_item_details", "invoice_item_details": None,
                                           "subscription_item_details": {"subscription": sub_id,
                                                                         "subscription_item": _id("si"),
                                                                         "proration": False, "invoice_item": None}},
                                "pricing": {"type": "price_details", "unit_amount_decimal": "24900",
                                            "price_details": {"price": PRICE["id"], "product": PRICE["product"]}}}]},
            "period_start": now, "period_end": now, "subtotal": 24900, "total": 24900,
            "status_transitions": {"finalized_at": now, "paid_at": now if paid else None,
                                   "marked_uncollectible_at": None, "voided_at": None}}


def _checkout(customer_id: str, status: str, payment_status: str, mode: str = "subscription") -> dict:
    now = int(time.time())
    session_id = _id("cs_test")
    complete = status == "complete"
    return {"id": session_id, "object": "checkout.session", "customer": customer_id, "mode": mode,
            "status": status, "payment_status": payment_status, "currency": "brl",
            "amount_subtotal": 24900 if mode == "subscription" else 9900,
            "amount_total": 24900 if mode == "subscription" else 9900,
            "client_reference_id": "user_demo", "metadata": {"clerk_user_id": "user_demo"},
            "created": now - 600, "expires_at": now - 600 + 86400, "livemode": False, "url": None,
            "subscription": _id("sub") if complete and mode == "subscription" else None,
            "invoice": _id("in") if complete and mode == "subscription" else None,
            "payment_intent": _id("pi") if complete and mode == "payment" else None,
            "customer_details": {"email": "aluno@example.com", "name": "Aluno Demo", "address": None,
                                 "phone": None, "tax_exempt": "none", "tax_ids": []} if complete else None,
            "success_url": "http://localhost:3001/billing/success",
            "cancel_url": "http://localhost:3001/billing/cancel",
            "ui_mode": "hosted", "payment_method_types": ["card", "boleto"]}


def _payment_intent(customer_id: str) -> dict:
    """A one-time purchase paid with the payment sheet: our metadata names the user and the price."""
    intent_id, charge_id = _id("pi"), _id("ch")
    return {"id": intent_id, "object": "payment_intent", "amount": 9900, "amount_received": 9900, "currency": "brl",
            "customer": customer_id, "created": int(time.time()), "description": None, "livemode": False,
            "latest_charge": charge_id, "metadata": {"clerk_user_id": "user_demo", "price_id": "price_demo_enrolment"},
            "payment_method": _id("pm"), "payment_method_types": ["card"], "status": "succeeded"}


def _charge(customer_id: str, refunded: bool) -> dict:
    charge_id = _id("ch")
    return {"id": charge_id, "object": "charge", "amount": 9900, "amount_captured": 9900,
            "amount_refunded": 9900 if refunded else 0, "captured": True, "created": int(time.time()),
            "currency": "brl", "customer": customer_id, "livemode": False, "metadata": {}, "paid": True,
            "payment_intent": _id("pi"), "receipt_url": f"https://pay.sandbox.invalid/receipts/payment/{charge_id}",
            "refunded": refunded, "status": "succeeded"}


def _product(active: bool) -> dict:
    return {"id": "prod_demo_unlimited", "object": "product", "active": active, "name": "Unlimited Jiu-Jitsu",
            "default_price": "price_demo_unlimited_monthly", "livemode": False, "updated": int(time.time())}


def _price(active: bool) -> dict:
    return {"id": "price_demo_unlimited_monthly", "object": "price", "active": active, "currency": "brl",
            "unit_amount": 24900, "product": "prod_demo_unlimited", "type": "recurring",
            "recurring": {"interval": "month", "interval_count": 1}, "livemode": False}


def _entitlement_summary(customer_id: str) -> dict:
    return {"object": "entitlements.active_entitlement_summary", "customer": customer_id, "livemode": False,
            "entitlements": {"object": "list", "has_more": False, "url": f"/v1/customer/{customer_id}/entitlements",
                             "data": [{"id": _id("ent"), "object": "entitlements.active_entitlement",
                                       "feature": "feat_demo_open_mat", "livemode": False,
                                       "lookup_key": "open_mat"}]}}


OBJECTS = {
    "customer.created": lambda c: _customer(c),
    "customer.updated": lambda c: _customer(c),
    "customer.deleted": lambda c: _customer(c),
    "customer.subscription.created": lambda c: _subscription(c, "incomplete"),
    "customer.subscription.updated": lambda c: _subscription(c, "active"),
    "customer.subscription.deleted": lambda c: _subscription(c, "canceled"),
    "customer.subscription.paused": lambda c: _subscription(c, "paused"),
    "customer.subscription.resumed": lambda c: _subscription(c, "active"),
    "customer.subscription.trial_will_end": lambda c: _subscription(c, "trialing"),
    "invoice.paid": lambda c: _invoice(c, "paid"),
    "invoice.payment_succeeded": lambda c: _invoice(c, "paid"),
    "invoice.payment_failed": lambda c: _invoice(c, "open"),
    "invoice.payment_action_required": lambda c: _invoice(c, "open"),
    "invoice.created": lambda c: _invoice(c, "draft", attempts=0),
    "invoice.finalized": lambda c: _invoice(c, "open", attempts=0),
    "invoice.voided": lambda c: _invoice(c, "void"),
    "invoice.marked_uncollectible": lambda c: _invoice(c, "uncollectible"),
    "payment_intent.succeeded": lambda c: _payment_intent(c),
    "charge.succeeded": lambda c: _charge(c, refunded=False),
    "charge.refunded": lambda c: _charge(c, refunded=True),
    "checkout.session.completed": lambda c: _checkout(c, "complete", "paid"),
    "checkout.session.expired": lambda c: _checkout(c, "expired", "unpaid"),
    # Boleto and other delayed methods: the session completes unpaid, then one of these follows.
    "checkout.session.async_payment_succeeded": lambda c: _checkout(c, "complete", "paid", "payment"),
    "checkout.session.async_payment_failed": lambda c: _checkout(c, "complete", "unpaid", "payment"),
    "product.created": lambda c: _product(True),
    "product.updated": lambda c: _product(True),
    "product.deleted": lambda c: _product(False),
    "price.created": lambda c: _price(True),
    "price.updated": lambda c: _price(True),
    "price.deleted": lambda c: _price(False),
    "entitlements.active_entitlement_summary.updated": _entitlement_summary,
}

# What a `*.updated` event says changed (Stripe's data.previous_attributes).
PREVIOUS = {
    "customer.updated": {"name": None},
    "customer.subscription.updated": {"status": "incomplete"},
    "product.updated": {"name": "Unlimited"},
    "price.updated": {"active": False},
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
        "data": {"object": OBJECTS[event_type](customer_id or _id("cus")),
                 **({"previous_attributes": PREVIOUS[event_type]} if PREVIOUS.get(event_type) else {})},
    }


# --- Clerk's user events, as Clerk sends them through Svix ------------------------------------------------

CLERK_TYPES = ("user.created", "user.updated", "user.deleted")


def clerk_user(user_id: str, *, email: str | None = None, first_name: str | None = "Aluno",
               last_name: str | None = "Demo", verified: bool = True, updated_at: int | None = None) -> dict:
    """A Clerk user object: one primary email address (verified unless told otherwise)."""
    now = int(time.time() * 1000)
    address_id = _id("idn")
    return {
        "id": user_id, "object": "user", "first_name": first_name, "last_name": last_name,
        "username": None, "image_url": "https://img.clerk.com/demo", "has_image": False,
        "primary_email_address_id": address_id, "primary_phone_number_id": None,
        "email_addresses": [{
            "id": address_id, "object": "email_address",
            "email_address": email or f"{user_id}.{secrets.token_hex(3)}@example.com", "linked_to": [],
            "verification": {"status": "verified" if verified else "unverified", "strategy": "email_code",
                             "attempts": 1 if verified else 0, "expire_at": None}}],
        "phone_numbers": [], "external_accounts": [], "public_metadata": {}, "private_metadata": {},
        "unsafe_metadata": {}, "password_enabled": False, "two_factor_enabled": False,
        "created_at": now - 86_400_000, "updated_at": now if updated_at is None else updated_at,
        "last_sign_in_at": now - 3_600_000,
    }


def sample_clerk_event(event_type: str, *, user_id: str = "user_demo", **user) -> dict:
    """A Clerk-shaped event of `event_type` (one of CLERK_TYPES) about `user_id`; `user` as clerk_user takes."""
    if event_type not in CLERK_TYPES:
        raise KeyError(f"no sample for {event_type}; choose one of: {', '.join(CLERK_TYPES)}")
    data = ({"id": user_id, "object": "user", "deleted": True} if event_type == "user.deleted"
            else clerk_user(user_id, **user))
    return {"data": data, "object": "event", "type": event_type, "timestamp": int(time.time() * 1000),
            "instance_id": "ins_demo", "event_attributes": {"http_request": {"client_ip": "", "user_agent": ""}}}


def svix_headers(body: bytes, secret: str, *, message_id: str | None = None, timestamp: int | None = None) -> dict:
    """The svix-id, svix-timestamp and svix-signature headers Svix would send `body` with, signed with `secret`."""
    from datetime import datetime, timezone

    from svix.webhooks import Webhook

    message_id = message_id or _id("msg")
    moment = datetime.fromtimestamp(int(time.time()) if timestamp is None else timestamp, tz=timezone.utc)
    return {"svix-id": message_id, "svix-timestamp": str(int(moment.timestamp())),
            "svix-signature": Webhook(secret).sign(message_id, moment, body)}
