"""Checkout Sessions: create, retrieve, expire; completed (the customer paid on Stripe's page) by a test hook."""

from __future__ import annotations

import re

from sandbox.stripe import customers, events, payment_intents, subscriptions
from sandbox.stripe.catalog import purchasable
from sandbox.stripe.faults import StripeFault, invalid
from sandbox.stripe.forms import integer, metadata, only, required, string
from sandbox.stripe.lists import expand, expansions, newest_first, page

LIFETIME = 24 * 3600  # Stripe's default (and longest) time before an open session expires
URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S+")
# A session's URL says it is the sandbox's: no Stripe page exists for it (unless the sandbox serves local pages).
PAGE = "https://checkout.sandbox.invalid/c/pay/{id}"


def page_url(fake, session_id: str) -> str:
    """The session's page: the local one under `fake.page_base`, else an address that leads nowhere."""
    return f"{fake.page_base}/checkout/{session_id}" if fake.page_base else PAGE.format(id=session_id)


def _url(params: dict, name: str) -> str | None:
    value = string(params, name)
    if value is not None and (len(value) > 5000 or not URL.fullmatch(value)):
        raise invalid(name, "Not a valid URL")
    return value


def _line_items(fake, params: dict, mode: str) -> list[tuple[dict, int]]:
    items = required(params, "line_items")
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise invalid("line_items", "Invalid array")
    lines = []
    for index, item in enumerate(items):
        only(item, {"price", "quantity"})
        param = f"line_items[{index}][price]"
        price = purchasable(fake, required(item, "price", param), param)
        if mode == "payment" and price["type"] == "recurring":
            raise invalid(param, "You specified `payment` mode but passed a recurring price. Either switch to "
                                 "`subscription` mode or use only one-time prices.")
        required(item, "quantity", f"line_items[{index}][quantity]")
        lines.append((price, integer(item, "quantity", 1, 1, 999_999)))
    if mode == "subscription":
        if not any(price["type"] == "recurring" for price, _ in lines):
            raise invalid("line_items", "You must provide at least one recurring price in `subscription` mode "
                                        "when using prices.")
        subscriptions.check_prices(lines, "line_items")
    elif len({price["currency"] for price, _ in lines}) > 1:
        raise invalid("line_items", "All prices must be in the same currency.")
    return lines


def _extra(params: dict, name: str, mode: str, needs: str, allowed: set[str]) -> dict:
    value = params.get(name)
    if value is None:
        return {}
    if mode != needs:
        raise invalid(name, f"You can not pass `{name}` in `{mode}` mode.")
    if not isinstance(value, dict):
        raise invalid(name, "Invalid hash")
    only(value, allowed)
    return value


def create(fake, params: dict) -> dict:
    only(params, {"customer", "mode", "line_items", "success_url", "cancel_url", "client_reference_id", "metadata",
                  "subscription_data", "payment_intent_data", "expires_at", "expand"})
    mode = required(params, "mode")
    if mode not in ("payment", "subscription"):
        raise invalid("mode", f"Invalid mode: {mode} (the sandbox's Stripe emulates payment and subscription).")
    customer = customers.require(fake, params.get("customer"))
    lines = _line_items(fake, params, mode)
    subscription_data = _extra(params, "subscription_data", mode, "subscription",
                               {"metadata", "trial_period_days", "trial_settings"})
    payment_data = _extra(params, "payment_intent_data", mode, "payment", {"metadata"})
    trial = integer(subscription_data, "trial_period_days", 0, 1, 730) or None
    reference = string(params, "client_reference_id")
    if reference is not None and not 1 <= len(reference) <= 200:
        raise invalid("client_reference_id", "client_reference_id must be 1 to 200 characters.")
    now = fake.now()
    expires_at = integer(params, "expires_at", now + LIFETIME, now + 1800, now + LIFETIME)
    # What is due today: nothing for a recurring price in a trial (its first invoice is 0).
    total = sum(0 if trial and price["type"] == "recurring" else price["unit_amount"] * qty for price, qty in lines)
    session_id = fake.new_id("cs_test")
    session = {
        "id": session_id, "object": "checkout.session", "adaptive_pricing": {"enabled": False},
        "after_expiration": None, "allow_promotion_codes": None, "amount_subtotal": total, "amount_total": total,
        "automatic_tax": {"enabled": False, "liability": None, "status": None}, "billing_address_collection": None,
        "cancel_url": _url(params, "cancel_url"), "client_reference_id": reference, "client_secret": None,
        "consent": None, "consent_collection": None, "created": now, "currency": lines[0][0]["currency"],
        "custom_fields": [], "custom_text": {"after_submit": None, "shipping_address": None, "submit": None,
                                             "terms_of_service_acceptance": None},
        "customer": customer, "customer_creation": None, "customer_details": None, "customer_email": None,
        "discounts": [], "expires_at": expires_at, "invoice": None, "invoice_creation": None, "livemode": False,
        "locale": None, "metadata": metadata(params), "mode": mode, "payment_intent": None,
        "payment_method_collection": "always" if mode == "subscription" else None,
        "payment_method_types": ["card"], "payment_status": "unpaid", "recovered_from": None,
        "setup_intent": None, "status": "open", "submit_type": None, "subscription": None,
        "success_url": _url(params, "success_url"), "total_details": {"amount_discount": 0, "amount_shipping": 0,
                                                                       "amount_tax": 0},
        "ui_mode": "hosted", "url": page_url(fake, session_id),
        # What the session will make when paid; Stripe keeps it, the sandbox's Stripe hides it.
        "_lines": [[price["id"], qty] for price, qty in lines], "_trial_days": trial,
        "_subscription_metadata": metadata(subscription_data), "_payment_metadata": metadata(payment_data),
        "_trial_settings": subscriptions.trial_settings(subscription_data),
    }
    fake.state.put(session)  # Stripe sends no event for a new session
    return expand(session, expansions(params), fake.resolve)


def _get(fake, session_id: str) -> dict:
    """The session by id, expired first if its time has passed by the sandbox's clock (as Stripe expires them)."""
    session = fake.require("checkout.session", session_id)
    if session["status"] == "open" and fake.now() >= session["expires_at"]:
        session = _expire(fake, session)
    return session


def _expire(fake, session: dict) -> dict:
    session = {**session, "status": "expired", "url": None}
    with fake.state.transaction():
        fake.state.put(session)
        events.record(fake, "checkout.session.expired", session)
    return session


def list_sessions(fake, params: dict) -> dict:
    """GET /v1/checkout/sessions: newest first, by customer and status (open, complete, expired)."""
    only(params, {"customer", "status", "limit", "starting_after", "expand"})
    customer, status = string(params, "customer"), string(params, "status")
    if status not in (None, "open", "complete", "expired"):
        raise invalid("status", f"Invalid status: {status}")
    found = [_get(fake, session["id"]) for session, _ in fake.state.all("checkout.session")
             if customer is None or session["customer"] == customer]
    found = [session for session in found if status is None or session["status"] == status]
    return page(newest_first(found), params, "/v1/checkout/sessions", "checkout.session", fake.resolve)


def retrieve(fake, params: dict, session_id: str) -> dict:
    only(params, {"expand"})
    return expand(_get(fake, session_id), expansions(params), fake.resolve)


def expire(fake, params: dict, session_id: str) -> dict:
    only(params, {"expand"})
    with fake.state.transaction():
        session = _get(fake, session_id)
        if session["status"] != "open":
            raise StripeFault(400, f"Only Checkout Sessions with a status in [\"open\"] can be expired. This "
                                   f"Checkout Session has a status of \"{session['status']}\".")
        session = _expire(fake, session)
    return expand(session, expansions(params), fake.resolve)


def complete(fake, session_id: str) -> dict:
    """The customer paid on Stripe's page (test hook): what the session buys is made, the session complete."""
    with fake.state.transaction():
        session = _get(fake, session_id)
        if session["status"] != "open":
            raise StripeFault(400, f"This Checkout Session is {session['status']}: it can no longer be paid.")
        lines = [(fake.catalog.get("price", price_id), qty) for price_id, qty in session["_lines"]]
        customer = fake.resolve("customer", session["customer"])
        done = {**session, "status": "complete", "url": None,
                "customer_details": {"address": None, "email": customer and customer["email"],
                                     "name": customer and customer["name"], "phone": None,
                                     "tax_exempt": "none", "tax_ids": []}}
        if session["mode"] == "subscription":
            subscription = subscriptions.start(fake, customer=session["customer"], lines=lines,
                                               meta=session["_subscription_metadata"],
                                               trial_days=session["_trial_days"], paid=True,
                                               trial_end_behaviour=session.get("_trial_settings"))
            done.update(subscription=subscription["id"], invoice=subscription["latest_invoice"],
                        payment_status="paid" if session["amount_total"] else "no_payment_required")
        else:
            intent = payment_intents.build(fake, amount=session["amount_total"], currency=session["currency"],
                                           customer=session["customer"], meta=session["_payment_metadata"])
            payment_intents.succeed(fake, intent["id"])
            done.update(payment_intent=intent["id"], payment_status="paid")
        fake.state.put(done)
        events.record(fake, "checkout.session.completed", done)
    return expand(done, [], fake.resolve)


ROUTES = [
    ("POST", "/v1/checkout/sessions", create),
    ("GET", "/v1/checkout/sessions", list_sessions),
    ("GET", "/v1/checkout/sessions/{id}", retrieve),
    ("POST", "/v1/checkout/sessions/{id}/expire", expire),
]
