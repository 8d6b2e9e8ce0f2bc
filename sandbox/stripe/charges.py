"""Charges: the one a succeeded PaymentIntent made (its `latest_charge`), with the receipt Stripe hosts; refunded by
a test hook.

Stripe makes a charge for every successful payment and sends charge.succeeded; a refund sends
charge.refunded. The receipt's address says it is the sandbox's: no Stripe page exists for it.
"""

from __future__ import annotations

from sandbox.stripe import events
from sandbox.stripe.faults import StripeFault
from sandbox.stripe.forms import only
from sandbox.stripe.lists import expand, expansions

RECEIPT = "https://pay.sandbox.invalid/receipts/payment/{id}"


def make(fake, intent: dict) -> dict:
    """The succeeded intent's charge, stored, with charge.succeeded (inside the caller's transaction)."""
    charge_id = fake.new_id("ch")
    charge = {
        "id": charge_id, "object": "charge", "amount": intent["amount"], "amount_captured": intent["amount"],
        "amount_refunded": 0, "application": None, "balance_transaction": None, "billing_details": {
            "address": None, "email": None, "name": None, "phone": None},
        "calculated_statement_descriptor": "TATAME", "captured": True, "created": fake.now(),
        "currency": intent["currency"], "customer": intent["customer"], "description": intent.get("description"),
        "disputed": False, "failure_code": None, "failure_message": None, "livemode": False,
        "metadata": dict(intent.get("metadata") or {}), "outcome": {
            "network_status": "approved_by_network", "reason": None, "risk_level": "normal", "seller_message":
            "Payment complete.", "type": "authorized"},
        "paid": True, "payment_intent": intent["id"], "payment_method": intent.get("payment_method"),
        "receipt_email": None, "receipt_number": None, "receipt_url": RECEIPT.format(id=charge_id),
        "refunded": False, "status": "succeeded",
    }
    fake.state.put(charge)
    events.record(fake, "charge.succeeded", charge)
    return charge


def refund(fake, charge_id: str) -> dict:
    """The whole charge refunded (test hook, as from the dashboard): charge.refunded."""
    with fake.state.transaction():
        charge = fake.require("charge", charge_id)
        if charge["refunded"]:
            raise StripeFault(400, f"Charge {charge_id} has already been refunded.", code="charge_already_refunded")
        charge = {**charge, "amount_refunded": charge["amount"], "refunded": True}
        fake.state.put(charge)
        events.record(fake, "charge.refunded", charge)
    return charge


def retrieve(fake, params: dict, charge_id: str) -> dict:
    only(params, {"expand"})
    charge = fake.require("charge", charge_id)
    return expand(charge, expansions(params), fake.resolve)


ROUTES = [
    ("GET", "/v1/charges/{id}", retrieve),
]
