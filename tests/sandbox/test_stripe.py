"""The sandbox's Stripe itself: what it takes, what it refuses, its clock, and how its adapters yield to failures."""

import pytest
import requests
import responses

from sandbox.stripe import API_VERSION, SandboxStripe
from sandbox.stripe.faults import StripeFault
from sandbox.stripe.forms import decode
from app.services.errors import UpstreamError
from tests.conftest import STRIPE_API

KEY = {"Authorization": "Bearer sk_test_fake_key_for_tests_only"}


def test_form_decoding_follows_the_sdk():
    assert decode("metadata[clerk_user_id]=u%27x&expand[0]=a&expand[1]=b.c&limit=3&active=true") == {
        "metadata": {"clerk_user_id": "u'x"}, "expand": ["a", "b.c"], "limit": "3", "active": "true"}
    assert decode(b"expand[]=x&expand[]=y&a[b][c]=1") == {"expand": ["x", "y"], "a": {"b": {"c": "1"}}}
    assert decode("") == {} and decode(None) == {}


def test_created_times_come_from_its_clock():
    now = [1_800_000_000.7]
    fake = SandboxStripe(clock=lambda: now[0])
    first = fake.handle("POST", "/v1/customers", "", KEY)[1]
    now[0] += 3600
    second = fake.handle("POST", "/v1/customers", "", KEY)[1]
    assert (first["created"], second["created"]) == (1_800_000_000, 1_800_003_600)


def test_idempotency_keys_are_forgotten_after_a_day_by_its_clock():
    now = [1_800_000_000.0]
    fake = SandboxStripe(clock=lambda: now[0])
    headers = {**KEY, "Idempotency-Key": "k"}
    first = fake.handle("POST", "/v1/customers", "name=A", headers)[1]
    now[0] += 23 * 3600
    assert fake.handle("POST", "/v1/customers", "name=A", headers)[1] == first
    fake.handle("POST", "/v1/customers", "name=B", {**KEY, "Idempotency-Key": "later"})  # prunes old keys
    now[0] += 2 * 3600
    fake.handle("POST", "/v1/customers", "name=C", {**KEY, "Idempotency-Key": "latest"})
    assert fake.handle("POST", "/v1/customers", "name=A", headers)[1]["id"] != first["id"]


@pytest.mark.parametrize("method, path, params, headers, status, expected", [
    ("GET", "/v1/products", "", {}, 401, {"type": "invalid_request_error"}),
    ("GET", "/v1/products", "", {**KEY, "Stripe-Version": "2020-08-27"}, 400, {"param": "Stripe-Version"}),
    ("GET", "/v1/products", "colour=red", KEY, 400, {"code": "parameter_unknown", "param": "colour"}),
    ("GET", "/v1/products", "limit=101", KEY, 400, {"param": "limit"}),
    ("GET", "/v1/products", "active=yes", KEY, 400, {"param": "active"}),
    ("GET", "/v1/products", "expand[0]=default_price", KEY, 400, {"param": "expand"}),
    ("GET", "/v1/prices/price_demo_enrolment", "expand[0]=currency", KEY, 400, {"param": "expand"}),
    ("GET", "/v1/prices/prod_demo_kids", "", KEY, 404, {"code": "resource_missing", "param": "id"}),
    ("GET", "/v1/charges", "", KEY, 404, {"type": "invalid_request_error"}),
    ("GET", "/v1/customers/search", "query=email:'a@example.com'", KEY, 400, {"param": "query"}),
    ("DELETE", "/v1/customers/cus_nope", "", KEY, 404, {"code": "resource_missing"}),
])
def test_refusals_are_stripe_shaped(method, path, params, headers, status, expected):
    answer_status, body = SandboxStripe().handle(method, path, params, headers)
    assert answer_status == status and expected.items() <= body["error"].items() and body["error"]["message"]


def test_nested_expansion_and_the_pinned_version():
    fake = SandboxStripe()
    status, price = fake.handle("GET", "/v1/prices/price_demo_kids_monthly",
                                "expand[0]=product.default_price", {**KEY, "Stripe-Version": API_VERSION})
    assert status == 200 and price["product"]["id"] == "prod_demo_kids"
    assert price["product"]["default_price"]["object"] == "price"
    assert price["product"]["default_price"]["id"] == "price_demo_kids_monthly"


def test_a_refused_creation_is_not_remembered_under_its_key():
    fake = SandboxStripe()
    headers = {**KEY, "Idempotency-Key": "k"}
    assert fake.handle("POST", "/v1/customers", "plan=gold", headers)[0] == 400
    assert fake.handle("POST", "/v1/customers", "name=Ana", headers)[0] == 200


@pytest.mark.parametrize("failure", [
    {"status": 500, "json": {"error": {"type": "api_error"}}},
    {"status": 429, "json": {"error": {"type": "rate_limit_error"}}},
    {"body": requests.ConnectionError("refused")},
    {"body": requests.Timeout("read timed out")},
])
def test_a_failure_a_test_registers_wins_over_the_sandbox_stripe(stripe_gateway, sandbox_stripe, stripe_api, failure):
    made = stripe_gateway.create_customer({"name": "Before"}, "before")
    down = stripe_api.add(responses.POST, f"{STRIPE_API}/v1/customers", **failure)
    for _ in range(2):  # every time, not once: responses would otherwise alternate between the two
        with pytest.raises(UpstreamError):
            stripe_gateway.create_customer({"name": "During"}, "during")
    assert stripe_gateway.get_customer(made["id"])["name"] == "Before"  # other calls still reach the sandbox's Stripe
    stripe_api.remove(down)
    assert stripe_gateway.create_customer({"name": "During"}, "during")["name"] == "During"
    assert sandbox_stripe.creations == 2


# --- billing: state changes and the events they record ------------------------------------------
def _call(fake, method, path, params="", status=200):
    answer_status, body = fake.handle(method, path, params, KEY)
    assert answer_status == status, body
    return body


def _customer(fake, params="metadata[clerk_user_id]=user_1"):
    return _call(fake, "POST", "/v1/customers", params)["id"]


SUBSCRIBE = ("items[0][price]=price_demo_unlimited_monthly&payment_behavior=default_incomplete"
             "&expand[0]=latest_invoice.confirmation_secret&expand[1]=pending_setup_intent")
CHECKOUT = "mode=subscription&line_items[0][price]=price_demo_unlimited_monthly&line_items[0][quantity]=1"


def test_customer_changes_are_events_with_what_changed():
    fake = SandboxStripe()
    customer = _customer(fake)
    _call(fake, "POST", f"/v1/customers/{customer}", "name=Ana")
    _call(fake, "POST", f"/v1/customers/{customer}", "name=Ana")  # nothing changed: no event
    _call(fake, "DELETE", f"/v1/customers/{customer}")
    events = fake.events()
    assert [e["type"] for e in events] == ["customer.created", "customer.updated", "customer.deleted"]
    assert events[1]["data"]["previous_attributes"] == {"name": None}
    assert all(e["data"]["object"]["id"] == customer and e["api_version"] == API_VERSION for e in events)


def test_deleting_a_customer_cancels_their_subscriptions():
    fake = SandboxStripe()
    customer = _customer(fake)
    sub = _call(fake, "POST", "/v1/subscriptions", f"customer={customer}&{SUBSCRIBE}")
    _call(fake, "DELETE", f"/v1/customers/{customer}")
    assert _call(fake, "GET", f"/v1/subscriptions/{sub['id']}")["status"] == "canceled"
    assert [e["type"] for e in fake.events()][-2:] == ["customer.subscription.deleted", "customer.deleted"]


def test_events_are_kept_thirty_days_and_filtered_like_stripe():
    now = [1_800_000_000.0]
    fake = SandboxStripe(clock=lambda: now[0])
    _customer(fake)
    now[0] += 29 * 86400
    second = _customer(fake)
    assert len(_call(fake, "GET", "/v1/events")["data"]) == 2
    now[0] += 2 * 86400
    listing = _call(fake, "GET", "/v1/events")["data"]
    assert [e["data"]["object"]["id"] for e in listing] == [second]
    assert _call(fake, "GET", "/v1/events", "types[0]=customer.*")["data"] == listing
    assert _call(fake, "GET", "/v1/events", "type=invoice.paid")["data"] == []
    assert _call(fake, "GET", "/v1/events", f"created[gt]={listing[0]['created']}")["data"] == []
    assert _call(fake, "GET", "/v1/events", "type=a&types[0]=b", status=400)["error"]["param"] == "types"


def test_events_of_one_second_list_in_the_order_they_happened():
    fake = SandboxStripe(clock=lambda: 1_800_000_000.0)
    customer = _customer(fake)
    sub = _call(fake, "POST", "/v1/subscriptions", f"customer={customer}&{SUBSCRIBE}")
    fake.pay_invoice(sub["id"])
    newest = [e["type"] for e in _call(fake, "GET", "/v1/events", "limit=4")["data"]]
    assert newest == ["entitlements.active_entitlement_summary.updated", "customer.subscription.updated",
                      "invoice.payment_succeeded", "invoice.paid"]
    page = _call(fake, "GET", "/v1/events", f"limit=100&starting_after={fake.events()[-1]['id']}")["data"]
    assert [e["id"] for e in page] == [e["id"] for e in reversed(fake.events()[:-1])]


def test_the_confirmation_secret_only_when_expanded_and_no_bookkeeping_shown():
    fake = SandboxStripe()
    sub = _call(fake, "POST", "/v1/subscriptions", f"customer={_customer(fake)}&{SUBSCRIBE}")
    invoice_id = sub["latest_invoice"]["id"]
    plain = _call(fake, "GET", f"/v1/invoices/{invoice_id}")
    assert "confirmation_secret" not in plain and not any(key.startswith("_") for key in plain)
    assert "payment_intent" not in plain and "subscription" not in plain
    assert plain["parent"]["subscription_details"]["subscription"] == sub["id"]
    shown = _call(fake, "GET", f"/v1/invoices/{invoice_id}", "expand[0]=confirmation_secret")
    assert shown["confirmation_secret"] == sub["latest_invoice"]["confirmation_secret"]
    created = fake.events("invoice.created")[0]["data"]["object"]
    assert "confirmation_secret" not in created and "_payment_intent" not in created


def test_a_replayed_creation_records_its_events_once():
    fake = SandboxStripe()
    customer = _customer(fake)
    headers = {**KEY, "Idempotency-Key": "sub-1"}
    first = fake.handle("POST", "/v1/subscriptions", f"customer={customer}&{SUBSCRIBE}", headers)
    assert fake.handle("POST", "/v1/subscriptions", f"customer={customer}&{SUBSCRIBE}", headers) == first
    assert len(fake.events("customer.subscription.created")) == 1 and fake.state.count("subscription") == 1


def test_periods_follow_the_calendar():
    from datetime import datetime, timezone

    from sandbox.stripe.subscriptions import add_interval

    def at(*day):
        return int(datetime(*day, tzinfo=timezone.utc).timestamp())

    assert add_interval(at(2027, 1, 31), "month", 1) == at(2027, 2, 28)
    assert add_interval(at(2028, 1, 31), "month", 1) == at(2028, 2, 29)
    assert add_interval(at(2027, 11, 15), "month", 3) == at(2028, 2, 15)
    assert add_interval(at(2028, 2, 29), "year", 1) == at(2029, 2, 28)
    assert add_interval(at(2027, 1, 1), "week", 2) == at(2027, 1, 15)


def test_an_open_session_expires_after_a_day_by_its_clock():
    now = [1_800_000_000.0]
    fake = SandboxStripe(clock=lambda: now[0])
    session = _call(fake, "POST", "/v1/checkout/sessions", f"customer={_customer(fake)}&{CHECKOUT}")
    now[0] += 24 * 3600 - 1
    assert _call(fake, "GET", f"/v1/checkout/sessions/{session['id']}")["status"] == "open"
    now[0] += 1
    assert _call(fake, "GET", f"/v1/checkout/sessions/{session['id']}")["status"] == "expired"
    assert [e["data"]["object"]["id"] for e in fake.events("checkout.session.expired")] == [session["id"]]
    assert _call(fake, "POST", f"/v1/checkout/sessions/{session['id']}/expire", status=400)
    with pytest.raises(StripeFault):
        fake.complete_checkout_session(session["id"])


def test_a_completed_checkout_with_a_trial_and_an_enrolment_fee():
    fake = SandboxStripe()
    params = (f"customer={_customer(fake)}&{CHECKOUT}&line_items[1][price]=price_demo_enrolment"
              "&line_items[1][quantity]=1&subscription_data[trial_period_days]=14"
              "&subscription_data[metadata][clerk_user_id]=user_1")
    session = _call(fake, "POST", "/v1/checkout/sessions", params)
    assert session["amount_total"] == 9900  # the fee now, the plan after the trial
    done = fake.complete_checkout_session(session["id"])
    assert (done["status"], done["payment_status"]) == ("complete", "paid")
    sub = _call(fake, "GET", f"/v1/subscriptions/{done['subscription']}", "expand[0]=latest_invoice")
    assert sub["status"] == "trialing" and sub["metadata"] == {"clerk_user_id": "user_1"}
    assert [item["price"]["id"] for item in sub["items"]["data"]] == ["price_demo_unlimited_monthly"]
    assert (sub["latest_invoice"]["status"], sub["latest_invoice"]["amount_paid"]) == ("paid", 9900)
    assert sub["pending_setup_intent"] is None and sub["default_payment_method"].startswith("pm_")
    assert fake.events()[-1]["type"] == "checkout.session.completed"


def test_a_completed_payment_checkout_pays_an_intent_with_its_metadata():
    fake = SandboxStripe()
    params = (f"customer={_customer(fake)}&mode=payment&line_items[0][price]=price_demo_private_pack"
              "&line_items[0][quantity]=2&payment_intent_data[metadata][clerk_user_id]=user_1")
    done = fake.complete_checkout_session(_call(fake, "POST", "/v1/checkout/sessions", params)["id"])
    intent = _call(fake, "GET", f"/v1/payment_intents/{done['payment_intent']}")
    assert (intent["status"], intent["amount_received"]) == ("succeeded", 180000)
    assert intent["metadata"] == {"clerk_user_id": "user_1"} and done["subscription"] is None


def test_a_failed_payment_makes_an_active_subscription_past_due_and_paying_recovers_it():
    fake = SandboxStripe()
    sub = _call(fake, "POST", "/v1/subscriptions", f"customer={_customer(fake)}&{SUBSCRIBE}")
    assert fake.fail_invoice(sub["id"])["status"] == "incomplete"  # a first payment failing changes no status
    fake.set_subscription_status(sub["id"], "active")
    assert fake.fail_invoice(sub["id"])["status"] == "past_due"
    assert fake.pay_invoice(sub["id"])["status"] == "active"
    assert [e["type"] for e in fake.events("invoice.payment_failed")] == ["invoice.payment_failed"] * 2
    with pytest.raises(StripeFault):
        fake.pay_invoice(sub["id"])  # nothing left to pay


def test_pausing_and_resuming_record_their_own_events():
    fake = SandboxStripe()
    sub = _call(fake, "POST", "/v1/subscriptions", f"customer={_customer(fake)}&{SUBSCRIBE}&trial_period_days=3")
    fake.set_subscription_status(sub["id"], "paused")
    fake.set_subscription_status(sub["id"], "active")
    assert [e["type"] for e in fake.events() if e["type"].startswith("customer.subscription.")] == [
        "customer.subscription.created", "customer.subscription.updated", "customer.subscription.paused",
        "customer.subscription.updated", "customer.subscription.resumed"]


def test_a_canceled_subscription_takes_metadata_only():
    fake = SandboxStripe()
    sub = _call(fake, "POST", "/v1/subscriptions", f"customer={_customer(fake)}&{SUBSCRIBE}")
    fake.delete_subscription(sub["id"])
    _call(fake, "POST", f"/v1/subscriptions/{sub['id']}", "metadata[note]=gone")
    _call(fake, "POST", f"/v1/subscriptions/{sub['id']}", "cancel_at_period_end=true", status=400)
    _call(fake, "DELETE", f"/v1/subscriptions/{sub['id']}", status=400)


@pytest.mark.parametrize("path, params, param", [
    ("/v1/subscriptions", f"customer=cus_nope&{SUBSCRIBE}", "customer"),
    ("/v1/subscriptions", "customer={c}&items[0][price]=price_demo_enrolment", "items[0][price]"),
    ("/v1/subscriptions", "customer={c}&items[0][price]=price_demo_legacy_monthly", "items[0][price]"),
    ("/v1/subscriptions", "customer={c}&items[0][price]=price_nope", "items[0][price]"),
    ("/v1/subscriptions", "customer={c}", "items"),
    ("/v1/subscriptions", "customer={c}&items[0][price]=price_demo_unlimited_monthly"
                          "&items[1][price]=price_demo_unlimited_yearly", "items"),
    ("/v1/checkout/sessions", f"customer=cus_nope&{CHECKOUT}", "customer"),
    ("/v1/checkout/sessions", "customer={c}&mode=payment&line_items[0][price]=price_demo_kids_monthly"
                              "&line_items[0][quantity]=1", "line_items[0][price]"),
    ("/v1/checkout/sessions", "customer={c}&mode=subscription&line_items[0][price]=price_demo_enrolment"
                              "&line_items[0][quantity]=1", "line_items"),
    ("/v1/checkout/sessions", "customer={c}&mode=subscription&line_items[0][price]=price_demo_legacy_monthly"
                              "&line_items[0][quantity]=1", "line_items[0][price]"),
    ("/v1/checkout/sessions", "customer={c}&mode=subscription&line_items[0][price]=price_demo_kids_monthly",
     "line_items[0][quantity]"),
    ("/v1/checkout/sessions", "customer={c}&mode=payment&line_items[0][price]=price_demo_enrolment"
                              "&line_items[0][quantity]=1&subscription_data[trial_period_days]=7",
     "subscription_data"),
    ("/v1/checkout/sessions", "customer={c}&" + CHECKOUT + "&success_url=not a url", "success_url"),
    ("/v1/billing_portal/sessions", "customer=cus_nope", "customer"),
    ("/v1/customer_sessions", "customer={c}&components[mobile_payment_element][enabled]=false", "components"),
    ("/v1/payment_intents", "customer={c}&amount=10&currency=brl", "amount"),
])
def test_billing_refusals_are_stripe_shaped(path, params, param):
    fake = SandboxStripe()
    status, body = fake.handle("POST", path, params.replace("{c}", _customer(fake)), KEY)
    assert status == 400 and body["error"]["type"] == "invalid_request_error" and body["error"]["param"] == param
    assert not fake.state.count("subscription") and not fake.state.count("checkout.session")


def test_features_attached_to_products_as_stripe_lists_them():
    fake = SandboxStripe()
    features = _call(fake, "GET", "/v1/entitlements/features", "limit=100")
    assert features["url"] == "/v1/entitlements/features"
    assert all(f["object"] == "entitlements.feature" and f["id"].startswith("feat_") for f in features["data"])
    assert {"open_mat", "kids_classes", "private_lessons"} <= {f["lookup_key"] for f in features["data"]}
    kids = _call(fake, "GET", "/v1/products/prod_demo_kids/features", "")["data"]
    assert [(p["object"], p["entitlement_feature"]["lookup_key"]) for p in kids] == [("product_feature", "kids_classes")]
    assert _call(fake, "GET", "/v1/entitlements/features", "lookup_key=open_mat")["data"][0]["name"] == "Open mat"


def test_entitlements_follow_the_subscriptions_status_and_plan_with_one_summary_per_change():
    fake = SandboxStripe()
    customer = _customer(fake)
    sub = _call(fake, "POST", "/v1/subscriptions", f"customer={customer}&{SUBSCRIBE}")

    def keys():
        listing = _call(fake, "GET", "/v1/entitlements/active_entitlements", f"customer={customer}")
        return [e["lookup_key"] for e in listing["data"]]

    assert keys() == [] and fake.events("entitlements.active_entitlement_summary.updated") == []
    fake.pay_invoice(sub["id"])
    entitled = keys()
    assert entitled
    fake.set_subscription_status(sub["id"], "past_due")  # still entitled: no summary for a change of nothing
    assert keys() == entitled and len(fake.events("entitlements.active_entitlement_summary.updated")) == 1
    fake.set_subscription_status(sub["id"], "active")
    fake.switch_subscription_price(sub["id"], "price_demo_kids_monthly")
    assert keys() == ["kids_classes"]
    fake.set_subscription_status(sub["id"], "unpaid")
    assert keys() == []
    summaries = [e["data"]["object"] for e in fake.events("entitlements.active_entitlement_summary.updated")]
    assert [[x["lookup_key"] for x in s["entitlements"]["data"]] for s in summaries] == [entitled, ["kids_classes"], []]
    assert all(s["customer"] == customer and "id" not in s for s in summaries)
    assert _call(fake, "GET", "/v1/entitlements/active_entitlements", "", status=400)["error"]["param"] == "customer"
