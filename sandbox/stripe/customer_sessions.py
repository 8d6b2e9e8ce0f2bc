"""Customer Sessions: a client secret that lets the mobile Payment Element show one customer's saved cards."""

from __future__ import annotations

import secrets

from sandbox.stripe import customers
from sandbox.stripe.faults import StripeFault, invalid
from sandbox.stripe.forms import boolean, only, required

LIFETIME = 30 * 60  # Stripe: a customer session's secret expires after 30 minutes
COMPONENTS = {"mobile_payment_element", "payment_element", "pricing_table", "buy_button"}


def create(fake, params: dict) -> dict:
    only(params, {"customer", "components", "expand"})
    customer = customers.require(fake, params.get("customer"))
    components = required(params, "components")
    if not isinstance(components, dict):
        raise invalid("components", "Invalid hash")
    only(components, COMPONENTS)
    shown = {}
    for name, component in components.items():
        if not isinstance(component, dict):
            raise invalid(f"components[{name}]", "Invalid hash")
        only(component, {"enabled", "features"})
        enabled = boolean(component, "enabled")
        if enabled is None:
            raise StripeFault(400, f"Missing required param: components[{name}][enabled].",
                              code="parameter_missing", param=f"components[{name}][enabled]")
        shown[name] = {"enabled": enabled, "features": component.get("features") if enabled else None}
    if not any(component["enabled"] for component in shown.values()):
        raise invalid("components", "At least one component must be enabled.")
    now = fake.now()
    # Stripe's answer has no id: the secret is the session.
    return {"object": "customer_session", "client_secret": f"cuss_secret_demo_{secrets.token_hex(16)}",
            "components": shown, "created": now, "customer": customer, "customer_account": None,
            "expires_at": now + LIFETIME, "livemode": False}


ROUTES = [
    ("POST", "/v1/customer_sessions", create),
]
