"""POST /webhooks/clerk: Svix signatures, exactly-once claims shared with Stripe's, identity sync, erasure."""

import json
import time

import pytest

from app import create_app
from app.stores.base import StoreUnavailable
from app.stores.sqlite import SQLiteStore
from sandbox.clerk import SandboxClerk
from sandbox.sample_events import sample_clerk_event, svix_headers
from tests.conftest import STRIPE_API, fake_svix_secret, make_event, with_config
from tests.servers import parallel

CLERK_SECRET = fake_svix_secret("fake-clerk-secret-for-tests")
ROTATED = fake_svix_secret("new-fake-clerk-secret-for-tests")
OTHER = fake_svix_secret("not-our-fake-clerk-secret")


@pytest.fixture
def clerk_config(config):
    return with_config(config, clerk_webhook_secrets=(CLERK_SECRET,))


@pytest.fixture
def app(clerk_config, sandbox_stripe):
    return create_app(clerk_config)


@pytest.fixture
def services(app):
    return app.extensions["tatame"]


def deliver(client, event, *, secret=CLERK_SECRET, message_id=None, timestamp=None, body=None):
    body = body if body is not None else json.dumps(event).encode()
    headers = svix_headers(body, secret, message_id=message_id, timestamp=timestamp)
    return client.post("/webhooks/clerk", data=body, headers={"Content-Type": "application/json", **headers}), headers


def member(services, user="user_clerk_1", **identity):
    """A user with a Stripe customer (made by the app, as a first purchase would); the customer id."""
    return services.customers.get_or_create(user, **identity)[0]["id"]


def at_stripe(sandbox_stripe, customer_id):
    """The customer as the sandbox's Stripe holds it."""
    return sandbox_stripe.fake.state.get(customer_id)[0]


# --- signatures -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("missing", ["svix-id", "svix-timestamp", "svix-signature"])
def test_a_delivery_without_svix_headers_is_refused(client, missing):
    body = json.dumps(sample_clerk_event("user.updated")).encode()
    headers = {k: v for k, v in svix_headers(body, CLERK_SECRET).items() if k != missing}
    response = client.post("/webhooks/clerk", data=body, headers=headers)
    assert response.status_code == 400 and response.json["error"]["code"] == "MISSING_SIGNATURE"


def test_a_wrong_secret_or_an_altered_body_is_an_invalid_signature(client):
    event = sample_clerk_event("user.updated")
    assert deliver(client, event, secret=OTHER)[0].json["error"]["code"] == "INVALID_SIGNATURE"
    body = json.dumps(event).encode()
    headers = svix_headers(body, CLERK_SECRET)
    altered = client.post("/webhooks/clerk", data=body.replace(b"Aluno", b"Alunx"), headers=headers)
    assert altered.status_code == 400 and altered.json["error"]["code"] == "INVALID_SIGNATURE"
    forged_id = client.post("/webhooks/clerk", data=body, headers={**headers, "svix-id": "msg_another"})
    assert forged_id.json["error"]["code"] == "INVALID_SIGNATURE"  # the id is signed too


@pytest.mark.parametrize("offset", [-301, 301])
def test_a_timestamp_more_than_five_minutes_off_is_refused(client, offset):
    response, _ = deliver(client, sample_clerk_event("user.updated"), timestamp=int(time.time()) + offset)
    assert response.status_code == 400 and response.json["error"]["code"] == "INVALID_SIGNATURE"
    assert deliver(client, sample_clerk_event("user.updated"), timestamp=int(time.time()) - 240)[0].status_code == 200


def test_during_rotation_either_secret_verifies(clerk_config, sandbox_stripe):
    client = create_app(with_config(clerk_config, clerk_webhook_secrets=(CLERK_SECRET, ROTATED))).test_client()
    assert deliver(client, sample_clerk_event("user.updated"), secret=CLERK_SECRET)[0].status_code == 200
    assert deliver(client, sample_clerk_event("user.updated"), secret=ROTATED)[0].status_code == 200
    assert deliver(client, sample_clerk_event("user.updated"), secret=OTHER)[0].status_code == 400


def test_without_a_secret_every_delivery_is_refused(config, sandbox_stripe):
    """As in production, where nothing stands in for CLERK_WEBHOOK_SECRET."""
    app = create_app(with_config(config, clerk_webhook_secrets=()))
    assert app.extensions["tatame"].modes["accounts"] == "none"
    client = app.test_client()
    response, _ = deliver(client, sample_clerk_event("user.updated"))
    assert response.status_code == 400 and response.json["error"]["code"] == "INVALID_SIGNATURE"


def test_an_oversized_body_is_refused_before_it_is_read(clerk_config, sandbox_stripe):
    client = create_app(with_config(clerk_config, max_webhook_body=2048)).test_client()
    event = sample_clerk_event("user.updated", first_name="x" * 4096)
    response, _ = deliver(client, event)
    assert response.status_code == 413 and response.json["error"]["code"] == "PAYLOAD_TOO_LARGE"


@pytest.mark.parametrize("body", [
    b"not json",
    b'["an", "array"]',
    json.dumps({"type": "user.updated", "data": {"id": "user_1"}}).encode(),  # no object: event
    json.dumps({**sample_clerk_event("user.updated"), "data": {"id": "user_1", "updated_at": "yesterday"}}).encode(),
    json.dumps({**sample_clerk_event("user.updated"), "data": {"id": 7, "updated_at": 1}}).encode(),
    json.dumps({**sample_clerk_event("user.updated"), "data": {"id": "user_1", "updated_at": 1,
                                                               "email_addresses": "ana@example.com"}}).encode(),
    json.dumps({"object": "event", "type": "user.deleted", "data": {"id": "user_1"}}).encode(),
])
def test_a_verified_body_that_is_not_a_clerk_event_is_an_invalid_payload(client, services, body):
    response, headers = deliver(client, None, body=body)
    assert response.status_code == 400 and response.json["error"]["code"] == "INVALID_PAYLOAD"
    assert services.store.get_event(f"clerk:{headers['svix-id']}") is None  # refused before it is claimed


# --- exactly once -----------------------------------------------------------------------------------------------

def test_a_delivery_is_claimed_once_by_its_svix_id_in_the_events_table(client, services):
    event = sample_clerk_event("user.updated")
    first, headers = deliver(client, event)
    assert first.status_code == 200 and first.json == {"received": True}
    again, _ = deliver(client, event, message_id=headers["svix-id"])
    assert again.status_code == 200 and again.json == {"received": True, "duplicate": True}
    row = services.store.get_event(f"clerk:{headers['svix-id']}")
    assert (row.status, row.attempts, row.event_type) == ("processed", 1, "clerk:user.updated")
    assert services.store.get_event(headers["svix-id"]) is None  # namespaced: never an evt_ id's twin


def test_an_unhandled_type_is_recorded_and_answered_200(client, services):
    event = {"object": "event", "type": "session.created", "data": {"id": "sess_1"}, "timestamp": 1}
    response, headers = deliver(client, event)
    assert response.status_code == 200
    assert services.store.get_event(f"clerk:{headers['svix-id']}").event_type == "clerk:session.created"


def test_parallel_deliveries_of_one_message_run_the_handler_once(app, services, sandbox_stripe):
    customer = member(services)
    event = sample_clerk_event("user.updated", user_id="user_clerk_1", email="ana.once@example.com")
    body = json.dumps(event).encode()
    headers = {"Content-Type": "application/json", **svix_headers(body, CLERK_SECRET)}
    writes_before = len([c for c in sandbox_stripe.requests if c.path == f"/v1/customers/{customer}"
                         and c.method == "POST"])
    answers = parallel(8, lambda i: app.test_client().post("/webhooks/clerk", data=body, headers=headers))
    fresh = [a for a in answers if a.status_code == 200 and "duplicate" not in a.json]
    assert len(fresh) == 1
    assert all(a.status_code in (200, 409) for a in answers)
    writes = [c for c in sandbox_stripe.requests if c.path == f"/v1/customers/{customer}" and c.method == "POST"]
    assert len(writes) - writes_before == 1
    assert at_stripe(sandbox_stripe, customer)["email"] == "ana.once@example.com"


def test_a_failing_handler_is_a_500_and_the_redelivery_applies(client, services, sandbox_stripe, stripe_api):
    customer = member(services)
    event = sample_clerk_event("user.updated", user_id="user_clerk_1", email="ana.retry@example.com")
    failure = stripe_api.add("POST", f"{STRIPE_API}/v1/customers/{customer}", status=500,
                             json={"error": {"type": "api_error", "message": "down"}})
    first, headers = deliver(client, event)
    assert first.status_code == 500
    assert services.store.get_event(f"clerk:{headers['svix-id']}").status == "failed"
    stripe_api.remove(failure)
    retry, _ = deliver(client, event, message_id=headers["svix-id"])
    assert retry.status_code == 200 and "duplicate" not in retry.json  # the same change applies again
    assert at_stripe(sandbox_stripe, customer)["email"] == "ana.retry@example.com"


def test_store_down_is_a_503(clerk_config, sandbox_stripe):
    class DownStore(SQLiteStore):
        def claim_event(self, *args):
            raise StoreUnavailable("connection refused")

    client = create_app(clerk_config, store=DownStore(clerk_config.sqlite_path)).test_client()
    response, _ = deliver(client, sample_clerk_event("user.updated"))
    assert response.status_code == 503


# --- identity ---------------------------------------------------------------------------------------------------

def test_user_updated_overwrites_the_customers_email_and_name(client, services, sandbox_stripe):
    customer = member(services, email="old@example.com", name="Old Name")
    event = sample_clerk_event("user.updated", user_id="user_clerk_1", email="ana@example.com",
                               first_name="Ana", last_name="Souza")
    assert deliver(client, event)[0].status_code == 200
    stored = at_stripe(sandbox_stripe, customer)
    assert (stored["email"], stored["name"]) == ("ana@example.com", "Ana Souza")


def test_an_unverified_primary_email_is_not_written(client, services, sandbox_stripe):
    customer = member(services, email="kept@example.com")
    event = sample_clerk_event("user.updated", user_id="user_clerk_1", email="unproven@example.com",
                               verified=False, first_name="Ana", last_name=None)
    assert deliver(client, event)[0].status_code == 200
    stored = at_stripe(sandbox_stripe, customer)
    assert (stored["email"], stored["name"]) == ("kept@example.com", "Ana")


def test_user_created_updates_a_customer_the_app_made_first(client, services, sandbox_stripe):
    customer = member(services)
    event = sample_clerk_event("user.created", user_id="user_clerk_1", email="first@example.com")
    assert deliver(client, event)[0].status_code == 200
    assert at_stripe(sandbox_stripe, customer)["email"] == "first@example.com"


def test_an_older_change_after_a_newer_one_changes_nothing(client, services, sandbox_stripe):
    customer = member(services)
    now = int(time.time() * 1000)
    newer = sample_clerk_event("user.updated", user_id="user_clerk_1", email="new@example.com", updated_at=now)
    older = sample_clerk_event("user.updated", user_id="user_clerk_1", email="old@example.com", updated_at=now - 1)
    assert deliver(client, newer)[0].status_code == 200
    response, _ = deliver(client, older)
    assert response.status_code == 200 and "duplicate" not in response.json  # recorded, not applied
    assert at_stripe(sandbox_stripe, customer)["email"] == "new@example.com"


def test_a_user_without_a_customer_needs_nothing(client, services, sandbox_stripe):
    before = len(sandbox_stripe.requests)
    response, _ = deliver(client, sample_clerk_event("user.updated", user_id="user_never_bought"))
    assert response.status_code == 200 and len(sandbox_stripe.requests) == before
    assert services.store.get_customer_mapping("user_never_bought") is None


def test_a_customer_being_created_defers_the_delivery_until_it_exists(client, services, sandbox_stripe):
    claim = services.store.claim_customer("user_clerk_2", "tok", 30)
    event = sample_clerk_event("user.updated", user_id="user_clerk_2", email="later@example.com")
    response, headers = deliver(client, event)
    assert response.status_code == 409 and response.json["error"]["code"] == "CUSTOMER_IN_PROGRESS"
    assert response.headers["Retry-After"] == "5"
    assert services.store.get_event(f"clerk:{headers['svix-id']}").status == "failed"  # free for the retry
    customer = services.gateway.create_customer({"metadata": {"clerk_user_id": "user_clerk_2"}}, "key-clerk-2")
    assert services.store.complete_customer("user_clerk_2", claim.mapping.claim_token, customer["id"])
    retry, _ = deliver(client, event, message_id=headers["svix-id"])
    assert retry.status_code == 200 and at_stripe(sandbox_stripe, customer["id"])["email"] == "later@example.com"


# --- erasure ----------------------------------------------------------------------------------------------------

def subscribed_member(services, user="user_clerk_1"):
    """A member with a live subscription (stored), a purchase claim and an applied Clerk change."""
    customer = member(services, user, email="ana@example.com", name="Ana")
    price = next(p for p in services.gateway.list_prices({"type": "recurring", "active": True, "limit": 20})["data"]
                 if p["recurring"]["usage_type"] == "licensed")
    subscription = services.gateway.create_subscription(
        {"customer": customer, "items": [{"price": price["id"]}], "trial_period_days": 7,
         "metadata": {"clerk_user_id": user}}, f"key-{user}")
    services.subscriptions.refresh(subscription["id"])
    services.store.claim_purchase("checkout", user, price["id"], "tok", 30)
    services.store.advance_clerk_user(user, 1)
    assert services.subscriptions.current(user).status == "trialing"
    return customer, subscription["id"]


def test_user_deleted_cancels_deletes_the_customer_and_forgets_every_row(client, services, sandbox_stripe):
    customer, subscription = subscribed_member(services)
    response, _ = deliver(client, sample_clerk_event("user.deleted", user_id="user_clerk_1"))
    assert response.status_code == 200
    assert services.gateway.get_customer(customer) is None
    assert services.gateway.get_subscription(subscription)["status"] == "canceled"
    cancel = next(c for c in sandbox_stripe.requests if c.method == "DELETE" and c.path.endswith(subscription))
    assert cancel.params.get("prorate") in ("false", False)  # ACCOUNT_DELETION_REFUND=none
    assert services.store.get_customer_mapping("user_clerk_1") is None
    assert services.store.list_subscriptions("user_clerk_1") == [] and services.store.get_subscription(subscription) is None
    assert services.subscriptions.current("user_clerk_1") is None
    assert services.store.get_purchase_claim("checkout", "user_clerk_1",
                                             services.gateway.get_subscription(subscription)["items"]["data"][0]
                                             ["price"]["id"]) is None


def test_stripes_late_deliveries_about_an_erased_member_bring_nothing_back(client, services, signed_webhook):
    customer, subscription = subscribed_member(services)
    assert deliver(client, sample_clerk_event("user.deleted", user_id="user_clerk_1"))[0].status_code == 200
    ended = json.loads(json.dumps(services.gateway.get_subscription(subscription), default=str))
    invoice = json.loads(json.dumps(services.gateway.get_invoice(ended["latest_invoice"]), default=str))
    for late in (make_event("customer.subscription.deleted", ended), make_event("invoice.paid", invoice)):
        body, headers = signed_webhook(late)
        assert client.post("/webhooks/stripe", data=body, headers=headers).status_code == 200
    assert services.store.get_subscription(subscription) is None
    assert services.store.list_subscriptions("user_clerk_1") == []
    assert services.store.get_payment(invoice["id"]) is None and services.store.list_payments("user_clerk_1", 10) == []



def test_late_deliveries_after_an_erasure_store_no_features_and_stage_nothing_for_clerk(clerk_config, sandbox_stripe,
                                                                                       signed_webhook):
    app = create_app(clerk_config, clerk=SandboxClerk().client(), publish_in_background=False)
    client, services = app.test_client(), app.extensions["tatame"]
    customer, subscription = subscribed_member(services)
    services.subscriptions.refresh_features(customer)
    assert services.store.get_features(customer).features and services.store.get_outbox("user_clerk_1")
    assert deliver(client, sample_clerk_event("user.deleted", user_id="user_clerk_1"))[0].status_code == 200
    ended = json.loads(json.dumps(services.gateway.get_subscription(subscription), default=str))
    summary = {"object": "entitlements.active_entitlement_summary", "customer": customer,
               "entitlements": {"object": "list", "data": [], "has_more": False}}
    for late in (make_event("customer.subscription.deleted", ended), make_event("customer.subscription.updated", ended),
                 make_event("entitlements.active_entitlement_summary.updated", summary)):
        body, headers = signed_webhook(late)
        assert client.post("/webhooks/stripe", data=body, headers=headers).status_code == 200
    assert services.store.get_features(customer) is None and services.store.get_subscription(subscription) is None
    assert services.store.get_outbox("user_clerk_1") is None and services.store.count_outbox_pending() == 0


def test_prorate_policy_cancels_with_stripes_proration(clerk_config, sandbox_stripe):
    app = create_app(with_config(clerk_config, account_deletion_refund="prorate"))
    services = app.extensions["tatame"]
    _, subscription = subscribed_member(services)
    assert deliver(app.test_client(), sample_clerk_event("user.deleted", user_id="user_clerk_1"))[0].status_code == 200
    cancel = next(c for c in sandbox_stripe.requests if c.method == "DELETE" and c.path.endswith(subscription))
    assert cancel.params.get("prorate") in ("true", True) and cancel.params.get("invoice_now") in ("true", True)


class FailsToForget(SQLiteStore):
    """A store that goes away once, right after Stripe acted: at the first forget_user."""

    failures = 1

    def forget_user(self, *args, **kwargs):
        if self.failures:
            self.failures -= 1
            raise StoreUnavailable("connection lost")
        return super().forget_user(*args, **kwargs)


def test_an_erasure_cut_short_after_stripe_acted_is_finished_by_the_redelivery(clerk_config, sandbox_stripe):
    app = create_app(clerk_config, store=FailsToForget(clerk_config.sqlite_path))
    services, client = app.extensions["tatame"], app.test_client()
    customer, subscription = subscribed_member(services)
    event = sample_clerk_event("user.deleted", user_id="user_clerk_1")
    first, headers = deliver(client, event)
    assert first.status_code == 500
    assert services.gateway.get_customer(customer) is None  # Stripe acted...
    assert services.store.get_customer_mapping("user_clerk_1") is not None  # ...our rows did not go
    retry, _ = deliver(client, event, message_id=headers["svix-id"])
    assert retry.status_code == 200
    assert services.store.get_customer_mapping("user_clerk_1") is None
    assert services.store.get_subscription(subscription) is None


def test_a_repeated_erasure_is_harmless(client, services):
    subscribed_member(services)
    assert deliver(client, sample_clerk_event("user.deleted", user_id="user_clerk_1"))[0].status_code == 200
    again, _ = deliver(client, sample_clerk_event("user.deleted", user_id="user_clerk_1"))  # another message
    assert again.status_code == 200 and "duplicate" not in again.json


def test_flask_accounts_forget_erases_like_user_deleted(app, services):
    customer, _ = subscribed_member(services)
    result = app.test_cli_runner().invoke(args=["accounts", "forget", "user_clerk_1"])
    assert result.exit_code == 0, result.output
    assert "1 subscription(s) canceled, 1 Stripe customer(s) deleted" in result.output
    assert services.gateway.get_customer(customer) is None
    assert services.store.get_customer_mapping("user_clerk_1") is None
