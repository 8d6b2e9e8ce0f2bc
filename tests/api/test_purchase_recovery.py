"""Purchases that recover: a fault at every step of checkout and the payment sheet, then the member's next request.

Faults are injected where they happen: at Stripe's network edge (`responses`, in front of the sandbox's Stripe: the
request never arrives, or Stripe acts and its answer is lost), in the store (a real SQLite store whose
write fails after Stripe answered), and a killed worker (its claim left pending under a live lease, and
what Stripe made before it died). docs/billing.md has the same table in words.
"""

from __future__ import annotations

import json
import re
import time
from urllib.parse import urlsplit

import pytest
import requests

from app import create_app
from app.stores.base import StoreUnavailable
from app.stores.sqlite import SQLiteStore
from tests.conftest import STRIPE_API, with_config

MONTHLY, YEARLY, KIDS = "price_demo_unlimited_monthly", "price_demo_unlimited_yearly", "price_demo_kids_monthly"
FAULTS = ("before_stripe", "answer_lost", "store_failed", "worker_killed")
CREATES = {"sheet": "/v1/subscriptions", "checkout": "/v1/checkout/sessions"}
ROUTES = {"sheet": "/stripe/payment-sheet", "checkout": "/stripe/checkout-session"}


class FailingStore(SQLiteStore):
    """A real SQLite store; `fail` names a write that raises StoreUnavailable once (the database went away)."""

    fail: str | None = None

    def _maybe_fail(self, name: str) -> None:
        if self.fail == name:
            self.fail = None
            raise StoreUnavailable(f"{name}: the database went away")

    def save_subscription(self, record):
        self._maybe_fail("save_subscription")
        return super().save_subscription(record)

    def complete_purchase(self, *args):
        self._maybe_fail("complete_purchase")
        return super().complete_purchase(*args)


@pytest.fixture
def store(config):
    return FailingStore(config.sqlite_path)


@pytest.fixture
def app(config, store, sandbox_stripe):
    return create_app(with_config(config, stripe_publishable_key="pk_test_fake_publishable_key",
                                  purchase_lease_seconds=0.5, customer_wait_seconds=0.2), store=store)


@pytest.fixture
def client(app):
    return app.test_client()


def fault_at_stripe(stripe_api, sandbox_stripe, path: str, *, acted: bool, times: int = 1) -> None:
    """The next `times` POSTs to `path` fail on the wire: before Stripe saw them, or after Stripe acted."""
    left = [times]

    def callback(request):
        parts = urlsplit(request.url)
        if left[0] > 0:
            left[0] -= 1
            if acted:
                sandbox_stripe.handle(request.method, parts.path, request.body or "", dict(request.headers))
            raise requests.ConnectionError("connection reset")
        status, body = sandbox_stripe.handle(request.method, parts.path, request.body or "", dict(request.headers))
        return status, {}, json.dumps(body)

    stripe_api.add_callback("POST", re.compile(re.escape(STRIPE_API + path) + r"\Z"), callback=callback)


def payable(sandbox_stripe) -> list[str]:
    """Everything at Stripe a member could still pay: open sessions and unpaid subscriptions."""
    fake = sandbox_stripe.fake
    sessions = [s["id"] for s, _ in fake.state.all("checkout.session")
                if fake.handle("GET", f"/v1/checkout/sessions/{s['id']}", "", _dashboard())[1]["status"] == "open"]
    return sessions + [s["id"] for s, _ in fake.state.all("subscription") if s["status"] == "incomplete"]


def _dashboard() -> dict:
    return {"Authorization": "Bearer sk_test_dashboard_not_a_real_key", "Stripe-Version": "2026-10-28.endive"}


def kill_the_worker_after_stripe(app, sandbox_stripe, path: str, user: str, price: str, auth) -> str:
    """A worker took the claim, reached Stripe, and died: its pending claim and what Stripe made remain."""
    services = app.extensions["tatame"]
    customer, _ = services.customers.get_or_create(user)
    services.store.claim_purchase("checkout", user, "recurring", "dead-worker", 0.5)
    if path == "sheet":
        made = services.gateway.create_subscription(
            {"customer": customer["id"], "items": [{"price": price}], "payment_behavior": "default_incomplete",
             "payment_settings": {"save_default_payment_method": "on_subscription"},
             "metadata": {"clerk_user_id": user}}, "key-of-the-dead-worker")
    else:
        made = services.gateway.create_checkout_session(
            {"customer": customer["id"], "mode": "subscription", "line_items": [{"price": price, "quantity": 1}],
             "success_url": "http://localhost:3001/billing/success?session_id={CHECKOUT_SESSION_ID}",
             "cancel_url": "http://localhost:3001/billing/cancel", "client_reference_id": user,
             "metadata": {"clerk_user_id": user, "price_id": price},
             "subscription_data": {"metadata": {"clerk_user_id": user}}}, "key-of-the-dead-worker")
    return made["id"]


def first_attempt(app, client, stripe_api, sandbox_stripe, store, path, fault, auth, user) -> tuple[int, str | None]:
    """The attempt the fault hits: (its status, what Stripe made for it, if anything)."""
    before = {s["id"] for kind in ("subscription", "checkout.session") for s, _ in sandbox_stripe.fake.state.all(kind)}
    if fault == "worker_killed":
        return 0, kill_the_worker_after_stripe(app, sandbox_stripe, path, user, MONTHLY, auth)
    if fault in ("before_stripe", "answer_lost"):
        fault_at_stripe(stripe_api, sandbox_stripe, CREATES[path], acted=fault == "answer_lost")
    else:
        store.fail = "save_subscription" if path == "sheet" else "complete_purchase"
    answer = client.post(ROUTES[path], json={"price_id": MONTHLY}, headers=auth)
    made = {s["id"] for kind in ("subscription", "checkout.session") for s, _ in sandbox_stripe.fake.state.all(kind)}
    return answer.status_code, next(iter(made - before), None)


@pytest.mark.parametrize("path", ["sheet", "checkout"])
@pytest.mark.parametrize("fault", FAULTS)
def test_after_a_fault_the_same_purchase_gets_what_stripe_made_or_a_new_one(
        app, client, stripe_api, sandbox_stripe, store, auth_headers, path, fault):
    user = f"user_{path}_{fault}"
    auth = auth_headers(user)
    status, made = first_attempt(app, client, stripe_api, sandbox_stripe, store, path, fault, auth, user)
    assert status in (0, 502, 503)
    assert (made is None) == (fault == "before_stripe")
    if fault == "worker_killed":  # the dead worker's lease still holds: wait, do not make a second one
        busy = client.post(ROUTES[path], json={"price_id": MONTHLY}, headers=auth)
        assert busy.status_code == 409 and busy.json["error"]["code"] == "PURCHASE_IN_PROGRESS"
        assert busy.headers["Retry-After"]
        time.sleep(0.6)
    again = client.post(ROUTES[path], json={"price_id": MONTHLY}, headers=auth)
    assert again.status_code in (200, 201), again.json
    got = again.json["data"]["subscription" if path == "sheet" else "id"]
    if made is not None:
        assert (got, again.status_code) == (made, 200)   # handed back: Stripe made it for this very purchase
    assert payable(sandbox_stripe) == [got]
    if path == "sheet":
        assert again.json["data"]["client_secret"]
    twice = client.post(ROUTES[path], json={"price_id": MONTHLY}, headers=auth)
    key = "client_secret" if path == "sheet" else "url"
    assert (twice.status_code, twice.json["data"][key]) == (200, again.json["data"][key])


@pytest.mark.parametrize("path", ["sheet", "checkout"])
@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("then", ["sheet", "checkout"])
def test_after_a_fault_another_plan_replaces_what_was_left(
        app, client, stripe_api, sandbox_stripe, store, auth_headers, path, fault, then):
    user = f"user_{path}_{fault}_{then}"
    auth = auth_headers(user)
    _, made = first_attempt(app, client, stripe_api, sandbox_stripe, store, path, fault, auth, user)
    if fault == "worker_killed":
        time.sleep(0.6)
    other = client.post(ROUTES[then], json={"price_id": YEARLY}, headers=auth)
    assert other.status_code == 201, other.json
    got = other.json["data"]["subscription" if then == "sheet" else "id"]
    assert got != made and payable(sandbox_stripe) == [got]   # the leftover was canceled or expired


def test_an_unpaid_sheet_does_not_block_another_plan(client, auth_headers, sandbox_stripe):
    auth = auth_headers("user_changes_mind")
    first = client.post("/stripe/payment-sheet", json={"price_id": MONTHLY}, headers=auth).json["data"]
    second = client.post("/stripe/payment-sheet", json={"price_id": KIDS}, headers=auth)
    assert second.status_code == 201 and second.json["data"]["subscription"] != first["subscription"]
    assert sandbox_stripe.fake.resolve("subscription", first["subscription"])["status"] in ("canceled",
                                                                                             "incomplete_expired")
    web = client.post("/stripe/checkout-session", json={"price_id": YEARLY}, headers=auth)
    assert web.status_code == 201
    assert payable(sandbox_stripe) == [web.json["data"]["id"]]


def test_a_subscription_the_member_uses_still_blocks_and_says_so(client, auth_headers, sandbox_stripe):
    auth = auth_headers("user_member")
    sub = client.post("/stripe/payment-sheet", json={"price_id": MONTHLY}, headers=auth).json["data"]["subscription"]
    sandbox_stripe.pay_invoice(sub)
    for route in ROUTES.values():
        refused = client.post(route, json={"price_id": YEARLY}, headers=auth)
        assert refused.status_code == 409 and refused.json["error"]["code"] == "SUBSCRIPTION_EXISTS"
        assert refused.json["error"]["details"] == {"subscription": sub, "status": "active", "reason": "subscribed"}


def test_an_unpaid_subscription_made_elsewhere_blocks_and_is_left_alone(app, client, auth_headers, sandbox_stripe):
    """We cancel only what we made: an incomplete subscription from the dashboard is the operator's to settle."""
    auth = auth_headers("user_dashboard")
    customer, _ = app.extensions["tatame"].customers.get_or_create("user_dashboard")
    status, sub = sandbox_stripe.fake.handle(
        "POST", "/v1/subscriptions", f"customer={customer['id']}&items[0][price]={MONTHLY}"
        "&payment_behavior=default_incomplete", _dashboard())
    assert status == 200
    refused = client.post("/stripe/payment-sheet", json={"price_id": MONTHLY}, headers=auth)
    assert refused.status_code == 409
    assert refused.json["error"]["details"] == {"subscription": sub["id"], "status": "incomplete",
                                                "reason": "unpaid_elsewhere"}
    assert sandbox_stripe.fake.resolve("subscription", sub["id"])["status"] == "incomplete"


def test_a_retry_with_other_addresses_closes_the_session_whose_answer_was_lost(
        client, stripe_api, sandbox_stripe, auth_headers):
    auth = auth_headers("user_other_addresses")
    fault_at_stripe(stripe_api, sandbox_stripe, CREATES["checkout"], acted=True)
    lost = client.post("/stripe/checkout-session", json={"price_id": MONTHLY}, headers=auth)
    assert lost.status_code == 502 and len(payable(sandbox_stripe)) == 1
    again = client.post("/stripe/checkout-session", headers=auth, json={
        "price_id": MONTHLY, "success_url": "http://localhost:3001/welcome", "cancel_url": "http://localhost:3001/"})
    assert again.status_code == 201
    assert payable(sandbox_stripe) == [again.json["data"]["id"]]


def test_a_one_time_checkout_recovers_its_lost_session_too(client, stripe_api, sandbox_stripe, auth_headers):
    auth = auth_headers("user_enrolment")
    fault_at_stripe(stripe_api, sandbox_stripe, CREATES["checkout"], acted=True)
    assert client.post("/stripe/checkout-session", json={"price_id": "price_demo_enrolment"},
                       headers=auth).status_code == 502
    again = client.post("/stripe/checkout-session", json={"price_id": "price_demo_enrolment"}, headers=auth)
    assert again.status_code == 200 and payable(sandbox_stripe) == [again.json["data"]["id"]]


def test_an_abandoned_sheet_does_not_cost_the_member_their_trial(config, auth_headers, sandbox_stripe):
    """The sheet offers no trial; a member who opened it (twice) and then goes to the web still gets one."""
    client = create_app(with_config(config, trial_days=14, stripe_publishable_key="pk_test_fake_publishable_key")
                        ).test_client()
    auth = auth_headers("user_sheet_then_web")
    for price in (MONTHLY, KIDS):  # the second replaces (cancels) the first
        assert client.post("/stripe/payment-sheet", json={"price_id": price}, headers=auth).status_code == 201
    session = client.post("/stripe/checkout-session", json={"price_id": YEARLY}, headers=auth)
    assert session.status_code == 201
    sent = [c for c in sandbox_stripe.requests if (c.method, c.path) == ("POST", "/v1/checkout/sessions")][-1]
    assert sent.params["subscription_data"]["trial_period_days"] == "14"


def test_a_member_who_had_a_subscription_gets_no_second_trial(config, auth_headers, sandbox_stripe):
    client = create_app(with_config(config, trial_days=14, stripe_publishable_key="pk_test_fake_publishable_key")
                        ).test_client()
    auth = auth_headers("user_had_one")
    sub = client.post("/stripe/payment-sheet", json={"price_id": MONTHLY}, headers=auth).json["data"]["subscription"]
    sandbox_stripe.pay_invoice(sub)
    sandbox_stripe.delete_subscription(sub)
    assert client.post("/stripe/checkout-session", json={"price_id": YEARLY}, headers=auth).status_code == 201
    sent = [c for c in sandbox_stripe.requests if (c.method, c.path) == ("POST", "/v1/checkout/sessions")][-1]
    assert "trial_period_days" not in sent.params["subscription_data"]
