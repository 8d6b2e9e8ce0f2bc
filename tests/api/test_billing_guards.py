"""What is sold, what a money route accepts, what one member may cost Stripe, and what a purchase made
elsewhere does to open ones (issue 17, findings 4 to 7 and 10)."""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from app import create_app
from sandbox.stripe import SandboxStripe
from tests.api.test_billing import deliver_all
from tests.conftest import STRIPE_API, with_config
from tests.sandbox_stripe import Observed, register
from tests.servers import parallel

MONTHLY, YEARLY = "price_demo_unlimited_monthly", "price_demo_unlimited_yearly"
CATALOG = Path(__file__).resolve().parents[2] / "sandbox" / "stripe" / "catalog.json"


@pytest.fixture
def app(config, sandbox_stripe):
    return create_app(with_config(config, stripe_publishable_key="pk_test_fake_publishable_key"))


# --- finding 4: only what the catalog sells -----------------------------------------------------------------
@pytest.fixture
def retired_product_sandbox_stripe(stripe_api):
    """A catalog whose product was archived while its prices stayed active (the dashboard allows it)."""
    catalog = json.loads(CATALOG.read_text())
    for product in catalog["products"]:
        if product["id"] in ("prod_demo_unlimited", "prod_demo_enrolment"):
            product["active"] = False
    observed = Observed(SandboxStripe(catalog_source=catalog))
    register(stripe_api, observed)
    return observed


@pytest.mark.parametrize("route", ["/stripe/checkout-session", "/stripe/payment-sheet"])
@pytest.mark.parametrize("price", [MONTHLY, "price_demo_enrolment"])
def test_an_active_price_of_an_archived_product_is_not_sold(config, auth_headers, retired_product_sandbox_stripe,
                                                            route, price):
    client = create_app(with_config(config, stripe_publishable_key="pk_test_fake_publishable_key")).test_client()
    refused = client.post(route, json={"price_id": price}, headers=auth_headers())
    assert refused.status_code == 400 and refused.json["error"]["details"] == {
        "price_id": ["This price is no longer sold."]}
    assert not [c for c in retired_product_sandbox_stripe.requests if c.method == "POST"
                and c.path in ("/v1/checkout/sessions", "/v1/subscriptions", "/v1/payment_intents")]


# --- finding 7: cancel and resume take no body ------------------------------------------------------------------
@pytest.mark.parametrize("route", ["/stripe/subscription/cancel", "/stripe/subscription/resume"])
def test_cancel_and_resume_refuse_a_body_that_asks_for_something(app, auth_headers, sandbox_stripe, route):
    client, auth = app.test_client(), auth_headers("user_bodies")
    sub = client.post("/stripe/payment-sheet", json={"price_id": MONTHLY}, headers=auth).json["data"]["subscription"]
    sandbox_stripe.pay_invoice(sub)
    app.extensions["tatame"].subscriptions.refresh(sub)
    refused = client.post(route, json={"subscription": "sub_x", "at_period_end": False}, headers=auth)
    assert refused.status_code == 400 and refused.json["error"]["code"] == "VALIDATION_ERROR"
    assert set(refused.json["error"]["details"]) == {"subscription", "at_period_end"}
    assert sandbox_stripe.fake.resolve("subscription", sub)["cancel_at_period_end"] is False  # nothing was done
    assert client.post(route, json={}, headers=auth).status_code == 200
    assert client.post(route, headers=auth).status_code == 200


# --- finding 6: one member's burst is that member's 429 ---------------------------------------------------------
class SlowStripe(Observed):
    """The sandbox's Stripe answering every call after `delay` seconds, counting calls in flight per customer."""

    def __init__(self, delay: float):
        super().__init__()
        self.delay, self.in_flight, self.most = delay, 0, 0
        self._count = threading.Lock()

    def handle(self, method, path, params, headers):
        with self._count:
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
        try:
            time.sleep(self.delay)
            return super().handle(method, path, params, headers)
        finally:
            with self._count:
                self.in_flight -= 1


@pytest.mark.parametrize("route, ok", [("/stripe/portal-session", 201), ("/stripe/customer", 200)])
def test_a_burst_of_one_member_never_costs_another_member_a_502(config, auth_headers, stripe_api, route, ok):
    slow = SlowStripe(0.3)
    register(stripe_api, slow)
    app = create_app(with_config(config, rate_limit_enabled=True, stripe_max_concurrency=4,
                                 stripe_in_flight_per_user=2, rate_limit_purchase="100/minute",
                                 rate_limit_user="1000/minute"))
    client = app.test_client()
    client.post("/stripe/customer", headers=auth_headers("user_burst"))
    client.post("/stripe/customer", headers=auth_headers("user_calm"))

    def tap(i):
        if i == 0:
            time.sleep(0.1)  # while the burst is in flight
            return "calm", client.post("/stripe/portal-session", headers=auth_headers("user_calm"))
        return "burst", client.post(route, headers=auth_headers("user_burst"))

    answers = parallel(13, tap)
    calm = [a for who, a in answers if who == "calm"]
    burst = [a for who, a in answers if who == "burst"]
    assert [a.status_code for a in calm] == [201]
    assert {a.status_code for a in burst} == {ok, 429} and sum(a.status_code == ok for a in burst) <= 2 * 2
    refused = next(a for a in burst if a.status_code == 429)
    assert refused.json["error"]["code"] == "RATE_LIMITED" and refused.headers["Retry-After"] == "1"
    assert slow.most <= 3  # two of the burst's, and the calm member's


def test_purchases_per_minute_are_bounded_per_member(config, auth_headers, sandbox_stripe):
    app = create_app(with_config(config, rate_limit_enabled=True, rate_limit_purchase="3/minute"))
    client = app.test_client()
    answers = [client.post("/stripe/portal-session", headers=auth_headers("user_many")).status_code
               for _ in range(4)]
    assert answers == [201, 201, 201, 429]
    assert client.post("/stripe/portal-session", headers=auth_headers("user_other")).status_code == 201
    assert client.get("/stripe/subscription", headers=auth_headers("user_many")).status_code == 200


# --- finding 5: a purchase made elsewhere closes the open ones, and a second one is flagged -------------------
def dashboard_subscription(sandbox_stripe, customer_id: str, price: str) -> str:
    """A subscription made in Stripe's dashboard (no metadata of ours), paid."""
    status, sub = sandbox_stripe.fake.handle(
        "POST", "/v1/subscriptions", f"customer={customer_id}&items[0][price]={price}&payment_behavior=default_incomplete",
        {"Authorization": "Bearer sk_test_dashboard_not_a_real_key", "Stripe-Version": "2026-10-28.endive"})
    assert status == 200, sub
    sandbox_stripe.pay_invoice(sub["id"])
    return sub["id"]

def test_a_refused_purchase_request_costs_no_purchase_and_no_turn(config, auth_headers, sandbox_stripe):
    """A body the route refuses never reaches Stripe: it counts against neither the purchase limit nor the
    member's Stripe turns (a turn taken and never given back would lock the member out)."""
    app = create_app(with_config(config, rate_limit_enabled=True, rate_limit_purchase="2/minute",
                                 stripe_in_flight_per_user=1))
    client = app.test_client()
    for _ in range(5):
        refused = client.post("/stripe/checkout-session", json={"price_id": "not a price"},
                              headers=auth_headers("user_typo"))
        assert refused.status_code == 400
    answers = [client.post("/stripe/portal-session", headers=auth_headers("user_typo")).status_code for _ in range(3)]
    assert answers == [201, 201, 429]



def test_a_subscription_made_elsewhere_expires_the_open_checkout(app, auth_headers, sandbox_stripe, signed_webhook):
    client, auth = app.test_client(), auth_headers("user_elsewhere")
    session = client.post("/stripe/checkout-session", json={"price_id": MONTHLY}, headers=auth).json["data"]
    customer = app.extensions["tatame"].store.get_customer_mapping("user_elsewhere").stripe_customer_id
    dashboard_subscription(sandbox_stripe, customer, YEARLY)
    deliver_all(client, signed_webhook, sandbox_stripe.events())
    assert sandbox_stripe.fake.resolve("checkout.session", session["id"])["status"] == "expired"


def test_an_old_session_paid_anyway_is_flagged_loudly(app, auth_headers, sandbox_stripe, signed_webhook, caplog):
    client, auth = app.test_client(), auth_headers("user_paid_twice")
    session = client.post("/stripe/checkout-session", json={"price_id": MONTHLY}, headers=auth).json["data"]
    customer = app.extensions["tatame"].store.get_customer_mapping("user_paid_twice").stripe_customer_id
    before = REGISTRY.get_sample_value("tatame_duplicate_subscriptions_total") or 0
    first = dashboard_subscription(sandbox_stripe, customer, YEARLY)
    second = sandbox_stripe.complete_checkout_session(session["id"])["subscription"]  # before any webhook
    with caplog.at_level("ERROR"):
        deliver_all(client, signed_webhook, sandbox_stripe.events())
    flagged = [r for r in caplog.records if r.levelname == "ERROR" and "usable subscriptions" in r.getMessage()]
    assert flagged and first in flagged[0].getMessage() and second in flagged[0].getMessage()
    assert (REGISTRY.get_sample_value("tatame_duplicate_subscriptions_total") or 0) > before


def test_one_subscription_is_never_flagged(app, auth_headers, sandbox_stripe, signed_webhook, caplog):
    client, auth = app.test_client(), auth_headers("user_once")
    session = client.post("/stripe/checkout-session", json={"price_id": MONTHLY}, headers=auth).json["data"]
    sandbox_stripe.complete_checkout_session(session["id"])
    with caplog.at_level("ERROR"):
        deliver_all(client, signed_webhook, sandbox_stripe.events())
    assert not [r for r in caplog.records if "usable subscriptions" in r.getMessage()]


# --- finding 10: a deletion is final even when Stripe no longer returns the subscription ------------------------
def test_a_deleted_subscription_stripe_no_longer_knows_ends_canceled(app, auth_headers, sandbox_stripe,
                                                                     signed_webhook, stripe_api):
    client, auth = app.test_client(), auth_headers("user_gone")
    sub = client.post("/stripe/payment-sheet", json={"price_id": MONTHLY}, headers=auth).json["data"]["subscription"]
    sandbox_stripe.pay_invoice(sub)
    deliver_all(client, signed_webhook, sandbox_stripe.events())
    assert client.get("/stripe/subscription", headers=auth).json["data"]["access"] is True
    sandbox_stripe.delete_subscription(sub)
    deleted = [e for e in sandbox_stripe.events() if e["type"] == "customer.subscription.deleted"]
    stripe_api.add("GET", re.compile(re.escape(f"{STRIPE_API}/v1/subscriptions/{sub}")), status=404, json={
        "error": {"type": "invalid_request_error", "code": "resource_missing", "message": "No such subscription"}})
    deliver_all(client, signed_webhook, deleted)
    membership = client.get("/stripe/subscription", headers=auth).json["data"]
    assert (membership["status"], membership["access"]) == ("canceled", False)
