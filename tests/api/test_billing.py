"""Billing through the test client, with the sandbox's Stripe at the network edge (StripeGateway + SDK + sandbox)."""

import json
import random

import pytest

from app import create_app
from tests.conftest import with_config
from tests.servers import parallel

MONTHLY, YEARLY, ENROLMENT, LEGACY = ("price_demo_unlimited_monthly", "price_demo_unlimited_yearly",
                                      "price_demo_enrolment", "price_demo_legacy_monthly")


@pytest.fixture
def billing_config(config):
    return with_config(config, stripe_publishable_key="pk_test_fake_publishable_key",
                       billing_redirect_origins=("tatame://",))


@pytest.fixture
def app(billing_config, sandbox_stripe):
    return create_app(billing_config)


def stripe_calls(sandbox_stripe, method=None, path=None):
    return [c for c in sandbox_stripe.requests if (method is None or c.method == method)
            and (path is None or c.path.startswith(path))]


def deliver_all(client, signed_webhook, events):
    for event in events:
        body, headers = signed_webhook(event)
        answer = client.post("/webhooks/stripe", data=body, headers=headers)
        assert answer.status_code == 200, answer.json


def buy(client, auth, sandbox_stripe, signed_webhook, price=MONTHLY):
    """Checkout as the web app does, pay on Stripe's page, and let the webhooks arrive."""
    session = client.post("/stripe/checkout-session", json={"price_id": price}, headers=auth).json["data"]
    sandbox_stripe.complete_checkout_session(session["id"])
    deliver_all(client, signed_webhook, sandbox_stripe.events())  # earlier ones again too: answered as duplicates
    return session


# --- membership --------------------------------------------------------------------------------------------
def test_membership_without_a_subscription_never_asks_stripe(client, auth_headers, sandbox_stripe):
    answer = client.get("/stripe/subscription", headers=auth_headers())
    assert answer.status_code == 200
    assert answer.json == {"data": {"status": "none", "access": False, "features": [], "subscription": None}}
    assert sandbox_stripe.requests == []


def test_a_purchase_through_checkout_turns_access_on_and_reading_it_never_calls_stripe(
        client, auth_headers, sandbox_stripe, signed_webhook):
    auth = auth_headers("user_buyer")
    buy(client, auth, sandbox_stripe, signed_webhook)
    before = len(sandbox_stripe.requests)
    for _ in range(5):
        membership = client.get("/stripe/subscription", headers=auth).json["data"]
    assert len(sandbox_stripe.requests) == before
    assert membership["status"] == "active" and membership["access"] is True
    subscription = membership["subscription"]
    assert subscription["price"] == MONTHLY and subscription["product"] == "prod_demo_unlimited"
    assert subscription["quantity"] == 1 and subscription["current_period_end"] > 0
    assert subscription["cancel_at_period_end"] is False


# --- checkout --------------------------------------------------------------------------------------------
def test_checkout_session_carries_the_callers_customer_and_ids(client, auth_headers, sandbox_stripe):
    answer = client.post("/stripe/checkout-session", json={"price_id": MONTHLY}, headers=auth_headers("user_a"))
    assert answer.status_code == 201 and answer.json["created"] is True
    data = answer.json["data"]
    assert set(data) == {"id", "url", "mode", "expires_at", "price"}
    assert data["mode"] == "subscription" and data["price"] == MONTHLY and data["url"]
    sent = stripe_calls(sandbox_stripe, "POST", "/v1/checkout/sessions")[0].params
    assert sent["client_reference_id"] == "user_a"
    assert sent["metadata"] == {"clerk_user_id": "user_a", "price_id": MONTHLY}
    assert sent["subscription_data"]["metadata"] == {"clerk_user_id": "user_a"}
    assert sent["customer"].startswith("cus_")
    assert "session_id={CHECKOUT_SESSION_ID}" in sent["success_url"]
    assert stripe_calls(sandbox_stripe, "POST", "/v1/checkout/sessions")[0].idempotency_key


def test_a_one_time_price_is_payment_mode(client, auth_headers):
    answer = client.post("/stripe/checkout-session", json={"price_id": ENROLMENT}, headers=auth_headers())
    assert answer.status_code == 201 and answer.json["data"]["mode"] == "payment"


def test_unknown_price_is_404_and_inactive_price_is_400(client, auth_headers, sandbox_stripe):
    unknown = client.post("/stripe/checkout-session", json={"price_id": "price_nobody"}, headers=auth_headers())
    assert unknown.status_code == 404
    inactive = client.post("/stripe/checkout-session", json={"price_id": LEGACY}, headers=auth_headers())
    assert inactive.status_code == 400 and "price_id" in inactive.json["error"]["details"]
    assert stripe_calls(sandbox_stripe, "POST", "/v1/checkout") == []


def test_a_double_tap_gets_the_same_open_session(client, auth_headers, sandbox_stripe):
    first = client.post("/stripe/checkout-session", json={"price_id": MONTHLY}, headers=auth_headers())
    again = client.post("/stripe/checkout-session", json={"price_id": MONTHLY}, headers=auth_headers())
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json["created"] is False and again.json["data"]["id"] == first.json["data"]["id"]
    other_price = client.post("/stripe/checkout-session", json={"price_id": YEARLY}, headers=auth_headers())
    assert other_price.status_code == 201 and other_price.json["data"]["id"] != first.json["data"]["id"]


def test_twenty_parallel_first_requests_reach_stripe_once(app, auth_headers, sandbox_stripe):
    headers = auth_headers("user_rush")

    def tap(i):
        with app.test_client() as client:
            return client.post("/stripe/checkout-session", json={"price_id": MONTHLY}, headers=headers)

    answers = parallel(20, tap)
    assert sorted(a.status_code for a in answers) == [200] * 19 + [201]
    assert len({a.json["data"]["id"] for a in answers}) == 1
    assert sandbox_stripe.fake.state.count("checkout.session") == 1


def test_an_expired_session_is_replaced(client, auth_headers, sandbox_stripe):
    first = client.post("/stripe/checkout-session", json={"price_id": MONTHLY}, headers=auth_headers()).json
    sandbox_stripe.expire_checkout_session(first["data"]["id"])
    again = client.post("/stripe/checkout-session", json={"price_id": MONTHLY}, headers=auth_headers())
    assert again.status_code == 201 and again.json["data"]["id"] != first["data"]["id"]


def test_a_recurring_purchase_while_subscribed_is_409(client, auth_headers, sandbox_stripe, signed_webhook):
    auth = auth_headers("user_member")
    buy(client, auth, sandbox_stripe, signed_webhook)
    answer = client.post("/stripe/checkout-session", json={"price_id": YEARLY}, headers=auth)
    assert answer.status_code == 409 and answer.json["error"]["code"] == "SUBSCRIPTION_EXISTS"
    assert answer.json["error"]["details"]["status"] == "active"
    assert answer.json["error"]["details"]["subscription"].startswith("sub_")
    assert client.post("/stripe/checkout-session", json={"price_id": ENROLMENT}, headers=auth).status_code == 201


def test_checkout_status_is_the_callers_only(client, auth_headers, sandbox_stripe):
    session = client.post("/stripe/checkout-session", json={"price_id": MONTHLY}, headers=auth_headers("user_a"))
    session_id = session.json["data"]["id"]
    mine = client.get(f"/stripe/checkout-session/{session_id}", headers=auth_headers("user_a"))
    assert mine.status_code == 200 and mine.json["data"]["status"] == "open"
    theirs = client.get(f"/stripe/checkout-session/{session_id}", headers=auth_headers("user_b"))
    assert theirs.status_code == 404 and theirs.json["error"]["code"] == "NOT_FOUND"
    unknown = client.get("/stripe/checkout-session/cs_test_nobody", headers=auth_headers("user_b"))
    assert unknown.json == {**unknown.json, "error": {**unknown.json["error"], "message": theirs.json["error"]["message"]}}


def test_returning_from_checkout_syncs_before_the_webhook(client, auth_headers, sandbox_stripe):
    auth = auth_headers("user_back")
    session = client.post("/stripe/checkout-session", json={"price_id": MONTHLY}, headers=auth).json["data"]
    sandbox_stripe.complete_checkout_session(session["id"])
    status = client.get(f"/stripe/checkout-session/{session['id']}", headers=auth).json["data"]
    assert status["status"] == "complete" and status["subscription"].startswith("sub_")
    assert client.get("/stripe/subscription", headers=auth).json["data"]["access"] is True


def test_a_trial_only_for_who_never_subscribed(billing_config, auth_headers, sandbox_stripe, signed_webhook):
    client = create_app(with_config(billing_config, trial_days=14)).test_client()
    client.post("/stripe/checkout-session", json={"price_id": MONTHLY}, headers=auth_headers("user_new"))
    sent = stripe_calls(sandbox_stripe, "POST", "/v1/checkout/sessions")[-1].params
    assert sent["subscription_data"]["trial_period_days"] == "14"
    auth = auth_headers("user_old")
    buy(client, auth, sandbox_stripe, signed_webhook)
    sub_id = client.get("/stripe/subscription", headers=auth).json["data"]["subscription"]["id"]
    sandbox_stripe.delete_subscription(sub_id)
    client.post("/stripe/checkout-session", json={"price_id": YEARLY}, headers=auth)
    sent = stripe_calls(sandbox_stripe, "POST", "/v1/checkout/sessions")[-1].params
    assert "trial_period_days" not in sent.get("subscription_data", {})


# --- redirects -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("url", [
    "https://app.example",                          # not allowed at all
    "http://localhost:3001.evil.com/x",             # lookalike host
    "http://localhost:3001@evil.com/x",             # userinfo
    "http://evil.com/?http://localhost:3001",       # allowed origin in the query
    "http://evil.com#http://localhost:3001",
    "javascript:alert(1)", "data:text/html,hi", "//evil.com/x", "/relative",
    "http://localhost:3002/x",                      # another port
    "http://localhost:3001\\@evil.com",             # backslash
    "http://localhost%3A3001@evil.com",             # encoded
    "http://local%68ost:3001/x",                    # encoded host
    "http://localhost:3001/\nx", "  http://localhost:3001/x",
    "tatamex://done", "tatame:/done",
])
def test_redirect_tricks_are_400_on_their_field(client, auth_headers, sandbox_stripe, url):
    for path, body in (("/stripe/checkout-session", {"price_id": MONTHLY, "success_url": url}),
                       ("/stripe/checkout-session", {"price_id": MONTHLY, "cancel_url": url}),
                       ("/stripe/portal-session", {"return_url": url})):
        answer = client.post(path, json=body, headers=auth_headers())
        field = next(name for name in body if name != "price_id")
        assert answer.status_code == 400 and field in answer.json["error"]["details"], (path, url)
    assert stripe_calls(sandbox_stripe, "POST", "/v1/checkout") == []
    assert stripe_calls(sandbox_stripe, "POST", "/v1/billing_portal") == []


def test_https_is_required_where_only_https_is_listed(billing_config, auth_headers, sandbox_stripe):
    client = create_app(with_config(billing_config, cors_origins=("https://app.tatame.example",),
                                    checkout_success_url=None, checkout_cancel_url=None,
                                    portal_return_url=None)).test_client()
    plain = client.post("/stripe/portal-session", json={"return_url": "http://app.tatame.example/x"},
                        headers=auth_headers())
    assert plain.status_code == 400
    good = client.post("/stripe/portal-session", json={"return_url": "https://APP.tatame.example:443/billing"},
                       headers=auth_headers())
    assert good.status_code == 201


@pytest.mark.parametrize("url", ["http://localhost:3001/billing/done", "tatame://billing/done",
                                 "http://LOCALHOST:3001/x?y=http://evil.com"])
def test_allowed_redirects_pass(client, auth_headers, url):
    answer = client.post("/stripe/checkout-session", json={"price_id": MONTHLY, "success_url": url},
                         headers=auth_headers())
    assert answer.status_code == 201


# --- portal ----------------------------------------------------------------------------------------------------
def test_portal_session_for_the_callers_customer(client, auth_headers, sandbox_stripe):
    answer = client.post("/stripe/portal-session", headers=auth_headers("user_p"))
    assert answer.status_code == 201 and answer.json["data"]["url"]
    sent = stripe_calls(sandbox_stripe, "POST", "/v1/billing_portal/sessions")[0].params
    assert sent["return_url"] == "http://localhost:3001/billing"
    customer = client.post("/stripe/customer", headers=auth_headers("user_p")).json["data"]["id"]
    assert sent["customer"] == customer


def test_bodies_never_name_a_customer_or_a_subscription(client, auth_headers, sandbox_stripe):
    for path, body in (("/stripe/checkout-session", {"price_id": MONTHLY, "customer": "cus_someone"}),
                       ("/stripe/portal-session", {"customer": "cus_someone"}),
                       ("/stripe/payment-sheet", {"price_id": MONTHLY, "subscription": "sub_x"})):
        answer = client.post(path, json=body, headers=auth_headers())
        assert answer.status_code == 400, path
    assert sandbox_stripe.requests == []


# --- payment sheet ---------------------------------------------------------------------------------------------
def test_payment_sheet_for_a_plan(client, auth_headers, sandbox_stripe):
    answer = client.post("/stripe/payment-sheet", json={"price_id": MONTHLY}, headers=auth_headers("user_m"))
    assert answer.status_code == 201 and answer.json["created"] is True
    data = answer.json["data"]
    assert data["intent_type"] == "payment" and "_secret_" in data["client_secret"]
    assert data["customer"].startswith("cus_") and data["customer_session_client_secret"].startswith("cuss_")
    assert data["publishable_key"] == "pk_test_fake_publishable_key" and data["subscription"].startswith("sub_")
    sent = stripe_calls(sandbox_stripe, "POST", "/v1/subscriptions")[0].params
    assert sent["payment_behavior"] == "default_incomplete"
    assert sent["payment_settings"] == {"save_default_payment_method": "on_subscription"}
    membership = client.get("/stripe/subscription", headers=auth_headers("user_m")).json["data"]
    assert membership["status"] == "incomplete" and membership["access"] is False
    again = client.post("/stripe/payment-sheet", json={"price_id": MONTHLY}, headers=auth_headers("user_m"))
    assert again.status_code == 200 and again.json["created"] is False
    assert again.json["data"]["subscription"] == data["subscription"]
    assert again.json["data"]["client_secret"] == data["client_secret"]
    sandbox_stripe.pay_invoice(data["subscription"])
    assert client.post("/stripe/payment-sheet", json={"price_id": MONTHLY},
                       headers=auth_headers("user_m")).status_code == 409


def test_twenty_parallel_payment_sheets_make_one_subscription(app, auth_headers, sandbox_stripe):
    headers = auth_headers("user_sheet_rush")

    def tap(i):
        with app.test_client() as client:
            return client.post("/stripe/payment-sheet", json={"price_id": MONTHLY}, headers=headers)

    answers = parallel(20, tap)
    assert sorted(a.status_code for a in answers) == [200] * 19 + [201]
    assert len({a.json["data"]["subscription"] for a in answers}) == 1
    assert sandbox_stripe.fake.state.count("subscription") == 1


def test_payment_sheet_for_a_one_time_price_takes_the_amount_from_the_price(client, auth_headers, sandbox_stripe):
    answer = client.post("/stripe/payment-sheet", json={"price_id": ENROLMENT}, headers=auth_headers())
    assert answer.status_code == 201 and answer.json["data"]["intent_type"] == "payment"
    assert "subscription" not in answer.json["data"]
    sent = stripe_calls(sandbox_stripe, "POST", "/v1/payment_intents")[0].params
    price = client.get(f"/stripe/prices/{ENROLMENT}", headers=auth_headers()).json["data"]
    assert sent["amount"] == str(price["unit_amount"]) and sent["currency"] == price["currency"]
    again = client.post("/stripe/payment-sheet", json={"price_id": ENROLMENT}, headers=auth_headers())
    assert again.status_code == 200 and again.json["data"]["client_secret"] == answer.json["data"]["client_secret"]


# --- cancel and resume -----------------------------------------------------------------------------------------
def test_cancel_at_period_end_then_resume(client, auth_headers, sandbox_stripe, signed_webhook):
    auth = auth_headers("user_c")
    assert client.post("/stripe/subscription/cancel", headers=auth).status_code == 404
    buy(client, auth, sandbox_stripe, signed_webhook)
    cancelled = client.post("/stripe/subscription/cancel", headers=auth)
    assert cancelled.status_code == 200 and cancelled.json["data"]["cancel_at_period_end"] is True
    membership = client.get("/stripe/subscription", headers=auth).json["data"]
    assert membership["access"] is True and membership["subscription"]["cancel_at_period_end"] is True
    resumed = client.post("/stripe/subscription/resume", headers=auth)
    assert resumed.status_code == 200 and resumed.json["data"]["cancel_at_period_end"] is False
    assert client.get("/stripe/subscription", headers=auth).json["data"]["subscription"]["cancel_at_period_end"] is False
    other = client.post("/stripe/subscription/cancel", headers=auth_headers("user_someone_else"))
    assert other.status_code == 404


# --- ordering ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed, trial", [(0, False), (1, True), (2, False), (3, True), (4, False), (5, True)])
def test_shuffled_duplicated_deliveries_of_a_whole_life_end_in_stripes_state(
        billing_config, auth_headers, sandbox_stripe, signed_webhook, seed, trial):
    """created (trialing by checkout, or incomplete by the sheet), paid, past_due, paid, cancel scheduled,
    deleted: in any order, twice."""
    client = create_app(with_config(billing_config, trial_days=14 if trial else 0)).test_client()
    auth = auth_headers(f"user_life_{seed}")
    if trial:
        session = client.post("/stripe/checkout-session", json={"price_id": MONTHLY}, headers=auth).json["data"]
        sub = sandbox_stripe.complete_checkout_session(session["id"])["subscription"]
        assert sandbox_stripe.fake.resolve("subscription", sub)["status"] == "trialing"
        sandbox_stripe.set_subscription_status(sub, "active")   # the trial ended and the first invoice was paid
    else:
        sheet = client.post("/stripe/payment-sheet", json={"price_id": MONTHLY}, headers=auth).json["data"]
        sub = sheet["subscription"]
        assert sheet["intent_type"] == "payment"
        sandbox_stripe.pay_invoice(sub)
    sandbox_stripe.set_subscription_status(sub, "past_due")   # a renewal failed
    sandbox_stripe.set_subscription_status(sub, "active")     # and was paid
    sandbox_stripe.fake.handle("POST", f"/v1/subscriptions/{sub}", "cancel_at_period_end=true",
                                {"authorization": "Bearer sk_test_x", "stripe-version": "2026-10-28.endive"})
    sandbox_stripe.delete_subscription(sub)
    events = [e for e in sandbox_stripe.events() if e["type"].startswith(("customer.subscription", "invoice"))]
    assert len(events) >= 5
    deliveries = events + random.Random(seed).sample(events, k=len(events) // 2)
    random.Random(seed + 100).shuffle(deliveries)
    deliver_all(client, signed_webhook, deliveries)
    final = sandbox_stripe.fake.resolve("subscription", sub)
    stored = client.get("/stripe/subscription", headers=auth).json["data"]
    assert stored["status"] == final["status"] == "canceled" and stored["access"] is False
    assert stored["subscription"]["cancel_at_period_end"] == final["cancel_at_period_end"]
    assert stored["subscription"]["canceled_at"] == final["canceled_at"]
    assert stored["subscription"]["trial_end"] == final["trial_end"]


# --- capabilities never logged -------------------------------------------------------------------------------
def test_urls_and_client_secrets_never_reach_the_logs(client, auth_headers, sandbox_stripe, caplog):
    with caplog.at_level("DEBUG"):
        checkout = client.post("/stripe/checkout-session", json={"price_id": MONTHLY}, headers=auth_headers()).json
        portal = client.post("/stripe/portal-session", headers=auth_headers()).json
        sheet = client.post("/stripe/payment-sheet", json={"price_id": ENROLMENT}, headers=auth_headers()).json
    text = caplog.text + json.dumps([r.__dict__ for r in caplog.records], default=str)
    for secret in (checkout["data"]["url"], portal["data"]["url"], sheet["data"]["client_secret"],
                   sheet["data"]["customer_session_client_secret"]):
        assert secret not in text


# --- what a review found: never two payable recurring purchases ------------------------------------------
def open_sessions(sandbox_stripe) -> list[str]:
    return [obj["id"] for obj, _ in sandbox_stripe.fake.state.all("checkout.session") if obj["status"] == "open"]


def session_status(sandbox_stripe, session_id):
    return sandbox_stripe.fake.resolve("checkout.session", session_id)["status"]


def test_an_open_session_is_not_handed_out_once_the_user_subscribed_elsewhere(client, auth_headers, sandbox_stripe):
    auth = auth_headers("user_two_paths")
    session = client.post("/stripe/checkout-session", json={"price_id": MONTHLY}, headers=auth).json["data"]
    sheet = client.post("/stripe/payment-sheet", json={"price_id": MONTHLY}, headers=auth).json["data"]
    assert session_status(sandbox_stripe, session["id"]) == "expired"  # the web session can no longer be paid
    sandbox_stripe.pay_invoice(sheet["subscription"])
    again = client.post("/stripe/checkout-session", json={"price_id": MONTHLY}, headers=auth)
    assert again.status_code == 409 and again.json["error"]["code"] == "SUBSCRIPTION_EXISTS"


def test_a_second_plan_replaces_the_first_open_session_instead_of_adding_one(client, auth_headers, sandbox_stripe):
    auth = auth_headers("user_two_plans")
    monthly = client.post("/stripe/checkout-session", json={"price_id": MONTHLY}, headers=auth).json["data"]
    yearly = client.post("/stripe/checkout-session", json={"price_id": YEARLY}, headers=auth)
    assert yearly.status_code == 201 and yearly.json["data"]["id"] != monthly["id"]
    assert session_status(sandbox_stripe, monthly["id"]) == "expired"
    assert session_status(sandbox_stripe, yearly.json["data"]["id"]) == "open"
    back = client.post("/stripe/checkout-session", json={"price_id": MONTHLY}, headers=auth)
    assert back.status_code == 201 and session_status(sandbox_stripe, yearly.json["data"]["id"]) == "expired"


def test_parallel_requests_for_two_plans_leave_one_payable_session(app, auth_headers, sandbox_stripe):
    headers = auth_headers("user_parallel_plans")

    def tap(i):
        with app.test_client() as client:
            return client.post("/stripe/checkout-session", json={"price_id": (MONTHLY, YEARLY)[i % 2]},
                               headers=headers)

    answers = parallel(10, tap)
    assert {a.status_code for a in answers} <= {200, 201}
    assert len(open_sessions(sandbox_stripe)) == 1  # whatever was made, only one can still be paid


def test_the_payment_sheet_offers_no_trial_so_closing_it_grants_nothing(billing_config, auth_headers,
                                                                          sandbox_stripe, signed_webhook):
    """A trial from the sheet would start before any card is saved (issue 17, finding 3)."""
    client = create_app(with_config(billing_config, trial_days=14, past_due_access=True)).test_client()
    auth = auth_headers("user_trial_sheet")
    first = client.post("/stripe/payment-sheet", json={"price_id": MONTHLY}, headers=auth)
    again = client.post("/stripe/payment-sheet", json={"price_id": MONTHLY}, headers=auth)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json["data"]["intent_type"] == again.json["data"]["intent_type"] == "payment"
    assert again.json["data"]["client_secret"] == first.json["data"]["client_secret"]
    sent = [c for c in stripe_calls(sandbox_stripe, "POST", "/v1/subscriptions")]
    assert "trial_period_days" not in sent[0].params
    deliver_all(client, signed_webhook, sandbox_stripe.events())     # the member closed the sheet
    membership = client.get("/stripe/subscription", headers=auth).json["data"]
    assert (membership["status"], membership["access"]) == ("incomplete", False)


def test_a_checkout_trial_ends_canceled_if_the_card_is_gone(billing_config, auth_headers, sandbox_stripe,
                                                            signed_webhook):
    """Checkout collects a card for a trial; if it is removed before the trial ends, no past_due access follows."""
    client = create_app(with_config(billing_config, trial_days=14, past_due_access=True)).test_client()
    auth = auth_headers("user_trial_card_gone")
    session = client.post("/stripe/checkout-session", json={"price_id": MONTHLY}, headers=auth).json["data"]
    sent = stripe_calls(sandbox_stripe, "POST", "/v1/checkout/sessions")[-1].params
    assert sent["subscription_data"]["trial_settings"] == {"end_behavior": {"missing_payment_method": "cancel"}}
    sub = sandbox_stripe.complete_checkout_session(session["id"])["subscription"]
    fake = sandbox_stripe.fake
    with fake.state.transaction():
        fake.state.put({**fake.resolve("subscription", sub), "default_payment_method": None})  # card removed
    sandbox_stripe.advance_clock(15 * 86400)
    deliver_all(client, signed_webhook, sandbox_stripe.events())
    membership = client.get("/stripe/subscription", headers=auth).json["data"]
    assert (membership["status"], membership["access"]) == ("canceled", False)


def test_cancel_answers_stripes_state_even_when_a_stale_read_was_stored_meanwhile(
        billing_config, auth_headers, sandbox_stripe, signed_webhook):
    from sandbox.in_process import sandbox_gateway
    from app.services.subscriptions import to_record
    from config import STRIPE_API_VERSION

    class StaleWebhookDuringUpdate:
        """While the cancel reaches Stripe, a webhook's earlier read (taken after cancel's stamp) is stored."""

        def __init__(self, gateway):
            self.gateway, self.store = gateway, None

        def __getattr__(self, name):
            return getattr(self.gateway, name)

        def update_subscription(self, subscription_id, params):
            before = self.gateway.get_subscription(subscription_id)
            stamp = self.store.next_stamp()
            answer = self.gateway.update_subscription(subscription_id, params)
            self.store.save_subscription(to_record(before, stamp, "user_stale"))
            return answer

    wrapper = StaleWebhookDuringUpdate(sandbox_gateway(sandbox_stripe, STRIPE_API_VERSION))
    app = create_app(billing_config, gateway=wrapper)
    wrapper.store = app.extensions["tatame"].store
    client, auth = app.test_client(), auth_headers("user_stale")
    sub = client.post("/stripe/payment-sheet", json={"price_id": MONTHLY}, headers=auth).json["data"]["subscription"]
    sandbox_stripe.pay_invoice(sub)
    app.extensions["tatame"].subscriptions.refresh(sub)
    cancelled = client.post("/stripe/subscription/cancel", headers=auth)
    assert cancelled.json["data"]["cancel_at_period_end"] is True
    assert client.get("/stripe/subscription", headers=auth).json["data"]["subscription"]["cancel_at_period_end"]
