"""The Stripe stand-in itself: what it takes, what it refuses, its clock, and how its adapters yield to failures."""

import pytest
import requests
import responses

from app.gateways.fake_stripe import API_VERSION, FakeStripe
from app.gateways.fake_stripe.forms import decode
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
    fake = FakeStripe(clock=lambda: now[0])
    first = fake.handle("POST", "/v1/customers", "", KEY)[1]
    now[0] += 3600
    second = fake.handle("POST", "/v1/customers", "", KEY)[1]
    assert (first["created"], second["created"]) == (1_800_000_000, 1_800_003_600)


def test_idempotency_keys_are_forgotten_after_a_day_by_its_clock():
    now = [1_800_000_000.0]
    fake = FakeStripe(clock=lambda: now[0])
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
    answer_status, body = FakeStripe().handle(method, path, params, headers)
    assert answer_status == status and expected.items() <= body["error"].items() and body["error"]["message"]


def test_nested_expansion_and_the_pinned_version():
    fake = FakeStripe()
    status, price = fake.handle("GET", "/v1/prices/price_demo_kids_monthly",
                                "expand[0]=product.default_price", {**KEY, "Stripe-Version": API_VERSION})
    assert status == 200 and price["product"]["id"] == "prod_demo_kids"
    assert price["product"]["default_price"]["object"] == "price"
    assert price["product"]["default_price"]["id"] == "price_demo_kids_monthly"


def test_a_refused_creation_is_not_remembered_under_its_key():
    fake = FakeStripe()
    headers = {**KEY, "Idempotency-Key": "k"}
    assert fake.handle("POST", "/v1/customers", "plan=gold", headers)[0] == 400
    assert fake.handle("POST", "/v1/customers", "name=Ana", headers)[0] == 200


@pytest.mark.parametrize("failure", [
    {"status": 500, "json": {"error": {"type": "api_error"}}},
    {"status": 429, "json": {"error": {"type": "rate_limit_error"}}},
    {"body": requests.ConnectionError("refused")},
    {"body": requests.Timeout("read timed out")},
])
def test_a_failure_a_test_registers_wins_over_the_stand_in(stripe_gateway, stripe_stand_in, stripe_api, failure):
    made = stripe_gateway.create_customer({"name": "Before"}, "before")
    down = stripe_api.add(responses.POST, f"{STRIPE_API}/v1/customers", **failure)
    for _ in range(2):  # every time, not once: responses would otherwise alternate between the two
        with pytest.raises(UpstreamError):
            stripe_gateway.create_customer({"name": "During"}, "during")
    assert stripe_gateway.get_customer(made["id"])["name"] == "Before"  # other calls still reach the stand-in
    stripe_api.remove(down)
    assert stripe_gateway.create_customer({"name": "During"}, "during")["name"] == "During"
    assert stripe_stand_in.creations == 2
