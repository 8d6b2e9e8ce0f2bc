"""POST /stripe/customer: get-or-create, one Stripe customer per Clerk user."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import responses

from tests import stripe_canned as fake


@pytest.fixture
def stripe_customers(sandbox_stripe):
    return sandbox_stripe


def test_first_call_creates_then_returns_the_same(client, auth_headers, stripe_customers):
    first = client.post("/stripe/customer", json={"email": "ana@example.com", "name": "Ana"}, headers=auth_headers())
    assert first.status_code == 201
    assert first.json["created"] is True and first.json["data"]["name"] == "Ana"
    assert first.json["data"]["email"] == "ana@example.com"
    assert first.json["data"]["metadata"] == {"clerk_user_id": "user_test_123"}
    second = client.post("/stripe/customer", headers=auth_headers())
    assert second.status_code == 200
    assert second.json == {"data": first.json["data"], "created": False}
    assert stripe_customers.creations == 1


def test_each_user_gets_their_own_customer(client, auth_headers, stripe_customers):
    a = client.post("/stripe/customer", headers=auth_headers("user_a"))
    b = client.post("/stripe/customer", headers=auth_headers("user_b"))
    assert a.json["data"]["id"] != b.json["data"]["id"]
    assert stripe_customers.creations == 2


def test_customers_are_never_looked_up_by_email(client, auth_headers, stripe_customers, stripe_api):
    client.post("/stripe/customer", json={"email": "same@example.com"}, headers=auth_headers("user_a"))
    client.post("/stripe/customer", json={"email": "same@example.com"}, headers=auth_headers("user_b"))
    assert stripe_customers.creations == 2
    assert not any("email" in call.request.url for call in stripe_api.calls if call.request.method == "GET")


def test_deleted_customer_is_replaced(client, auth_headers, stripe_customers, app):
    first = client.post("/stripe/customer", headers=auth_headers()).json["data"]["id"]
    stripe_customers.delete(first)
    again = client.post("/stripe/customer", headers=auth_headers())
    assert again.status_code == 201
    assert again.json["data"]["id"] != first
    mapping = app.extensions["tatame"].store.get_customer_mapping("user_test_123")
    assert mapping.stripe_customer_id == again.json["data"]["id"] and mapping.generation == 1
    assert len(set(stripe_customers.keys)) == 2  # a new idempotency key for the replacement


def test_email_and_name_fill_in_but_never_overwrite(client, auth_headers, stripe_customers):
    first = client.post("/stripe/customer", headers=auth_headers())
    assert first.status_code == 201 and first.json["data"]["email"] is None
    filled = client.post("/stripe/customer", json={"email": "ana@example.com", "name": "Ana"}, headers=auth_headers())
    assert filled.status_code == 200 and filled.json["data"]["email"] == "ana@example.com"
    other = client.post("/stripe/customer", json={"email": "other@example.com"}, headers=auth_headers())
    assert other.json["data"]["email"] == "ana@example.com"
    assert stripe_customers.creations == 1


def test_takeover_with_another_body_gets_the_first_attempts_customer(app, auth_headers, stripe_customers):
    """A worker created the customer, then died before recording it; the next request sends other fields."""
    from app.services.customers import idempotency_key

    store = app.extensions["tatame"].store
    claim = store.claim_customer("user_test_123", "dead-worker", 0.05)
    gateway = app.extensions["tatame"].gateway
    orphan = gateway.create_customer({"metadata": {"clerk_user_id": "user_test_123"}}, idempotency_key(claim.mapping))
    time.sleep(0.1)
    response = app.test_client().post("/stripe/customer", json={"email": "late@example.com"}, headers=auth_headers())
    assert response.status_code == 201, response.json
    assert response.json["data"]["id"] == orphan["id"] and response.json["data"]["email"] == "late@example.com"
    assert stripe_customers.creations == 1 and stripe_customers.searches == 1


def test_takeover_long_after_finds_the_customer_by_metadata(app, auth_headers, stripe_customers):
    """Past Stripe's 24 h idempotency window a replay would make a second customer: search first."""
    store = app.extensions["tatame"].store
    store.claim_customer("user_test_123", "dead-worker", 0.05)
    orphan = app.extensions["tatame"].gateway.create_customer(
        {"metadata": {"clerk_user_id": "user_test_123"}}, "a-key-stripe-has-forgotten")
    time.sleep(0.1)
    response = app.test_client().post("/stripe/customer", headers=auth_headers())
    assert response.status_code == 201 and response.json["data"]["id"] == orphan["id"]
    assert stripe_customers.creations == 1


def test_stripe_failure_frees_the_claim_for_a_retry(client, auth_headers, stripe_api):
    stripe_api.add(responses.POST, fake.url("/v1/customers"), status=500, json={"error": {"type": "api_error"}})
    failed = client.post("/stripe/customer", headers=auth_headers())
    assert failed.status_code == 502
    stripe_api.replace(responses.POST, fake.url("/v1/customers"), json=fake.customer())
    # A 500 may hide a customer Stripe made after all: the retry looks for it first.
    stripe_api.add(responses.GET, fake.url("/v1/customers/search"), json={"object": "search_result", "data": []})
    retried = client.post("/stripe/customer", headers=auth_headers())
    assert retried.status_code == 201


@pytest.mark.parametrize(
    "body, field",
    [
        ({"email": "not-an-email"}, "email"),
        ({"name": ""}, "name"),
        ({"name": "x" * 257}, "name"),
        ({"name": "bad\x00name"}, "name"),
        ({"name": 12}, "name"),
        ({"email": ["a@example.com"]}, "email"),
        ({"plan": "gold"}, "plan"),
    ],
)
def test_bad_body_is_400(client, auth_headers, stripe_api, body, field):
    response = client.post("/stripe/customer", json=body, headers=auth_headers())
    assert response.status_code == 400
    assert field in response.json["error"]["details"]
    assert len(stripe_api.calls) == 0


@pytest.mark.parametrize("data", ["{not json", "[]", '"text"', "null"])
def test_malformed_json_is_400(client, auth_headers, stripe_api, data):
    response = client.post("/stripe/customer", data=data, content_type="application/json", headers=auth_headers())
    assert response.status_code == 400
    assert response.json["error"]["code"] == "VALIDATION_ERROR"


def test_wrong_content_type_is_415(client, auth_headers, stripe_api):
    response = client.post("/stripe/customer", data="email=a@example.com",
                           content_type="application/x-www-form-urlencoded", headers=auth_headers())
    assert response.status_code == 415
    assert response.json["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"


def test_body_over_limit_is_413(client, auth_headers, stripe_api):
    response = client.post("/stripe/customer", data="{" + " " * 70_000 + "}",
                           content_type="application/json", headers=auth_headers())
    assert response.status_code == 413
    assert response.json["error"]["code"] == "PAYLOAD_TOO_LARGE"


def test_concurrent_first_requests_create_exactly_one_customer(app, auth_headers, sandbox_stripe):
    stripe = sandbox_stripe
    stripe.create_delay = 0.05
    headers = auth_headers("user_race")
    barrier = threading.Barrier(20)

    def call(_):
        client = app.test_client()
        barrier.wait()
        return client.post("/stripe/customer", headers=headers)

    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(call, range(20)))
    statuses = sorted(r.status_code for r in results)
    assert statuses == [200] * 19 + [201]
    assert stripe.creations == 1 and len(stripe.keys) == 1
    assert len({r.json["data"]["id"] for r in results}) == 1


def test_takeover_when_search_fails_replays_the_create(app, auth_headers, stripe_api, sandbox_stripe):
    """Search is not offered everywhere and can fail: the idempotent create still finds the customer."""
    from app.services.customers import idempotency_key

    stripe = sandbox_stripe
    stripe_api.add(responses.GET, fake.url("/v1/customers/search"), status=500,
                   json={"error": {"type": "api_error"}})
    claim = app.extensions["tatame"].store.claim_customer("user_test_123", "dead-worker", 0.05)
    orphan = app.extensions["tatame"].gateway.create_customer(
        {"metadata": {"clerk_user_id": "user_test_123"}}, idempotency_key(claim.mapping))
    time.sleep(0.1)
    response = app.test_client().post("/stripe/customer", headers=auth_headers())
    assert response.status_code == 201 and response.json["data"]["id"] == orphan["id"]
    assert stripe.creations == 1


def test_takeover_never_records_a_customer_search_still_lists_after_deletion(app, auth_headers, sandbox_stripe):
    stripe = sandbox_stripe
    deleted = app.extensions["tatame"].gateway.create_customer(
        {"metadata": {"clerk_user_id": "user_test_123"}}, "an-old-key")
    stripe.delete(deleted["id"])
    stripe.search_lags = True  # the index still lists it
    app.extensions["tatame"].store.claim_customer("user_test_123", "dead-worker", 0.05)
    time.sleep(0.1)
    response = app.test_client().post("/stripe/customer", headers=auth_headers())
    assert response.status_code == 201 and response.json["data"]["id"] != deleted["id"]


def test_concurrent_requests_with_different_emails_fill_in_once(app, auth_headers, sandbox_stripe):
    """Each racer sees no email yet; only one may set it, and nobody overwrites it afterwards."""
    from tests.servers import parallel

    headers = auth_headers("user_race_email")
    with app.test_client() as client:
        assert client.post("/stripe/customer", headers=headers).json["data"]["email"] is None

    def first_call(i):
        with app.test_client() as client:
            return client.post("/stripe/customer", json={"email": f"racer{i}@example.com", "name": f"Racer {i}"},
                               headers=headers)

    answers = parallel(12, first_call)
    assert {a.status_code for a in answers} == {200}
    customer_id = answers[0].json["data"]["id"]
    stored = app.extensions["tatame"].gateway.get_customer(customer_id)
    assert stored["email"].startswith("racer") and stored["name"].startswith("Racer ")
    assert {a.json["data"]["email"] for a in answers} == {stored["email"]}  # everyone sees the one that stuck
    assert {a.json["data"]["name"] for a in answers} == {stored["name"]}
    updates = [c for c in sandbox_stripe.requests if c.method == "POST" and c.path == f"/v1/customers/{customer_id}"]
    assert len({c.idempotency_key for c in updates}) <= 2  # one key per field: at most one change each
