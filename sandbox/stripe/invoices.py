"""Invoices: a subscription's first one (finalized at once, as default_incomplete does) and its renewals (clock.py),
paid or failed by hooks.

Shaped for the pinned API version: the subscription is under `parent.subscription_details`, the
payment's secret is `confirmation_secret` (shown only when expanded); no `payment_intent` or
`subscription` field at the top.
"""

from __future__ import annotations

from sandbox.stripe import events, payment_intents
from sandbox.stripe.faults import StripeFault
from sandbox.stripe.forms import only, string
from sandbox.stripe.lists import expand, expansions, newest_first, page


# Where Stripe hosts a finalized invoice's page and PDF; the sandbox's addresses lead nowhere.
HOSTED = "https://invoice.sandbox.invalid/i/{id}"
PDF = "https://invoice.sandbox.invalid/i/{id}/pdf"


def _amount(price: dict, quantity: int, trial: bool) -> int:
    # During a trial the recurring prices cost nothing; one-time ones (an enrolment fee) are still due.
    return 0 if trial and price["type"] == "recurring" else price["unit_amount"] * quantity


def _line(fake, invoice_id: str, price: dict, quantity: int, amount: int, subscription: dict,
          period: tuple[int, int]) -> dict:
    item = next((i["id"] for i in subscription["items"]["data"] if i["price"]["id"] == price["id"]), None)
    return {
        "id": fake.new_id("il"), "object": "line_item", "amount": amount, "currency": price["currency"],
        "description": f"{quantity} × {price.get('nickname') or price['id']}", "discountable": True,
        "discounts": [], "invoice": invoice_id, "livemode": False, "metadata": {},
        "parent": {"type": "subscription_item_details", "invoice_item_details": None,
                   "subscription_item_details": {"invoice_item": None, "proration": False,
                                                 "proration_details": {"credited_items": None},
                                                 "subscription": subscription["id"], "subscription_item": item}},
        "period": {"start": period[0], "end": period[1]},
        "pricing": {"type": "price_details", "price_details": {"price": price["id"], "product": price["product"]},
                    "unit_amount_decimal": str(price["unit_amount"])},
        "quantity": quantity, "taxes": [],
    }


def create_for(fake, subscription: dict, lines: list[tuple[dict, int]], period: tuple[int, int], *,
               trial: bool = False, reason: str = "subscription_create") -> dict:
    """The subscription's finalized invoice for `lines` (price, quantity): open with a PaymentIntent, or paid at 0."""
    now = fake.now()
    total = sum(_amount(price, quantity, trial) for price, quantity in lines)
    currency = lines[0][0]["currency"]
    invoice_id = fake.new_id("in")
    invoice = {
        "id": invoice_id, "object": "invoice", "account_country": "BR", "account_name": "Tatame (sandbox)",
        "amount_due": total, "amount_overpaid": 0, "amount_paid": 0, "amount_remaining": total,
        "amount_shipping": 0, "attempt_count": 0, "attempted": False, "auto_advance": total > 0,
        "automatic_tax": {"enabled": False, "liability": None, "status": None},
        "billing_reason": reason, "collection_method": "charge_automatically", "confirmation_secret": None,
        "created": now, "currency": currency, "customer": subscription["customer"], "customer_email": None,
        "default_payment_method": None, "description": None, "discounts": [], "due_date": None,
        "effective_at": now, "ending_balance": 0, "footer": None, "hosted_invoice_url": HOSTED.format(id=invoice_id), "invoice_pdf": PDF.format(id=invoice_id),
        "last_finalization_error": None, "livemode": False, "metadata": {}, "next_payment_attempt": None,
        "number": f"DEMO-{invoice_id[-6:].upper()}", "on_behalf_of": None,
        "parent": {"type": "subscription_details", "quote_details": None,
                   "subscription_details": {"metadata": dict(subscription["metadata"]),
                                            "subscription": subscription["id"]}},
        "period_end": now, "period_start": now, "starting_balance": 0, "status": "open",
        "status_transitions": {"finalized_at": now, "marked_uncollectible_at": None, "paid_at": None,
                               "voided_at": None},
        "subtotal": total, "subtotal_excluding_tax": total, "total": total, "total_discount_amounts": [],
        "total_excluding_tax": total, "total_taxes": [], "webhooks_delivered_at": None,
    }
    billed = [_line(fake, invoice_id, p, q, _amount(p, q, trial), subscription, period) for p, q in lines]
    invoice["lines"] = {"object": "list", "data": billed, "has_more": False, "total_count": len(lines),
                        "url": f"/v1/invoices/{invoice_id}/lines"}
    with fake.state.transaction():
        if total:
            intent = payment_intents.build(fake, amount=total, currency=currency, customer=subscription["customer"],
                                           meta={}, setup_future_usage="off_session")
            invoice["confirmation_secret"] = {"client_secret": intent["client_secret"], "type": "payment_intent"}
            invoice["_payment_intent"] = intent["id"]  # Stripe keeps it in invoice.payments; never shown
        fake.state.put(invoice)
        events.record(fake, "invoice.created", invoice)
        events.record(fake, "invoice.finalized", invoice)
        if not total:
            invoice = _paid(fake, invoice)
    return invoice


def _paid(fake, invoice: dict) -> dict:
    invoice = {**invoice, "amount_paid": invoice["amount_due"], "amount_remaining": 0, "status": "paid",
               "attempted": True, "attempt_count": invoice["attempt_count"] + (1 if invoice["amount_due"] else 0),
               "next_payment_attempt": None,
               "status_transitions": {**invoice["status_transitions"], "paid_at": fake.now()}}
    fake.state.put(invoice)
    events.record(fake, "invoice.paid", invoice)
    events.record(fake, "invoice.payment_succeeded", invoice)
    return invoice


def pay(fake, invoice_id: str) -> dict:
    """The customer paid the open invoice (test hook): its PaymentIntent succeeds, the invoice is paid."""
    with fake.state.transaction():
        invoice = _open(fake, invoice_id)
        if invoice.get("_payment_intent"):
            payment_intents.succeed(fake, invoice["_payment_intent"])
        return _paid(fake, invoice)


def fail(fake, invoice_id: str, next_attempt: int | None = None) -> dict:
    """A payment attempt on the open invoice failed (test hook): invoice.payment_failed, still open.

    `next_attempt`: when Stripe will retry (None: no retry planned, as for a subscription's first invoice)."""
    with fake.state.transaction():
        invoice = _open(fake, invoice_id)
        invoice = {**invoice, "attempted": True, "attempt_count": invoice["attempt_count"] + 1,
                   "next_payment_attempt": next_attempt,
                   "_first_failed_at": invoice.get("_first_failed_at") or fake.now()}  # retries count from it
        fake.state.put(invoice)
        events.record(fake, "invoice.payment_failed", invoice)
    return invoice


def _open(fake, invoice_id: str) -> dict:
    invoice = fake.require("invoice", invoice_id)
    if invoice["status"] != "open":
        raise StripeFault(400, f"Invoice is already {invoice['status']}.", code="invoice_not_editable")
    return invoice


def retrieve(fake, params: dict, invoice_id: str) -> dict:
    only(params, {"expand"})
    invoice = fake.require("invoice", invoice_id)
    return expand(invoice, expansions(params), fake.resolve)


def void(fake, params: dict, invoice_id: str) -> dict:
    """POST /v1/invoices/{id}/void: an open invoice can no longer be paid; its PaymentIntent is canceled.
    A paid (or already void) invoice is refused, as Stripe refuses it."""
    only(params, {"expand"})
    with fake.state.transaction():
        invoice = _open(fake, invoice_id)
        invoice = {**invoice, "status": "void", "amount_remaining": 0, "next_payment_attempt": None,
                   "status_transitions": {**invoice["status_transitions"], "voided_at": fake.now()}}
        fake.state.put(invoice)
        if invoice.get("_payment_intent"):
            payment_intents.cancel(fake, invoice["_payment_intent"], "void_invoice")
        events.record(fake, "invoice.voided", invoice)
    return expand(invoice, expansions(params), fake.resolve)


def list_invoices(fake, params: dict) -> dict:
    """GET /v1/invoices: newest first, by customer, subscription and status."""
    only(params, {"customer", "subscription", "status", "limit", "starting_after", "expand"})
    customer, subscription, status = string(params, "customer"), string(params, "subscription"), string(params, "status")
    if status not in (None, "draft", "open", "paid", "uncollectible", "void"):
        raise StripeFault(400, f"Invalid status: {status}", code="parameter_invalid", param="status")
    found = [invoice for invoice, _ in fake.state.all("invoice")
             if (customer is None or invoice["customer"] == customer)
             and (subscription is None or invoice["parent"]["subscription_details"]["subscription"] == subscription)
             and (status is None or invoice["status"] == status)]
    return page(newest_first(found), params, "/v1/invoices", "invoice", fake.resolve)


ROUTES = [
    ("GET", "/v1/invoices", list_invoices),
    ("GET", "/v1/invoices/{id}", retrieve),
    ("POST", "/v1/invoices/{id}/void", void),
]
