"""The sandbox's clock: what Stripe does while time passes (renewals, retries, trials, cancellations, expiries),
and the payment sheet confirmed with a test card."""

import pytest

from sandbox.stripe import SandboxStripe
from sandbox.stripe.clock import RETRY_DAYS
from sandbox.stripe.faults import StripeFault

KEY = {"Authorization": "Bearer sk_test_fake_key_for_tests_only"}
DAY = 86400
START = 1_800_000_000.0
CHECKOUT = "mode=subscription&line_items[0][price]=price_demo_unlimited_monthly&line_items[0][quantity]=1"
SUBSCRIBE = ("items[0][price]=price_demo_unlimited_monthly&payment_behavior=default_incomplete"
             "&expand[0]=latest_invoice.confirmation_secret&expand[1]=pending_setup_intent")


def call(fake, method, path, params="", status=200):
    answer_status, body = fake.handle(method, path, params, KEY)
    assert answer_status == status, body
    return body


@pytest.fixture
def fake():
    return SandboxStripe(clock=lambda: START)  # real time stands still: only the clock's offset moves


def customer(fake):
    return call(fake, "POST", "/v1/customers", "metadata[clerk_user_id]=user_1")["id"]


def bought(fake, extra=""):
    """A subscription paid through Checkout (active, or trialing with a saved card)."""
    session = call(fake, "POST", "/v1/checkout/sessions", f"customer={customer(fake)}&{CHECKOUT}{extra}")
    return fake.complete_checkout_session(session["id"])["subscription"]


def sub(fake, sub_id):
    return call(fake, "GET", f"/v1/subscriptions/{sub_id}", "expand[0]=latest_invoice")


def period(subscription):
    item = subscription["items"]["data"][0]
    return item["current_period_start"], item["current_period_end"]


def recorded(fake):
    """Every event ever recorded, in order: the delivery queue keeps them past the Events API's 30 days."""
    import json

    return [json.loads(body) for (body,) in fake.state.query("SELECT body FROM stripe_deliveries ORDER BY seq")]


def types_since(fake, count):
    return [e["type"] for e in recorded(fake)[count:]]


def test_a_renewal_is_invoiced_paid_and_advances_the_items_period(fake):
    sub_id = bought(fake)
    start, end = period(sub(fake, sub_id))
    seen = len(recorded(fake))
    happened = fake.advance_clock(31 * DAY)
    assert len(happened) == 1 and "renewed" in happened[0] and fake.now() == START + 31 * DAY
    renewed = sub(fake, sub_id)
    assert renewed["status"] == "active" and period(renewed)[0] == end and period(renewed)[1] > end + 27 * DAY
    invoice = renewed["latest_invoice"]
    assert (invoice["billing_reason"], invoice["status"], invoice["created"]) == ("subscription_cycle", "paid", end)
    assert [t for t in types_since(fake, seen) if not t.startswith(("payment_intent", "charge"))] == [
        "invoice.created", "invoice.finalized", "invoice.paid", "invoice.payment_succeeded",
        "customer.subscription.updated"]
    updated = fake.events("customer.subscription.updated")[-1]
    assert "items" in updated["data"]["previous_attributes"] and updated["created"] == end


def test_a_declined_renewal_goes_past_due_is_retried_and_then_canceled(fake):
    sub_id = bought(fake)
    end = period(sub(fake, sub_id))[1]
    fake.declines = True
    fake.advance_clock(end - fake.now() + 3600)
    failing = sub(fake, sub_id)
    assert failing["status"] == "past_due" and failing["latest_invoice"]["status"] == "open"
    assert failing["latest_invoice"]["next_payment_attempt"] == end + RETRY_DAYS[0] * DAY
    failures = [e["created"] for e in fake.events("invoice.payment_failed")]
    assert failures == [end]
    fake.advance_clock(RETRY_DAYS[-1] * DAY)
    failures = [e["created"] for e in fake.events("invoice.payment_failed")]
    assert failures == [end] + [end + days * DAY for days in RETRY_DAYS]
    ended = sub(fake, sub_id)
    assert ended["status"] == "canceled" and ended["ended_at"] == end + RETRY_DAYS[-1] * DAY
    assert ended["cancellation_details"]["reason"] == "payment_failed"
    assert len(fake.events("customer.subscription.deleted")) == 1
    assert ended["latest_invoice"]["next_payment_attempt"] is None
    assert len(fake.events("payment_intent.payment_failed")) == 1 + len(RETRY_DAYS)
    fake.advance_clock(60 * DAY)
    assert [e for e in recorded(fake) if e["type"] == "invoice.created" and e["created"] > end] == []


def test_a_retry_that_succeeds_makes_it_active_again(fake):
    sub_id = bought(fake)
    end = period(sub(fake, sub_id))[1]
    fake.declines = True
    fake.advance_clock(end - fake.now() + 60)
    fake.declines = False
    fake.advance_clock(RETRY_DAYS[0] * DAY)
    recovered = sub(fake, sub_id)
    assert recovered["status"] == "active" and recovered["latest_invoice"]["status"] == "paid"
    assert fake.events("invoice.paid")[-1]["created"] == end + RETRY_DAYS[0] * DAY
    assert len(fake.events("invoice.payment_failed")) == 1


def test_a_trial_warns_three_days_before_then_its_first_invoice_is_paid(fake):
    sub_id = bought(fake, "&subscription_data[trial_period_days]=14")
    trial_end = sub(fake, sub_id)["trial_end"]
    fake.advance_clock(10 * DAY)
    assert fake.events("customer.subscription.trial_will_end") == [] and sub(fake, sub_id)["status"] == "trialing"
    fake.advance_clock(1 * DAY)
    notices = fake.events("customer.subscription.trial_will_end")
    assert [e["created"] for e in notices] == [trial_end - 3 * DAY] and sub(fake, sub_id)["status"] == "trialing"
    fake.advance_clock(3 * DAY)
    active = sub(fake, sub_id)
    assert active["status"] == "active" and period(active)[0] == trial_end
    assert active["latest_invoice"]["status"] == "paid" and active["latest_invoice"]["amount_paid"] > 0
    assert len(fake.events("customer.subscription.trial_will_end")) == 1


def test_a_trial_without_a_card_goes_past_due_and_with_one_saved_it_is_charged():
    for save_card in (False, True):
        fake = SandboxStripe(clock=lambda: START)
        created = call(fake, "POST", "/v1/subscriptions",
                       f"customer={customer(fake)}&{SUBSCRIBE}&trial_period_days=7")
        if save_card:
            line = fake.confirm_intent(created["pending_setup_intent"]["client_secret"])
            assert "trialing with a saved card" in line
            saved = sub(fake, created["id"])
            assert saved["status"] == "trialing" and saved["default_payment_method"].startswith("pm_")
            assert saved["pending_setup_intent"] is None and fake.events("setup_intent.succeeded")
        fake.advance_clock(8 * DAY)
        assert sub(fake, created["id"])["status"] == ("active" if save_card else "past_due")


def test_cancel_at_period_end_ends_it_at_the_end(fake):
    sub_id = bought(fake)
    end = period(sub(fake, sub_id))[1]
    call(fake, "POST", f"/v1/subscriptions/{sub_id}", "cancel_at_period_end=true")
    fake.advance_clock(end - fake.now() - 1)
    assert sub(fake, sub_id)["status"] == "active"
    happened = fake.advance_clock(DAY)
    ended = sub(fake, sub_id)
    assert ended["status"] == "canceled" and ended["ended_at"] == end and "canceled at period end" in happened[0]
    assert [e["created"] for e in fake.events("customer.subscription.deleted")] == [end]
    assert [e for e in recorded(fake) if e["type"] == "invoice.created" and e["created"] > START] == []


def test_open_checkout_sessions_expire_when_their_time_comes(fake):
    session = call(fake, "POST", "/v1/checkout/sessions", f"customer={customer(fake)}&{CHECKOUT}")
    fake.advance_clock(2 * DAY)
    expired = fake.events("checkout.session.expired")
    assert [(e["data"]["object"]["id"], e["created"]) for e in expired] == [(session["id"], session["expires_at"])]
    assert call(fake, "GET", f"/v1/checkout/sessions/{session['id']}")["status"] == "expired"


def test_ninety_days_at_once_happen_in_time_order(fake):
    monthly = bought(fake)
    trial = bought(fake, "&subscription_data[trial_period_days]=14")
    call(fake, "POST", "/v1/checkout/sessions", f"customer={customer(fake)}&{CHECKOUT}")
    seen = len(recorded(fake))
    happened = fake.advance_clock(90 * DAY)  # 2027-01-15 to 2027-04-15: both subscriptions interleave
    created = [e["created"] for e in recorded(fake)[seen:]]
    assert created == sorted(created) and created[0] == START + DAY and created[-1] == START + 90 * DAY
    assert [line[:16] for line in happened] == sorted(line[:16] for line in happened)
    assert [line[:10] for line in happened if monthly in line] == ["2027-02-15", "2027-03-15", "2027-04-15"]
    assert [line[:10] for line in happened if trial in line] == ["2027-01-26", "2027-01-29", "2027-02-28",
                                                                 "2027-03-28"]
    assert sub(fake, trial)["status"] == "active" and sub(fake, monthly)["status"] == "active"
    assert [e["type"] for e in recorded(fake)[seen:]][0] == "checkout.session.expired"
    assert fake.events("checkout.session.expired") == []  # a day old after 90 days: past the Events API's 30


def test_the_clock_and_the_decline_switch_are_shared_through_the_file(tmp_path):
    path = str(tmp_path / "sandbox-stripe.sqlite3")
    one, two = SandboxStripe(path), SandboxStripe(path)
    one.advance_clock(5 * DAY)
    one.declines = True
    assert two.offset == 5 * DAY and two.declines is True and abs(two.now() - one.now()) <= 1
    two.declines = False
    assert one.declines is False


def test_paying_a_payment_sheet_first_invoice_and_a_one_time_intent(fake):
    created = call(fake, "POST", "/v1/subscriptions", f"customer={customer(fake)}&{SUBSCRIBE}")
    secret = created["latest_invoice"]["confirmation_secret"]["client_secret"]
    fake.declines = True
    assert "declined" in fake.confirm_intent(secret)
    assert sub(fake, created["id"])["status"] == "incomplete" and fake.events("invoice.payment_failed")
    assert sub(fake, created["id"])["latest_invoice"]["next_payment_attempt"] is None  # a first invoice: no retries
    fake.declines = False
    assert "active" in fake.confirm_intent(secret)
    assert sub(fake, created["id"])["status"] == "active"
    with pytest.raises(StripeFault):
        fake.confirm_intent(secret)  # already paid
    intent = call(fake, "POST", "/v1/payment_intents", "amount=9900&currency=brl")
    assert "succeeded" in fake.confirm_intent(intent["client_secret"])
    assert fake.events("payment_intent.succeeded")[-1]["data"]["object"]["id"] == intent["id"]
    with pytest.raises(StripeFault) as refused:
        fake.confirm_intent(intent["id"] + "_secret_wrong")
    assert refused.value.status == 404
