"""The sandbox's clock moved forward, and what Stripe would have done meanwhile, in time order.

`advance(fake, seconds)` walks from now to now + seconds: at each moment something falls due
(an open checkout session expires, a trial is 3 days from its end or ends, a period ends, a failed
invoice is retried) the clock is set to that moment and Stripe's change is made, with its events.
Charges fail while the decline switch (`fake.declines`) is on. Every step changes what
GET /v1/subscriptions/{id} answers, so the app's handlers, which re-read it, see each one.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sandbox.stripe import checkout, events, invoices, payment_intents, subscriptions
from sandbox.stripe.subscriptions import add_interval, period_end

DAY = 86400
TRIAL_NOTICE = 3 * DAY  # customer.subscription.trial_will_end comes 3 days before the trial ends
# Retries after a renewal's first failure, in days from that failure; after the last one fails the
# subscription is canceled (the dashboard's "Retry schedule": a custom schedule, then "cancel").
RETRY_DAYS = (3, 5, 7)
MAX_STEPS = 10_000  # a guard: a daily plan over two years is ~730 steps


def day(moment: int) -> str:
    """A moment as the command prints it."""
    return datetime.fromtimestamp(moment, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def advance(fake, seconds: int) -> list[str]:
    """Move the clock `seconds` forward, applying in time order what fell due; one line per thing that happened."""
    happened: list[str] = []
    # One transaction: a second `make clock` waits for this one, and workers see the whole jump at once.
    with fake.state.transaction():
        target = fake.now() + seconds
        for _ in range(MAX_STEPS):
            due = next_due(fake, target)
            if due is None:
                break
            moment, action, object_id = due
            fake.set_now(moment)
            line = action(fake, object_id)
            if line:
                happened.append(f"{day(fake.now())}  {line}")
        fake.set_now(target)
    return happened


def next_due(fake, until: int):
    """(moment, action, id) of the earliest thing due at or before `until`, or None."""
    candidates = []
    for session, _ in fake.state.all("checkout.session"):
        if session["status"] == "open":
            candidates.append((session["expires_at"], _expire_session, session["id"]))
    for sub, _ in fake.state.all("subscription"):
        if sub["status"] == "trialing" and sub["trial_end"]:
            if not sub.get("_trial_notice"):
                candidates.append((max(sub["trial_end"] - TRIAL_NOTICE, sub["created"]), _trial_notice, sub["id"]))
            candidates.append((sub["trial_end"], _end_trial, sub["id"]))
        elif sub["status"] in ("active", "past_due"):
            candidates.append((period_end(sub), _end_period, sub["id"]))
    for invoice, _ in fake.state.all("invoice"):
        if invoice["status"] == "open" and invoice.get("next_payment_attempt"):
            candidates.append((invoice["next_payment_attempt"], _retry, invoice["id"]))
    due = [c for c in candidates if c[0] <= until]
    # Equal moments keep the scan's order (sessions, subscriptions, invoices; oldest first).
    return min(due, key=lambda c: c[0]) if due else None


def _expire_session(fake, session_id: str) -> str:
    checkout.retrieve(fake, {}, session_id)  # reading an open session past its time expires it, as Stripe would
    return f"{session_id} expired (checkout.session.expired)"


def _trial_notice(fake, sub_id: str) -> str:
    sub = fake.resolve("subscription", sub_id)
    fake.state.put({**sub, "_trial_notice": True})  # hidden: Stripe sends the notice once, and says nothing else
    events.record(fake, "customer.subscription.trial_will_end", sub)
    return f"{sub_id} trial ends on {day(sub['trial_end'])} (customer.subscription.trial_will_end)"


def _end_trial(fake, sub_id: str) -> str:
    sub = fake.resolve("subscription", sub_id)
    if sub["cancel_at_period_end"]:
        subscriptions.end(fake, sub, "cancellation_requested")
        return f"{sub_id} canceled at the end of its trial (customer.subscription.deleted)"
    if not sub["default_payment_method"] and sub["trial_settings"]["end_behavior"]["missing_payment_method"] == "cancel":
        subscriptions.end(fake, sub, "missing_payment_method")
        return f"{sub_id} canceled at the end of its trial: no card was saved (customer.subscription.deleted)"
    return "trial ended, " + _renew(fake, sub)


def _end_period(fake, sub_id: str) -> str:
    sub = fake.resolve("subscription", sub_id)
    if sub["cancel_at_period_end"]:
        subscriptions.end(fake, sub, "cancellation_requested")
        return f"{sub_id} canceled at period end (customer.subscription.deleted)"
    return _renew(fake, sub)


def _renew(fake, before: dict) -> str:
    """The next period: items advanced, its invoice (created, finalized) charged, then the subscription saved."""
    start = fake.now()
    items = []
    for item in before["items"]["data"]:
        recurring = item["price"]["recurring"]
        items.append({**item, "current_period_start": start,
                      "current_period_end": add_interval(start, recurring["interval"], recurring["interval_count"])})
    after = {**before, "items": {**before["items"], "data": items}}
    invoice = invoices.create_for(fake, after, [(item["price"], item["quantity"]) for item in items],
                                  (start, items[0]["current_period_end"]), reason="subscription_cycle")
    status, outcome = _charge(fake, after, invoice)
    subscriptions.save(fake, before, {**after, "latest_invoice": invoice["id"], "status": status})
    return f"{before['id']} renewed to {day(items[0]['current_period_end'])}: {invoice['id']} {outcome}"


def _charge(fake, sub: dict, invoice: dict) -> tuple[str, str]:
    """Charge the open invoice with the saved card: (status, what happened); declined → past_due, retried later."""
    if invoice["status"] == "paid":
        return "active", "paid (nothing due)"
    if fake.declines or not sub["default_payment_method"]:
        retry = _decline(fake, invoice)
        why = "declined" if sub["default_payment_method"] else "no payment method"
        return "past_due", f"payment failed ({why}): past_due, retry on {day(retry)}"
    invoices.pay(fake, invoice["id"])
    return "active", "paid: active"


def _decline(fake, invoice: dict) -> int | None:
    """A failed attempt (payment_intent.payment_failed, invoice.payment_failed); the next retry, None after the last."""
    first = invoice.get("_first_failed_at") or fake.now()
    index = invoice["attempt_count"]  # failures before this one
    retry = first + RETRY_DAYS[index] * DAY if index < len(RETRY_DAYS) else None
    payment_intents.fail(fake, invoice["_payment_intent"])
    invoices.fail(fake, invoice["id"], next_attempt=retry)
    return retry


def _retry(fake, invoice_id: str) -> str | None:
    invoice = fake.resolve("invoice", invoice_id)
    sub = fake.resolve("subscription", invoice["parent"]["subscription_details"]["subscription"])
    if sub["status"] in subscriptions.ENDED:
        fake.state.put({**invoice, "next_payment_attempt": None})  # no retries for an ended subscription
        return None
    if fake.declines or not sub["default_payment_method"]:
        retry = _decline(fake, invoice)
        if retry is None:
            subscriptions.end(fake, sub, "payment_failed")
            return f"{sub['id']} {invoice_id} last retry failed: canceled (customer.subscription.deleted)"
        return f"{sub['id']} {invoice_id} retry {invoice['attempt_count']} failed: next on {day(retry)}"
    invoices.pay(fake, invoice_id)
    subscriptions.save(fake, sub, {**sub, "status": "active"})
    return f"{sub['id']} {invoice_id} retry paid: active"
