"""The payment sheet confirmed with a test card: the PaymentIntent or SetupIntent behind a client secret.

What the mobile app does on Stripe's side, offline: a subscription's first invoice paid (incomplete →
active), a trial's SetupIntent succeeded (trialing, now with a default payment method), a one-time
PaymentIntent succeeded; each with Stripe's events. While the decline switch is on the card is
declined instead: payment_intent.payment_failed (and invoice.payment_failed), or setup_intent.setup_failed.
"""

from __future__ import annotations

from sandbox.stripe import invoices, payment_intents, setup_intents, subscriptions
from sandbox.stripe.faults import StripeFault


def confirm(fake, client_secret: str) -> str:
    """Confirm the intent whose client secret this is; one line saying what happened."""
    intent_id = client_secret.partition("_secret_")[0]
    kind = "setup_intent" if intent_id.startswith("seti_") else "payment_intent"
    intent = fake.resolve(kind, intent_id)
    if intent is None or intent["client_secret"] != client_secret:
        raise StripeFault(404, "No such PaymentIntent or SetupIntent for that client secret.",
                          code="resource_missing", param="client_secret")
    with fake.state.transaction():
        if kind == "setup_intent":
            return _setup(fake, intent)
        return _payment(fake, intent)


def _setup(fake, intent: dict) -> str:
    done = setup_intents.confirm(fake, intent["id"], declined=fake.declines)
    if done["status"] != "succeeded":
        return f"{intent['id']} declined (setup_intent.setup_failed)"
    for sub, _ in fake.state.all("subscription"):
        if sub["pending_setup_intent"] == intent["id"]:
            # The trial keeps going; its first charge, at the trial's end, uses the card saved here.
            subscriptions.save(fake, sub, {**sub, "pending_setup_intent": None,
                                           "default_payment_method": done["payment_method"]})
            return f"{intent['id']} succeeded: {sub['id']} {sub['status']} with a saved card"
    return f"{intent['id']} succeeded"


def _payment(fake, intent: dict) -> str:
    invoice = next((inv for inv, _ in fake.state.all("invoice") if inv.get("_payment_intent") == intent["id"]), None)
    if fake.declines:
        payment_intents.fail(fake, intent["id"])
        if invoice is None:
            return f"{intent['id']} declined (payment_intent.payment_failed)"
        # A first invoice is not retried: the subscription stays incomplete until paid another way.
        invoices.fail(fake, invoice["id"])
        return f"{intent['id']} declined: {invoice['id']} payment failed (invoice.payment_failed)"
    if invoice is None:
        payment_intents.succeed(fake, intent["id"])
        return f"{intent['id']} succeeded (payment_intent.succeeded)"
    sub_id = invoice["parent"]["subscription_details"]["subscription"]
    sub = fake.resolve("subscription", sub_id)
    if sub["latest_invoice"] == invoice["id"]:
        sub = subscriptions.pay_latest_invoice(fake, sub_id)
    else:
        invoices.pay(fake, invoice["id"])
    return f"{intent['id']} succeeded: {invoice['id']} paid, {sub_id} {sub['status']}"
