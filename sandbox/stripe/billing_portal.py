"""Customer portal sessions: a short-lived link to Stripe's portal for one customer.

Stripe cannot list or retrieve them; the sandbox's Stripe stores each one so its local portal page finds the
session's customer and return_url."""

from __future__ import annotations

from sandbox.stripe import customers
from sandbox.stripe.checkout import URL
from sandbox.stripe.faults import invalid
from sandbox.stripe.forms import only, string

PAGE = "https://billing.sandbox.invalid/p/session/{id}"  # the sandbox's: no Stripe page exists for it


def page_url(fake, session_id: str) -> str:
    """The session's page: the local one under `fake.page_base`, else an address that leads nowhere."""
    return f"{fake.page_base}/portal/{session_id}" if fake.page_base else PAGE.format(id=session_id)


def create(fake, params: dict) -> dict:
    only(params, {"customer", "return_url", "locale", "expand"})
    customer = customers.require(fake, params.get("customer"))
    return_url = string(params, "return_url")
    if return_url is not None and (len(return_url) > 5000 or not URL.fullmatch(return_url)):
        raise invalid("return_url", "Not a valid URL")
    session_id = fake.new_id("bps")
    session = {"id": session_id, "object": "billing_portal.session", "configuration": "bpc_demo_default",
               "created": fake.now(), "customer": customer, "customer_account": None, "flow": None,
               "livemode": False, "locale": string(params, "locale"), "on_behalf_of": None, "return_url": return_url,
               "url": page_url(fake, session_id)}
    fake.state.put(session)  # Stripe sends no event for a portal session
    return session


ROUTES = [
    ("POST", "/v1/billing_portal/sessions", create),
]
