"""PaymentIntents: created by the app (one-time purchases) or for a subscription's invoice; paid by a test hook."""

from __future__ import annotations

import secrets

from sandbox.stripe import charges, customers, events
from sandbox.stripe.faults import StripeFault, invalid
from sandbox.stripe.forms import boolean, integer, metadata, only, required, string
from sandbox.stripe.lists import expand, expansions, newest_first, page

# Stripe's smallest charge, in the currency's minor unit (R$0.50, US$0.50, €0.50).
MINIMUM = {"brl": 50, "usd": 50, "eur": 50}


def build(fake, *, amount: int, currency: str, customer: str | None, meta: dict,
          description: str | None = None, setup_future_usage: str | None = None) -> dict:
    """A new PaymentIntent waiting for a payment method, stored."""
    intent_id = fake.new_id("pi")
    intent = {
        "id": intent_id, "object": "payment_intent", "amount": amount, "amount_capturable": 0,
        "amount_details": {"tip": {}}, "amount_received": 0, "application": None,
        "automatic_payment_methods": {"allow_redirects": "always", "enabled": True},
        "canceled_at": None, "cancellation_reason": None, "capture_method": "automatic_async",
        "client_secret": f"{intent_id}_secret_{secrets.token_hex(12)}", "confirmation_method": "automatic",
        "created": fake.now(), "currency": currency, "customer": customer, "description": description,
        "last_payment_error": None, "latest_charge": None, "livemode": False, "metadata": meta,
        "next_action": None, "on_behalf_of": None, "payment_method": None,
        "payment_method_types": ["card"], "processing": None, "receipt_email": None,
        "setup_future_usage": setup_future_usage, "shipping": None, "statement_descriptor": None,
        "status": "requires_payment_method",
    }
    with fake.state.transaction():
        fake.state.put(intent)
        events.record(fake, "payment_intent.created", intent)
    return intent


def create(fake, params: dict) -> dict:
    only(params, {"amount", "currency", "customer", "metadata", "automatic_payment_methods", "description",
                  "setup_future_usage", "expand"})
    required(params, "amount")
    amount = integer(params, "amount", 0, 1, 99_999_999)
    currency = (required(params, "currency") or "").lower()
    if currency not in MINIMUM:
        raise invalid("currency", f"Invalid currency: {currency}. The sandbox's Stripe knows {', '.join(MINIMUM)}.")
    if amount < MINIMUM[currency]:
        raise StripeFault(400, "Amount must be at least 0.50 in the charge currency.", code="amount_too_small",
                          param="amount")
    automatic = params.get("automatic_payment_methods")
    if automatic is not None and (not isinstance(automatic, dict) or boolean(automatic, "enabled") is not True):
        raise invalid("automatic_payment_methods[enabled]", "The sandbox emulates automatic payment methods only.")
    usage = string(params, "setup_future_usage")
    if usage not in (None, "on_session", "off_session"):
        raise invalid("setup_future_usage", f"Invalid setup_future_usage: {usage}")
    customer = customers.require(fake, params["customer"]) if "customer" in params else None
    intent = build(fake, amount=amount, currency=currency, customer=customer, meta=metadata(params),
                   description=string(params, "description"), setup_future_usage=usage)
    return expand(intent, expansions(params), fake.resolve)


def retrieve(fake, params: dict, intent_id: str) -> dict:
    only(params, {"expand", "client_secret"})
    intent = fake.require("payment_intent", intent_id)
    return expand(intent, expansions(params), fake.resolve)


def succeed(fake, intent_id: str) -> dict:
    """The customer paid (test hook): the intent succeeds and records payment_intent.succeeded."""
    with fake.state.transaction():
        intent = fake.require("payment_intent", intent_id)
        if intent["status"] not in ("requires_payment_method", "requires_confirmation", "requires_action"):
            raise StripeFault(400, f"This PaymentIntent's status is {intent['status']}: it cannot be paid.",
                              code="payment_intent_unexpected_state")
        intent.update(status="succeeded", amount_received=intent["amount"], payment_method=fake.new_id("pm"))
        intent["latest_charge"] = charges.make(fake, intent)["id"]  # charge.succeeded comes first, as on Stripe
        fake.state.put(intent)
        events.record(fake, "payment_intent.succeeded", intent)
    return intent


DECLINED = {"type": "card_error", "code": "card_declined", "decline_code": "generic_decline",
            "message": "Your card was declined."}


def cancel(fake, intent_id: str, reason: str) -> dict:
    """The intent will never be paid (its invoice was voided): canceled, with payment_intent.canceled."""
    intent = fake.resolve("payment_intent", intent_id)
    if intent is None or intent["status"] in ("succeeded", "canceled"):
        return intent
    intent = {**intent, "status": "canceled", "canceled_at": fake.now(), "cancellation_reason": reason}
    fake.state.put(intent)
    events.record(fake, "payment_intent.canceled", intent)
    return intent


def fail(fake, intent_id: str) -> dict:
    """A declined card (test hook): payment_intent.payment_failed; the intent waits for another payment method."""
    with fake.state.transaction():
        intent = fake.require("payment_intent", intent_id)
        if intent["status"] == "succeeded":
            raise StripeFault(400, "This PaymentIntent has already succeeded.", code="payment_intent_unexpected_state")
        intent.update(status="requires_payment_method", last_payment_error=dict(DECLINED))
        fake.state.put(intent)
        events.record(fake, "payment_intent.payment_failed", intent)
    return intent


def list_intents(fake, params: dict) -> dict:
    """GET /v1/payment_intents: newest first, by customer."""
    only(params, {"customer", "limit", "starting_after", "expand"})
    customer = string(params, "customer")
    found = [intent for intent, _ in fake.state.all("payment_intent") if customer is None or intent["customer"] == customer]
    return page(newest_first(found), params, "/v1/payment_intents", "payment_intent", fake.resolve)


ROUTES = [
    ("POST", "/v1/payment_intents", create),
    ("GET", "/v1/payment_intents", list_intents),
    ("GET", "/v1/payment_intents/{id}", retrieve),
]
