"""`flask stripe reconcile` and `flask stripe sync`: what deliveries missed, recovered through the same paths."""

import re

import pytest
import responses

from app import create_app
from tests.conftest import with_config

MONTHLY = "price_demo_unlimited_monthly"


@pytest.fixture
def app(config, sandbox_stripe):
    return create_app(with_config(config, stripe_publishable_key="pk_test_fake_publishable_key"))


def run(app, *args):
    result = app.test_cli_runner().invoke(args=["stripe", *args])
    return result.exit_code, result.output


def summary(output):
    return {name: int(n) for name, n in re.findall(r"(seen|processed|skipped|failed) (\d+)", output)}


def paid_without_webhooks(client, auth, sandbox_stripe):
    session = client.post("/stripe/checkout-session", json={"price_id": MONTHLY}, headers=auth).json["data"]
    sandbox_stripe.complete_checkout_session(session["id"])  # Stripe's deliveries of this never arrive


def test_reconcile_recovers_missed_deliveries_then_skips_them(app, auth_headers, sandbox_stripe):
    client, auth = app.test_client(), auth_headers("user_missed")
    paid_without_webhooks(client, auth, sandbox_stripe)
    assert client.get("/stripe/subscription", headers=auth).json["data"]["access"] is False
    code, output = run(app, "reconcile", "--since", "1d")
    assert code == 0, output
    first = summary(output)
    assert first["processed"] >= 2 and first["failed"] == 0 and first["seen"] == first["processed"]
    assert client.get("/stripe/subscription", headers=auth).json["data"]["access"] is True
    code, output = run(app, "reconcile", "--since", "1d")
    again = summary(output)
    assert code == 0 and again["processed"] == 0 and again["skipped"] == again["seen"] == first["seen"]


def test_reconcile_leaves_an_event_another_worker_holds(app, auth_headers, sandbox_stripe):
    client = app.test_client()
    paid_without_webhooks(client, auth_headers("user_held"), sandbox_stripe)
    held = next(e for e in sandbox_stripe.events() if e["type"] == "checkout.session.completed")
    app.extensions["tatame"].store.claim_event(held["id"], held["type"], "another-worker", 60)
    code, output = run(app, "reconcile")
    assert code == 0 and summary(output)["failed"] == 0 and summary(output)["skipped"] >= 1


def test_reconcile_exits_non_zero_when_an_event_fails(app, auth_headers, sandbox_stripe, stripe_api):
    client = app.test_client()
    paid_without_webhooks(client, auth_headers("user_fail"), sandbox_stripe)
    stripe_api.add(responses.GET, re.compile(r"https://api\.stripe\.com/v1/subscriptions/sub_.*"), status=500,
                   json={"error": {"type": "api_error", "message": "down"}})
    code, output = run(app, "reconcile")
    assert code == 1 and summary(output)["failed"] >= 1


def test_sync_rereads_every_subscription(app, auth_headers, sandbox_stripe):
    client, auth = app.test_client(), auth_headers("user_sync")
    paid_without_webhooks(client, auth, sandbox_stripe)
    code, output = run(app, "sync")
    # The subscription and its invoice; the invoice's PaymentIntent carries no purchase of ours (its invoice shows it).
    assert code == 0 and (summary(output)["processed"], summary(output)["skipped"]) == (2, 1)
    assert client.get("/stripe/subscription", headers=auth).json["data"]["status"] == "active"


def test_since_is_validated(app):
    code, output = run(app, "reconcile", "--since", "31d")
    assert code == 2 and "at most 30d" in output


# --- payment history (GET /stripe/invoices) ----------------------------------------------------------------------
ENROLMENT = "price_demo_enrolment"


def history(client, auth):
    return [(row["kind"], row["status"]) for row in client.get("/stripe/invoices", headers=auth).json["data"]]


def test_reconcile_replays_the_invoice_and_payment_events(app, auth_headers, sandbox_stripe):
    client, auth = app.test_client(), auth_headers("user_missed_history")
    paid_without_webhooks(client, auth, sandbox_stripe)
    session = client.post("/stripe/checkout-session", json={"price_id": ENROLMENT}, headers=auth).json["data"]
    sandbox_stripe.complete_checkout_session(session["id"])
    handled = set(app.extensions["tatame"].webhooks.handlers)
    assert {"invoice.created", "invoice.finalized", "invoice.voided", "invoice.marked_uncollectible",
            "payment_intent.succeeded", "charge.succeeded", "charge.refunded"} <= handled
    assert history(client, auth) == []
    code, output = run(app, "reconcile", "--since", "1d")
    assert code == 0 and summary(output)["failed"] == 0, output
    listed = {event["type"] for call in sandbox_stripe.requests if call.path == "/v1/events"
              for event in [{"type": t} for t in call.params.get("types", [])]}
    assert {"invoice.finalized", "charge.refunded", "payment_intent.succeeded"} <= listed
    assert sorted(history(client, auth)) == [("invoice", "paid"), ("payment", "succeeded")]


def test_sync_fills_the_history_from_nothing(app, auth_headers, sandbox_stripe):
    client, auth = app.test_client(), auth_headers("user_sync_history")
    paid_without_webhooks(client, auth, sandbox_stripe)
    session = client.post("/stripe/checkout-session", json={"price_id": ENROLMENT}, headers=auth).json["data"]
    sandbox_stripe.complete_checkout_session(session["id"])
    code, output = run(app, "sync")
    assert code == 0 and summary(output)["failed"] == 0, output
    assert sorted(history(client, auth)) == [("invoice", "paid"), ("payment", "succeeded")]
    assert history(client, auth_headers("user_someone_else")) == []
