"""Subscriptions: create (as the payment sheet does), retrieve, update, list, cancel; status moves for test hooks.

Shaped for the pinned API version: the billing period is on each item (`current_period_start`,
`current_period_end`), not on the subscription.
"""

from __future__ import annotations

import calendar
from datetime import datetime, timezone

from sandbox.stripe import customers, events, invoices, setup_intents
from sandbox.stripe.catalog import purchasable
from sandbox.stripe.faults import StripeFault, invalid
from sandbox.stripe.forms import boolean, integer, metadata, only, required, string
from sandbox.stripe.lists import expand, expansions, newest_first, page

STATUSES = ("incomplete", "incomplete_expired", "trialing", "active", "past_due", "canceled", "unpaid", "paused")
ENDED = ("canceled", "incomplete_expired")
BEHAVIOURS = ("default_incomplete", "allow_incomplete", "error_if_incomplete")


def add_interval(start: int, interval: str, count: int) -> int:
    """`start` moved on by `count` intervals, months by the calendar (Jan 31 + 1 month = Feb 28/29) as Stripe bills."""
    if interval in ("day", "week"):
        return start + count * (86400 if interval == "day" else 7 * 86400)
    moment = datetime.fromtimestamp(start, timezone.utc)
    months = moment.month - 1 + count * (12 if interval == "year" else 1)
    year, month = moment.year + months // 12, months % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return int(moment.replace(year=year, month=month, day=day).timestamp())


def trial_settings(params: dict) -> str:
    """`trial_settings[end_behavior][missing_payment_method]`: what a trial ending without a card does."""
    settings = params.get("trial_settings") or {}
    behaviour = settings.get("end_behavior") if isinstance(settings, dict) else None
    if not isinstance(settings, dict) or not isinstance(behaviour or {}, dict):
        raise invalid("trial_settings", "Invalid hash")
    only(settings, {"end_behavior"})
    only(behaviour or {}, {"missing_payment_method"})
    value = string(behaviour or {}, "missing_payment_method") or "create_invoice"
    if value not in ("cancel", "create_invoice", "pause"):
        raise invalid("trial_settings[end_behavior][missing_payment_method]", f"Invalid value: {value}")
    return value


def start(fake, *, customer: str, lines: list[tuple[dict, int]], meta: dict, trial_days: int | None,
          paid: bool, save_payment_method: str = "off", trial_end_behaviour: str | None = None) -> dict:
    """A new subscription of the recurring `lines`, its first invoice (one-time lines too) and its events.

    `paid`: the customer paid at once (Checkout): active, or trialing, with a saved card. Otherwise
    (the payment sheet, default_incomplete): incomplete waiting for the invoice's payment, or
    trialing with a pending SetupIntent to save the card."""
    now, recurring = fake.now(), [(price, qty) for price, qty in lines if price["type"] == "recurring"]
    trial_end = now + trial_days * 86400 if trial_days else None
    first = recurring[0][0]
    period = (now, trial_end or add_interval(now, first["recurring"]["interval"], first["recurring"]["interval_count"]))
    sub_id = fake.new_id("sub")
    subscription = {
        "id": sub_id, "object": "subscription", "application": None, "application_fee_percent": None,
        "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
        "billing_cycle_anchor": period[1] if trial_end else now, "billing_cycle_anchor_config": None,
        "billing_mode": {"type": "flexible", "flexible": {"proration_discounts": "included"}, "updated_at": None},
        "billing_thresholds": None, "cancel_at": None, "cancel_at_period_end": False, "canceled_at": None,
        "cancellation_details": {"comment": None, "feedback": None, "reason": None},
        "collection_method": "charge_automatically", "created": now, "currency": first["currency"],
        "customer": customer, "days_until_due": None, "default_payment_method": None, "default_source": None,
        "default_tax_rates": [], "description": None, "discounts": [], "ended_at": None,
        "invoice_settings": {"account_tax_ids": None, "issuer": {"type": "self"}},
        "items": {"object": "list", "has_more": False, "total_count": len(recurring),
                  "url": f"/v1/subscription_items?subscription={sub_id}",
                  "data": [_item(fake, price, qty, sub_id, period) for price, qty in recurring]},
        "latest_invoice": None, "livemode": False, "metadata": meta, "next_pending_invoice_item_invoice": None,
        "on_behalf_of": None, "pause_collection": None,
        "payment_settings": {"payment_method_options": None, "payment_method_types": None,
                             "save_default_payment_method": save_payment_method},
        "pending_invoice_item_interval": None, "pending_setup_intent": None, "pending_update": None,
        "schedule": None, "start_date": now, "status": "trialing" if trial_end else "incomplete",
        "test_clock": None, "transfer_data": None, "trial_end": trial_end,
        "trial_settings": {"end_behavior": {"missing_payment_method": trial_end_behaviour or "create_invoice"}},
        "trial_start": now if trial_end else None,
    }
    with fake.state.transaction():
        if paid:
            subscription["default_payment_method"] = fake.new_id("pm")
            subscription["status"] = "trialing" if trial_end else "active"
        elif trial_end:
            subscription["pending_setup_intent"] = setup_intents.build(fake, customer)["id"]
        invoice = invoices.create_for(fake, subscription, lines, period, trial=bool(trial_end))
        if paid and invoice["status"] == "open":
            invoice = invoices.pay(fake, invoice["id"])
        subscription["latest_invoice"] = invoice["id"]
        fake.state.put(subscription)
        events.record(fake, "customer.subscription.created", subscription)
    return subscription


def _item(fake, price: dict, quantity: int, sub_id: str, period: tuple[int, int]) -> dict:
    return {"id": fake.new_id("si"), "object": "subscription_item", "billing_thresholds": None,
            "created": period[0], "current_period_end": period[1], "current_period_start": period[0],
            "discounts": [], "metadata": {}, "price": price, "quantity": quantity, "subscription": sub_id,
            "tax_rates": []}


def check_prices(lines: list[tuple[dict, int]], param: str) -> None:
    """Stripe's rules for the prices of one subscription: one currency, one billing interval, no price twice."""
    currencies = {price["currency"] for price, _ in lines}
    intervals = {(p["recurring"]["interval"], p["recurring"]["interval_count"]) for p, _ in lines if p["recurring"]}
    if len(currencies) > 1:
        raise invalid(param, "All prices on a subscription must have the same `currency`.")
    if len(intervals) > 1:
        raise invalid(param, "All prices on a subscription must have the same `recurring.interval` and "
                             "`recurring.interval_count`.")
    if len({price["id"] for price, _ in lines}) < len(lines):
        raise invalid(param, "Cannot add multiple subscription items with the same price.")


def create(fake, params: dict) -> dict:
    only(params, {"customer", "items", "payment_behavior", "payment_settings", "trial_period_days", "trial_settings",
                  "metadata", "expand", "description"})
    customer = customers.require(fake, params.get("customer"))
    items = required(params, "items")
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise invalid("items", "Invalid array")
    lines = []
    for index, item in enumerate(items):
        only(item, {"price", "quantity", "metadata"})
        price = purchasable(fake, required(item, "price", f"items[{index}][price]"), f"items[{index}][price]")
        if price["type"] != "recurring":
            raise invalid(f"items[{index}][price]", "The price specified is set to `type=one_time` but this field"
                                                    " only accepts prices with `type=recurring`.")
        lines.append((price, integer(item, "quantity", 1, 1, 10_000)))
    check_prices(lines, "items")
    behaviour = string(params, "payment_behavior") or "allow_incomplete"
    if behaviour not in BEHAVIOURS:
        raise invalid("payment_behavior", f"Invalid payment_behavior: {behaviour}")
    settings = params.get("payment_settings") or {}
    if not isinstance(settings, dict):
        raise invalid("payment_settings", "Invalid hash")
    only(settings, {"save_default_payment_method"})
    save = string(settings, "save_default_payment_method") or "off"
    if save not in ("off", "on_subscription"):
        raise invalid("payment_settings[save_default_payment_method]", f"Invalid value: {save}")
    trial = integer(params, "trial_period_days", 0, 0, 730) or None
    if behaviour == "error_if_incomplete" and not trial:
        # The sandbox's customers have no card, so Stripe could not charge the first invoice.
        raise StripeFault(400, "This customer has no attached payment source or default payment method.",
                          code="resource_missing")
    subscription = start(fake, customer=customer, lines=lines, meta=metadata(params), trial_days=trial,
                         paid=False, save_payment_method=save, trial_end_behaviour=trial_settings(params))
    return expand(subscription, expansions(params), fake.resolve)


def _get(fake, subscription_id: str) -> dict:
    found = fake.require("subscription", subscription_id)
    return found


def retrieve(fake, params: dict, subscription_id: str) -> dict:
    only(params, {"expand"})
    return expand(_get(fake, subscription_id), expansions(params), fake.resolve)


def save(fake, before: dict, after: dict) -> dict:
    """Store a changed subscription and record what Stripe sends for the change."""
    if after == before:
        return after
    fake.state.put(after)
    events.record(fake, "customer.subscription.updated", after, events.changed(before, after))
    if after["status"] == "paused" != before["status"]:
        events.record(fake, "customer.subscription.paused", after)
    if before["status"] == "paused" != after["status"]:
        events.record(fake, "customer.subscription.resumed", after)
    return after


def period_end(subscription: dict) -> int:
    return max(item["current_period_end"] for item in subscription["items"]["data"])


def update(fake, params: dict, subscription_id: str) -> dict:
    only(params, {"cancel_at_period_end", "metadata", "cancellation_details", "proration_behavior", "expand"})
    with fake.state.transaction():
        before = _get(fake, subscription_id)
        after = {**before, "metadata": metadata(params, before["metadata"])}
        if before["status"] in ENDED and set(params) - {"metadata", "cancellation_details", "expand"}:
            raise StripeFault(400, "A canceled subscription can only update its cancellation_details and metadata.")
        details = params.get("cancellation_details")
        if details is not None:
            if not isinstance(details, dict):
                raise invalid("cancellation_details", "Invalid hash")
            only(details, {"comment", "feedback"})
            after["cancellation_details"] = {**before["cancellation_details"],
                                             **{k: v or None for k, v in details.items()}}
        cancel = boolean(params, "cancel_at_period_end")
        if cancel is not None and cancel != before["cancel_at_period_end"]:
            # Stripe: cancel_at becomes the period's end; canceled_at is when the cancellation was asked for.
            after.update(cancel_at_period_end=cancel, cancel_at=period_end(before) if cancel else None,
                         canceled_at=fake.now() if cancel else None)
            after["cancellation_details"] = {**after["cancellation_details"],
                                             "reason": "cancellation_requested" if cancel else None}
        save(fake, before, after)
    return expand(after, expansions(params), fake.resolve)


def list_subscriptions(fake, params: dict) -> dict:
    only(params, {"customer", "status", "price", "limit", "starting_after", "expand"})
    customer, status, price = (string(params, name) for name in ("customer", "status", "price"))
    if status not in (None, "all", "ended") + STATUSES:
        raise invalid("status", f"Invalid status: {status}")

    def wanted(sub: dict) -> bool:
        if status is None:
            return sub["status"] != "canceled"  # Stripe's default: every subscription not canceled
        return status == "all" or sub["status"] == status or (status == "ended" and sub["status"] in ENDED)

    found = [sub for sub, _ in fake.state.all("subscription")
             if (customer is None or sub["customer"] == customer) and wanted(sub)
             and (price is None or any(item["price"]["id"] == price for item in sub["items"]["data"]))]
    return page(newest_first(found), params, "/v1/subscriptions", "subscription", fake.resolve)


def cancel(fake, params: dict, subscription_id: str) -> dict:
    """DELETE /v1/subscriptions/{id}: canceled now (the dashboard, the portal's immediate cancel)."""
    only(params, {"cancellation_details", "invoice_now", "prorate", "expand"})
    details = params.get("cancellation_details") or {}
    if not isinstance(details, dict):
        raise invalid("cancellation_details", "Invalid hash")
    only(details, {"comment", "feedback"})
    with fake.state.transaction():
        subscription = end(fake, _get(fake, subscription_id), "cancellation_requested",
                           comment=string(details, "comment"))
    return expand(subscription, expansions(params), fake.resolve)


def end(fake, subscription: dict, reason: str, comment: str | None = None) -> dict:
    """Cancel `subscription` at once and record customer.subscription.deleted."""
    if subscription["status"] in ENDED:
        raise StripeFault(400, "This subscription is already canceled.")
    now = fake.now()
    ended = {**subscription, "status": "canceled", "ended_at": now, "canceled_at": subscription["canceled_at"] or now,
             "cancellation_details": {**subscription["cancellation_details"], "reason": reason,
                                      **({"comment": comment} if comment else {})}}
    fake.state.put(ended)
    events.record(fake, "customer.subscription.deleted", ended)
    return ended


# --- what only a test can do: move a subscription as a customer's payment (or its failure) would --------
def pay_latest_invoice(fake, subscription_id: str) -> dict:
    """The customer paid the open first invoice (the payment sheet confirmed): incomplete or past_due → active."""
    with fake.state.transaction():
        before = _get(fake, subscription_id)
        invoices.pay(fake, before["latest_invoice"])
        status = "active" if before["status"] in ("incomplete", "past_due", "unpaid") else before["status"]
        after = {**before, "status": status,
                 "default_payment_method": before["default_payment_method"] or fake.new_id("pm")}
        return save(fake, before, after)


def fail_latest_invoice(fake, subscription_id: str) -> dict:
    """A payment attempt on the open latest invoice failed: invoice.payment_failed; an active one → past_due."""
    with fake.state.transaction():
        before = _get(fake, subscription_id)
        invoices.fail(fake, before["latest_invoice"])
        status = "past_due" if before["status"] == "active" else before["status"]
        return save(fake, before, {**before, "status": status})


def set_status(fake, subscription_id: str, status: str) -> dict:
    """Put a subscription in any status, with the events Stripe sends for it (canceled: ended, as Stripe ends it)."""
    if status not in STATUSES:
        raise ValueError(f"unknown subscription status {status!r}")
    with fake.state.transaction():
        before = _get(fake, subscription_id)
        if status == "canceled":
            return end(fake, before, "cancellation_requested")
        return save(fake, before, {**before, "status": status})


ROUTES = [
    ("POST", "/v1/subscriptions", create),
    ("GET", "/v1/subscriptions", list_subscriptions),
    ("GET", "/v1/subscriptions/{id}", retrieve),
    ("POST", "/v1/subscriptions/{id}", update),
    ("DELETE", "/v1/subscriptions/{id}", cancel),
]
