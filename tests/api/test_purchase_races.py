"""Purchases racing the member's other device, Stripe's webhooks and a slow Stripe.

Each race is staged at Stripe's network edge: a `responses` callback in front of the sandbox's Stripe
lets "meanwhile" happen (the phone confirms its sheet, the web tab pays its checkout, the dashboard
sells a subscription and its webhooks arrive) just before Stripe answers one of our calls. Whatever
the interleaving: never two payable purchases, never a paid subscription canceled, and the answer
says what the member has.
"""

from __future__ import annotations

import json
import re
import threading
import time
from urllib.parse import urlsplit

import pytest

from app import create_app
from tests.api.test_billing import deliver_all
from tests.api.test_billing_guards import dashboard_subscription
from tests.api.test_purchase_recovery import payable
from tests.conftest import STRIPE_API, make_event, with_config

MONTHLY, YEARLY = "price_demo_unlimited_monthly", "price_demo_unlimited_yearly"


@pytest.fixture
def app(config, sandbox_stripe):
    return create_app(with_config(config, stripe_publishable_key="pk_test_fake_publishable_key"))


def meanwhile(stripe_api, sandbox_stripe, method: str, path: str, happen, *, times: int = 1) -> None:
    """The next `times` calls `method path` (a regex after /v1) find that `happen()` just took place."""
    left = [times]

    def callback(request):
        if left[0] > 0:
            left[0] -= 1
            happen()
        parts = urlsplit(request.url)
        params = request.body if request.method == "POST" else parts.query
        status, body = sandbox_stripe.handle(request.method, parts.path, params or "", dict(request.headers))
        return status, {}, json.dumps(body)

    stripe_api.add_callback(method, re.compile(re.escape(STRIPE_API) + "/v1" + path + r"(\?.*)?\Z"), callback=callback)


def statuses(sandbox_stripe) -> dict[str, str]:
    return {s["id"]: s["status"] for s, _ in sandbox_stripe.fake.state.all("subscription")}


@pytest.mark.parametrize("route", ["/stripe/checkout-session", "/stripe/payment-sheet", "/stripe/portal-session",
                                   "/stripe/subscription/cancel", "/stripe/subscription/resume", "/stripe/customer",
                                   "/stripe/checkout-session/cs_test_x", "/stripe/subscription", "/stripe/prices"])
def test_a_browsers_preflight_is_answered_on_every_route(config, sandbox_stripe, route):
    client = create_app(with_config(config, cors_origins=("https://app.tatame.example",))).test_client()
    answer = client.options(route, headers={"Origin": "https://app.tatame.example",
                                            "Access-Control-Request-Method": "POST",
                                            "Access-Control-Request-Headers": "authorization,content-type"})
    assert answer.status_code in (200, 204), answer.get_data(as_text=True)
    assert answer.headers["Access-Control-Allow-Origin"] == "https://app.tatame.example"


def test_a_replaced_sheet_can_no_longer_be_paid(app, auth_headers, sandbox_stripe):
    client, auth = app.test_client(), auth_headers("user_replaced")
    first = client.post("/stripe/payment-sheet", json={"price_id": MONTHLY}, headers=auth).json["data"]
    assert client.post("/stripe/payment-sheet", json={"price_id": YEARLY}, headers=auth).status_code == 201
    with pytest.raises(Exception, match="void"):
        sandbox_stripe.confirm_intent(first["client_secret"])  # the phone still holds the first sheet
    replaced = sandbox_stripe.fake.resolve("subscription", first["subscription"])
    assert replaced["status"] in ("canceled", "incomplete_expired")
    assert sandbox_stripe.fake.resolve("invoice", replaced["latest_invoice"])["status"] == "void"


@pytest.mark.parametrize("then", ["/stripe/checkout-session", "/stripe/payment-sheet"])
@pytest.mark.parametrize("moment", ["before the re-read", "before the void"])
def test_a_leftover_paid_meanwhile_blocks_and_is_never_canceled(app, auth_headers, sandbox_stripe, stripe_api,
                                                                 then, moment):
    client, auth = app.test_client(), auth_headers(f"user_paid_meanwhile_{then[8:12]}_{moment[-4:]}")
    sub = client.post("/stripe/payment-sheet", json={"price_id": MONTHLY}, headers=auth).json["data"]["subscription"]
    invoice = sandbox_stripe.fake.resolve("subscription", sub)["latest_invoice"]
    path = f"/subscriptions/{sub}" if moment == "before the re-read" else f"/invoices/{invoice}/void"
    meanwhile(stripe_api, sandbox_stripe, "GET" if "re-read" in moment else "POST", re.escape(path),
              lambda: sandbox_stripe.pay_invoice(sub))  # the phone's sheet confirmed just now
    answer = client.post(then, json={"price_id": YEARLY}, headers=auth)
    assert answer.status_code == 409, answer.json
    assert answer.json["error"]["details"] == {"subscription": sub, "status": "active", "reason": "subscribed"}
    assert statuses(sandbox_stripe)[sub] == "active" and payable(sandbox_stripe) == []


def test_a_checkout_paid_while_the_app_asks_for_a_sheet_blocks_the_sheet(app, auth_headers, sandbox_stripe,
                                                                         stripe_api):
    client, auth = app.test_client(), auth_headers("user_two_paths")
    session = client.post("/stripe/checkout-session", json={"price_id": MONTHLY}, headers=auth).json["data"]
    meanwhile(stripe_api, sandbox_stripe, "GET", re.escape("/checkout/sessions"),
              lambda: sandbox_stripe.complete_checkout_session(session["id"]))  # the web tab pays now
    sheet = client.post("/stripe/payment-sheet", json={"price_id": YEARLY}, headers=auth)
    assert sheet.status_code == 409 and sheet.json["error"]["details"]["reason"] == "subscribed"
    assert list(statuses(sandbox_stripe).values()) == ["active"] and payable(sandbox_stripe) == []


def test_a_subscription_stored_by_a_webhook_mid_purchase_closes_what_we_made(app, auth_headers, sandbox_stripe,
                                                                             stripe_api, signed_webhook):
    """The webhook found our claim still pending (nothing to close yet); the purchase closes itself."""
    client, auth = app.test_client(), auth_headers("user_mid")
    customer, _ = app.extensions["tatame"].customers.get_or_create("user_mid")
    webhooks = app.extensions["tatame"].webhooks

    def dashboard_sale():
        dashboard_subscription(sandbox_stripe, customer["id"], YEARLY)
        for event in sandbox_stripe.events():
            webhooks.process(event)

    meanwhile(stripe_api, sandbox_stripe, "POST", re.escape("/checkout/sessions"), dashboard_sale)
    answer = client.post("/stripe/checkout-session", json={"price_id": MONTHLY}, headers=auth)
    assert answer.status_code == 409 and answer.json["error"]["details"]["reason"] == "subscribed"
    deliver_all(client, signed_webhook, sandbox_stripe.events())
    assert payable(sandbox_stripe) == []


def test_a_lease_that_ran_out_during_a_slow_purchase_leaves_one_payable(config, auth_headers, sandbox_stripe,
                                                                        stripe_api):
    app = create_app(with_config(config, stripe_publishable_key="pk_test_fake_publishable_key",
                                 purchase_lease_seconds=0.3, customer_wait_seconds=0.2))
    client, auth = app.test_client(), auth_headers("user_slow")
    app.extensions["tatame"].customers.get_or_create("user_slow")
    meanwhile(stripe_api, sandbox_stripe, "POST", re.escape("/subscriptions"), lambda: time.sleep(0.8))
    answers = {}
    slow = threading.Thread(target=lambda: answers.setdefault("slow", client.post(
        "/stripe/payment-sheet", json={"price_id": MONTHLY}, headers=auth)))
    slow.start()
    time.sleep(0.45)  # the slow one's lease has run out: this request takes the slot over
    answers["other"] = client.post("/stripe/payment-sheet", json={"price_id": YEARLY}, headers=auth)
    slow.join()
    codes = sorted((answers["slow"].status_code, answers["other"].status_code))
    assert codes == [201, 409], [a.json for a in answers.values()]
    loser = next(a for a in answers.values() if a.status_code == 409)
    assert loser.json["error"]["code"] == "PURCHASE_IN_PROGRESS"
    assert len(payable(sandbox_stripe)) == 1


@pytest.mark.parametrize("odd", [
    {"created": "yesterday"}, {"created": [1]}, {"current_period_end": {"x": 1}},
    {"items": {"data": [{"price": {"id": "price_x", "product": 7}}]}}, {"items": {"data": [{"quantity": {"n": 1}}]}},
    {"trial_end": [1]}, {"canceled_at": "soon"}, {"customer": {"id": "cus_x", "metadata": {"a": "b"}}},
])
def test_a_deletion_stripe_forgot_is_stored_canceled_whatever_else_its_object_says(
        app, auth_headers, sandbox_stripe, signed_webhook, stripe_api, odd):
    client, auth = app.test_client(), auth_headers("user_forgotten")
    sub = client.post("/stripe/payment-sheet", json={"price_id": MONTHLY}, headers=auth).json["data"]["subscription"]
    sandbox_stripe.pay_invoice(sub)
    deliver_all(client, signed_webhook, sandbox_stripe.events())
    stripe_api.add("GET", re.compile(re.escape(f"{STRIPE_API}/v1/subscriptions/{sub}") + r"(\?.*)?\Z"), status=404,
                   json={"error": {"type": "invalid_request_error", "code": "resource_missing", "message": "No such"}})
    obj = {"id": sub, "object": "subscription", "customer": sandbox_stripe.fake.resolve("subscription", sub)["customer"],
           "status": "canceled", "metadata": {"clerk_user_id": "user_forgotten"}, **odd}
    body, headers = signed_webhook(make_event("customer.subscription.deleted", obj))
    answer = client.post("/webhooks/stripe", data=body, headers=headers)
    assert answer.status_code in (200, 400), answer.json
    if answer.status_code == 200:
        membership = client.get("/stripe/subscription", headers=auth).json["data"]
        assert (membership["status"], membership["access"]) == ("canceled", False)
        assert membership["subscription"]["price"] == MONTHLY  # the stored row, only its status changed
