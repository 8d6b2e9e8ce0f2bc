"""SetupIntents: the one a trialing subscription leaves pending, to save a card before the first charge."""

from __future__ import annotations

import secrets

from app.gateways.fake_stripe import events
from app.gateways.fake_stripe.faults import missing
from app.gateways.fake_stripe.forms import only
from app.gateways.fake_stripe.lists import expand, expansions


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
    intent = fake.resolve("setup_intent", intent_id)
    if intent is None:
        raise missing("setup_intent", intent_id)
    return expand(intent, expansions(params), fake.resolve)


ROUTES = [
    ("GET", "/v1/setup_intents/{id}", retrieve),
]
