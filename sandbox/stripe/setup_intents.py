"""SetupIntents: the one a trialing subscription leaves pending, to save a card before the first charge."""

from __future__ import annotations

import secrets

from sandbox.stripe import events
from sandbox.stripe.faults import StripeFault
from sandbox.stripe.forms import only
from sandbox.stripe.lists import expand, expansions


def build(fake, customer: str) -> dict:
    """A new off-session SetupIntent for `customer`, waiting for a payment method, stored."""
    intent_id = fake.new_id("seti")
    intent = {
        "id": intent_id, "object": "setup_intent", "application": None,
        "automatic_payment_methods": None, "cancellation_reason": None,
        "client_secret": f"{intent_id}_secret_{secrets.token_hex(12)}", "created": fake.now(),
        "customer": customer, "description": None, "last_setup_error": None, "latest_attempt": None,
        "livemode": False, "mandate": None, "metadata": {}, "next_action": None, "on_behalf_of": None,
        "payment_method": None, "payment_method_types": ["card"], "single_use_mandate": None,
        "status": "requires_payment_method", "usage": "off_session",
    }
    with fake.state.transaction():
        fake.state.put(intent)
        events.record(fake, "setup_intent.created", intent)
    return intent


def retrieve(fake, params: dict, intent_id: str) -> dict:
    only(params, {"expand", "client_secret"})
    intent = fake.require("setup_intent", intent_id)
    return expand(intent, expansions(params), fake.resolve)


def confirm(fake, intent_id: str, *, declined: bool) -> dict:
    """The customer entered a card (test hook): setup_intent.succeeded with a payment method, or setup_failed."""
    with fake.state.transaction():
        intent = fake.require("setup_intent", intent_id)
        if intent["status"] != "requires_payment_method":
            raise StripeFault(400, f"This SetupIntent's status is {intent['status']}: it cannot be confirmed.",
                              code="setup_intent_unexpected_state")
        if declined:
            intent["last_setup_error"] = {"type": "card_error", "code": "card_declined",
                                          "decline_code": "generic_decline", "message": "Your card was declined."}
        else:
            intent.update(status="succeeded", payment_method=fake.new_id("pm"), last_setup_error=None)
        fake.state.put(intent)
        events.record(fake, "setup_intent.setup_failed" if declined else "setup_intent.succeeded", intent)
    return intent


ROUTES = [
    ("GET", "/v1/setup_intents/{id}", retrieve),
]
