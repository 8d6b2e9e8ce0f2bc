"""The local Checkout and portal pages (sandbox/blueprint.py): over the sandbox's Stripe only, never in production."""

import re
from dataclasses import replace

import pytest

from app import create_app
from config import Config
from sandbox import credentials
from sandbox.blueprint import EXTENSION
from tests.conftest import sandboxed_app

MONTHLY, YEARLY, KIDS = "price_demo_unlimited_monthly", "price_demo_unlimited_yearly", "price_demo_kids_monthly"


@pytest.fixture
def dev_app(tmp_path):
    config = Config.from_env({"INSTANCE_PATH": str(tmp_path), "RATE_LIMIT_ENABLED": "false", "TRIAL_DAYS": "0"})
    return sandboxed_app(config)


@pytest.fixture
def sandbox_stripe(dev_app):
    return dev_app.extensions[EXTENSION]


@pytest.fixture
def member(dev_app):
    token = credentials.load_or_create(dev_app.extensions["tatame"].config.instance_path).token("user_pages")
    return {"Authorization": f"Bearer {token}"}


def local_path(url: str) -> str:
    assert url.startswith("http://localhost:3000/dev/"), url
    return url.removeprefix("http://localhost:3000")


def start_checkout(client, member, price=MONTHLY) -> dict:
    answer = client.post("/stripe/checkout-session", json={"price_id": price}, headers=member)
    assert answer.status_code == 201, answer.json
    return answer.json["data"]


def subscribe(client, member, sandbox_stripe, price=MONTHLY) -> str:
    session = start_checkout(client, member, price)
    sandbox_stripe.complete_checkout_session(session["id"])
    return sandbox_stripe.resolve("checkout.session", session["id"])["subscription"]


def open_portal(client, member) -> str:
    return local_path(client.post("/stripe/portal-session", json={}, headers=member).json["data"]["url"])


# --- where the pages exist ---------------------------------------------------------------------------------
def test_pages_exist_only_over_the_sandbox_stripe(dev_app, config):
    assert any(rule.rule.startswith("/dev/") for rule in dev_app.url_map.iter_rules())
    app = sandboxed_app(config)
    assert not any(rule.rule.startswith("/dev/") for rule in app.url_map.iter_rules())  # a real Stripe key


def test_a_production_app_has_no_local_pages(config, tmp_path):
    from app.stores.sqlite import SQLiteStore

    app = create_app(replace(config, app_env="production"), store=SQLiteStore(str(tmp_path / "p.sqlite3")))
    assert not any(rule.rule.startswith("/dev") for rule in app.url_map.iter_rules())
    for method, path in (("GET", "/dev/checkout/cs_test_1"), ("POST", "/dev/checkout/cs_test_1/pay"),
                         ("GET", "/dev/portal/bps_1")):
        answer = app.test_client().open(path, method=method)
        assert answer.status_code == 404 and answer.json["error"]["code"] == "NOT_FOUND"


def test_the_sandbox_stripe_keeps_its_nowhere_urls_without_a_page_base():
    from sandbox.stripe import SandboxStripe

    fake = SandboxStripe()
    status, customer = fake.handle("POST", "/v1/customers", "", {"Authorization": "Bearer sk_test_x"})
    status, portal = fake.handle("POST", "/v1/billing_portal/sessions", f"customer={customer['id']}",
                                 {"Authorization": "Bearer sk_test_x"})
    assert status == 200 and portal["url"].startswith("https://billing.sandbox.invalid/")


# --- Checkout ------------------------------------------------------------------------------------------------
def test_the_checkout_page_shows_the_plan_and_price(dev_app, member):
    client = dev_app.test_client()
    page = client.get(local_path(start_checkout(client, member, "price_demo_kids_quarterly")["url"]))
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert "Kids Program" in page.text and "R$ 429.00 every 3 months" in page.text
    assert "Pay with a test card" in page.text and 'href="http://localhost:3001/billing/cancel"' in page.text
    assert "trial" not in page.text


def test_a_trial_is_shown(tmp_path):
    app = sandboxed_app(Config.from_env({"INSTANCE_PATH": str(tmp_path), "RATE_LIMIT_ENABLED": "false",
                                      "TRIAL_DAYS": "14"}))
    client = app.test_client()
    member = {"Authorization": f"Bearer {credentials.load_or_create(tmp_path).token('user_new')}"}
    page = client.get(local_path(start_checkout(client, member)["url"]))
    assert "14-day free trial" in page.text and "R$ 0.00" in page.text and "R$ 249.00 / month" in page.text


def test_paying_completes_the_session_and_goes_to_the_success_url(dev_app, member, sandbox_stripe):
    client = dev_app.test_client()
    session = start_checkout(client, member)
    paid = client.post(local_path(session["url"]) + "/pay")
    assert paid.status_code == 303
    assert paid.headers["Location"] == f"http://localhost:3001/billing/success?session_id={session['id']}"
    assert sandbox_stripe.resolve("checkout.session", session["id"])["status"] == "complete"
    assert [e["data"]["object"]["id"] for e in sandbox_stripe.events("checkout.session.completed")] == [session["id"]]
    status = client.get(f"/stripe/checkout-session/{session['id']}", headers=member).json["data"]
    assert status["status"] == "complete" and status["subscription"].startswith("sub_")
    again = client.get(local_path(session["url"]))
    assert "complete" in again.text and "Pay with a test card" not in again.text
    twice = client.post(local_path(session["url"]) + "/pay")
    assert twice.status_code == 409 and len(sandbox_stripe.events("checkout.session.completed")) == 1


def test_a_declined_card_leaves_the_session_open(dev_app, member, sandbox_stripe):
    client = dev_app.test_client()
    session = start_checkout(client, member)
    declined = client.post(local_path(session["url"]) + "/decline")
    assert declined.status_code == 402 and "Your card was declined" in declined.text
    assert "Pay with a test card" in declined.text
    assert sandbox_stripe.resolve("checkout.session", session["id"])["status"] == "open"
    assert sandbox_stripe.events("checkout.session.completed") == []


def test_an_expired_session_cannot_be_paid(dev_app, member, sandbox_stripe):
    client = dev_app.test_client()
    session = start_checkout(client, member)
    sandbox_stripe.expire_checkout_session(session["id"])
    page = client.get(local_path(session["url"]))
    assert "expired" in page.text and "Pay with a test card" not in page.text
    paid = client.post(local_path(session["url"]) + "/pay")
    assert paid.status_code == 409 and sandbox_stripe.events("checkout.session.completed") == []


@pytest.mark.parametrize("path", ["/dev/checkout/cs_test_demo_nobody", "/dev/checkout/cs%20x",
                                  "/dev/checkout/cs_%3Cb%3E", "/dev/portal/bps_demo_nobody",
                                  "/dev/portal/bps%27x"])
def test_unknown_or_malformed_sessions_are_a_404_page(dev_app, path):
    for method, suffix in (("GET", ""), ("POST", "/pay" if "checkout" in path else "/cancel")):
        answer = dev_app.test_client().open(path + suffix, method=method)
        assert answer.status_code == 404 and answer.mimetype == "text/html" and "No such" in answer.text
        assert "<b>" not in answer.text


# --- the portal ----------------------------------------------------------------------------------------------
def test_the_portal_shows_the_subscription_and_escapes_what_it_shows(dev_app, member, sandbox_stripe):
    client = dev_app.test_client()
    client.post("/stripe/customer", json={"name": "<b>Ana</b> & co"}, headers=member)
    subscribe(client, member, sandbox_stripe)
    page = client.get(open_portal(client, member))
    assert page.status_code == 200
    assert "&lt;b&gt;Ana&lt;/b&gt; &amp; co" in page.text and "<b>Ana" not in page.text
    assert "Unlimited Jiu-Jitsu, R$ 249.00 / month" in page.text and "active" in page.text
    assert re.search(r"Renews</dt>\s*<dd>\d{1,2} \w{3} \d{4}</dd>", page.text)
    assert "Cancel at period end" in page.text and 'href="http://localhost:3001/billing"' in page.text
    offered = set(re.findall(r'name="price" value="([^"]+)"', page.text))
    assert MONTHLY not in offered and {YEARLY, KIDS} <= offered and "price_demo_legacy_monthly" not in offered


def test_cancel_then_resume_from_the_portal(dev_app, member, sandbox_stripe):
    client = dev_app.test_client()
    subscription_id = subscribe(client, member, sandbox_stripe)
    portal = open_portal(client, member)
    canceled = client.post(portal + "/cancel")
    assert canceled.status_code == 303 and canceled.headers["Location"] == f"{portal}?done=canceled"
    assert sandbox_stripe.resolve("subscription", subscription_id)["cancel_at_period_end"] is True
    page = client.get(canceled.headers["Location"]).text
    assert "Resume plan" in page and "Ends" in page
    assert client.post(portal + "/resume").status_code == 303
    assert sandbox_stripe.resolve("subscription", subscription_id)["cancel_at_period_end"] is False
    changes = [e["data"]["previous_attributes"] for e in sandbox_stripe.events("customer.subscription.updated")]
    assert [c["cancel_at_period_end"] for c in changes] == [False, True]


def test_switching_plan_changes_the_item_price_as_the_portal_does(dev_app, member, sandbox_stripe):
    client = dev_app.test_client()
    subscription_id = subscribe(client, member, sandbox_stripe)
    before = sandbox_stripe.resolve("subscription", subscription_id)
    switched = client.post(open_portal(client, member) + "/switch", data={"price": YEARLY})
    assert switched.status_code == 303
    after = sandbox_stripe.resolve("subscription", subscription_id)
    item = after["items"]["data"][0]
    assert item["id"] == before["items"]["data"][0]["id"] and item["price"]["id"] == YEARLY
    assert item["current_period_end"] > before["items"]["data"][0]["current_period_end"]  # a year, not a month
    event = sandbox_stripe.events("customer.subscription.updated")[-1]
    assert event["data"]["object"]["items"]["data"][0]["price"]["id"] == YEARLY
    assert event["data"]["previous_attributes"]["items"]["data"][0]["price"]["id"] == MONTHLY
    assert "R$ 2,490.00 / year" in client.get(switched.headers["Location"]).text


@pytest.mark.parametrize("price", ["price_demo_legacy_monthly", "price_demo_enrolment", "price_nobody", ""])
def test_only_the_offered_plans_can_be_chosen(dev_app, member, sandbox_stripe, price):
    client = dev_app.test_client()
    subscription_id = subscribe(client, member, sandbox_stripe)
    refused = client.post(open_portal(client, member) + "/switch", data={"price": price})
    assert refused.status_code == 400 and "Choose one of the plans offered" in refused.text
    assert sandbox_stripe.resolve("subscription", subscription_id)["items"]["data"][0]["price"]["id"] == MONTHLY


def test_a_portal_without_a_subscription_offers_nothing_to_change(dev_app, member, sandbox_stripe):
    client = dev_app.test_client()
    portal = open_portal(client, member)
    page = client.get(portal)
    assert page.status_code == 200 and "No subscription yet" in page.text and "Cancel at period end" not in page.text
    assert client.post(portal + "/cancel").status_code == 409
    assert sandbox_stripe.events("customer.subscription.updated") == []
