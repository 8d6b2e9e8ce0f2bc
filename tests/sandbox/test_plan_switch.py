"""The sandbox's portal plan switch (sandbox/stripe/plan_switch.py) and its local page URLs."""

import pytest

from sandbox.stripe import SandboxStripe
from sandbox.stripe.faults import StripeFault

KEY = {"Authorization": "Bearer sk_test_x"}


def subscribed(fake, price="price_demo_unlimited_monthly", trial_days=None) -> dict:
    _, customer = fake.handle("POST", "/v1/customers", "", KEY)
    params = f"customer={customer['id']}&mode=subscription&line_items[0][price]={price}&line_items[0][quantity]=1"
    if trial_days:
        params += f"&subscription_data[trial_period_days]={trial_days}"
    _, session = fake.handle("POST", "/v1/checkout/sessions", params, KEY)
    return fake.resolve("subscription", fake.complete_checkout_session(session["id"])["subscription"])


def test_the_same_interval_keeps_the_period():
    fake = SandboxStripe()
    before = subscribed(fake)
    after = fake.switch_subscription_price(before["id"], "price_demo_kids_monthly")
    assert after["items"]["data"][0]["price"]["id"] == "price_demo_kids_monthly"
    assert after["items"]["data"][0]["current_period_end"] == before["items"]["data"][0]["current_period_end"]
    assert fake.resolve("subscription", before["id"]) == after


def test_another_interval_restarts_the_period_and_moves_a_scheduled_cancel():
    clock = [1_800_000_000.0]
    fake = SandboxStripe(clock=lambda: clock[0])
    before = subscribed(fake)
    fake.handle("POST", f"/v1/subscriptions/{before['id']}", "cancel_at_period_end=true", KEY)
    clock[0] += 10 * 86400
    after = fake.switch_subscription_price(before["id"], "price_demo_kids_quarterly")
    item = after["items"]["data"][0]
    assert item["current_period_start"] == after["billing_cycle_anchor"] == int(clock[0])
    assert item["current_period_end"] > before["items"]["data"][0]["current_period_end"]
    assert after["cancel_at"] == item["current_period_end"]


def test_a_trial_keeps_its_period():
    fake = SandboxStripe()
    before = subscribed(fake, trial_days=7)
    after = fake.switch_subscription_price(before["id"], "price_demo_unlimited_yearly")
    assert after["status"] == "trialing" and after["trial_end"] == before["trial_end"]
    assert after["items"]["data"][0]["current_period_end"] == before["trial_end"]


def test_the_same_price_records_nothing():
    fake = SandboxStripe()
    before = subscribed(fake)
    updates = len(fake.events("customer.subscription.updated"))
    fake.switch_subscription_price(before["id"], "price_demo_unlimited_monthly")
    assert len(fake.events("customer.subscription.updated")) == updates


@pytest.mark.parametrize("price", ["price_demo_enrolment", "price_demo_legacy_monthly", "price_nobody"])
def test_what_a_subscription_cannot_take_is_refused(price):
    fake = SandboxStripe()
    before = subscribed(fake)
    with pytest.raises(StripeFault):
        fake.switch_subscription_price(before["id"], price)
    assert fake.resolve("subscription", before["id"]) == before


def test_an_ended_or_unknown_subscription_is_refused():
    fake = SandboxStripe()
    ended = fake.delete_subscription(subscribed(fake)["id"])
    with pytest.raises(StripeFault, match="canceled"):
        fake.switch_subscription_price(ended["id"], "price_demo_kids_monthly")
    with pytest.raises(StripeFault) as unknown:
        fake.switch_subscription_price("sub_nobody", "price_demo_kids_monthly")
    assert unknown.value.status == 404


def test_a_page_base_puts_local_urls_in_sessions():
    fake = SandboxStripe(page_base="http://localhost:4000/dev/")
    _, customer = fake.handle("POST", "/v1/customers", "", KEY)
    _, session = fake.handle("POST", "/v1/checkout/sessions", f"customer={customer['id']}&mode=payment"
                             "&line_items[0][price]=price_demo_enrolment&line_items[0][quantity]=1", KEY)
    _, portal = fake.handle("POST", "/v1/billing_portal/sessions", f"customer={customer['id']}", KEY)
    assert session["url"] == f"http://localhost:4000/dev/checkout/{session['id']}"
    assert portal["url"] == f"http://localhost:4000/dev/portal/{portal['id']}"
