"""POST /webhooks/stripe: signatures, exactly-once processing, failures and retries."""

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from app import create_app
from app.stores.sqlite import SQLiteStore
from tests.conftest import WEBHOOK_SECRET, make_event, with_config


def post(client, body, headers):
    return client.post("/webhooks/stripe", data=body, headers=headers)


def test_new_event_is_processed_then_a_repeat_is_a_duplicate(client, signed_webhook, app):
    event = make_event("customer.created")
    first = post(client, *signed_webhook(event))
    assert first.status_code == 200 and first.json == {"received": True}
    second = post(client, *signed_webhook(event))
    assert second.status_code == 200 and second.json == {"received": True, "duplicate": True}
    row = app.extensions["tatame"].store.get_event(event["id"])
    assert row.status == "processed" and row.attempts == 1 and row.event_type == "customer.created"


def test_customer_deleted_removes_the_mapping(client, signed_webhook, app):
    store = app.extensions["tatame"].store
    claim = store.claim_customer("user_x", "tok", 30)
    store.complete_customer("user_x", "tok", "cus_gone")
    response = post(client, *signed_webhook(make_event("customer.deleted", {"id": "cus_gone", "object": "customer"})))
    assert response.status_code == 200
    assert store.get_customer_mapping("user_x") is None and claim.owned


def test_unknown_event_type_is_recorded_and_answered_200(client, signed_webhook, app):
    event = make_event("radar.early_fraud_warning.created", {"id": "issfr_1", "object": "radar.early_fraud_warning"})
    assert post(client, *signed_webhook(event)).status_code == 200
    assert app.extensions["tatame"].store.get_event(event["id"]).status == "processed"


@pytest.mark.parametrize(
    "event_type",
    ["customer.created", "customer.updated", "customer.deleted", "customer.subscription.created",
     "customer.subscription.updated", "customer.subscription.deleted", "invoice.payment_succeeded",
     "invoice.payment_failed", "checkout.session.completed", "checkout.session.expired"],
)
def test_every_seed_event_type_has_a_handler(client, signed_webhook, event_type, caplog, sandbox_stripe):
    from app.services.webhook_handlers import HANDLERS

    assert event_type in HANDLERS
    with caplog.at_level("INFO", logger="app.webhooks"):
        response = post(client, *signed_webhook(make_event(event_type, {"id": "obj_1", "object": "x"})))
    assert response.status_code == 200
    assert any(getattr(r, "event_type", None) == event_type for r in caplog.records)


def test_missing_signature_is_400(client):
    response = client.post("/webhooks/stripe", data=json.dumps(make_event()), content_type="application/json")
    assert response.status_code == 400 and response.json["error"]["code"] == "MISSING_SIGNATURE"


@pytest.mark.parametrize("case", ["garbage", "wrong_secret", "stale", "future", "tampered", "v0_only", "no_t"])
def test_bad_signature_is_400_and_runs_nothing(client, signed_webhook, app, case):
    event = make_event()
    body, headers = signed_webhook(event, secret="whsec_other" if case == "wrong_secret" else WEBHOOK_SECRET,
                                   timestamp={"stale": int(time.time()) - 301,
                                              "future": int(time.time()) + 301}.get(case))
    if case == "garbage":
        headers["Stripe-Signature"] = "definitely not a signature"
    if case == "tampered":
        body = body.replace(b"cus_test_1", b"cus_test_2")
    if case == "v0_only":
        headers["Stripe-Signature"] = headers["Stripe-Signature"].replace("v1=", "v0=")
    if case == "no_t":
        headers["Stripe-Signature"] = headers["Stripe-Signature"].split(",", 1)[1]
    response = post(client, body, headers)
    assert response.status_code == 400 and response.json["error"]["code"] == "INVALID_SIGNATURE"
    assert app.extensions["tatame"].store.get_event(event["id"]) is None


@pytest.mark.parametrize("body", [b"not json", b"\xff\xfe", b"[]", b'{"id": "evt_1"}',
                                  json.dumps({**make_event(), "object": "customer"}).encode(),
                                  json.dumps({**make_event(), "id": "evt_../x"}).encode(),
                                  json.dumps({**make_event(), "id": "evt_1\n"}).encode(),
                                  json.dumps({**make_event(), "type": "customer.created\n"}).encode(),
                                  b"[" * 100_000,
                                  json.dumps({**make_event(), "data": {"object": "x"}}).encode()])
def test_signed_non_event_is_invalid_payload(client, signed_webhook, body):
    response = post(client, *signed_webhook(body))
    assert response.status_code == 400 and response.json["error"]["code"] == "INVALID_PAYLOAD"


def test_rotated_secrets_are_all_accepted(config, signed_webhook):
    client = create_app(with_config(config, stripe_webhook_secrets=("whsec_old_one", "whsec_new_one"))).test_client()
    assert post(client, *signed_webhook(make_event(), secret="whsec_old_one")).status_code == 200
    assert post(client, *signed_webhook(make_event(), secret="whsec_new_one")).status_code == 200
    assert post(client, *signed_webhook(make_event(), secret=WEBHOOK_SECRET)).status_code == 400


def test_body_over_webhook_limit_is_413(client, signed_webhook):
    event = make_event(obj={"id": "cus_1", "object": "customer", "pad": "x" * (1024 * 1024)})
    response = post(client, *signed_webhook(event))
    assert response.status_code == 413 and response.json["error"]["code"] == "PAYLOAD_TOO_LARGE"


class FlakyStore(SQLiteStore):
    """A real SQLite store whose customer deletion fails the first `failures` times."""

    def __init__(self, path, failures=1):
        super().__init__(path)
        self.failures = failures
        self.deletions = 0

    def delete_customer_mapping(self, stripe_customer_id):
        self.deletions += 1
        if self.failures:
            self.failures -= 1
            raise RuntimeError("downstream exploded")
        return super().delete_customer_mapping(stripe_customer_id)


def test_failing_handler_is_500_recorded_and_retried(config, signed_webhook):
    store = FlakyStore(config.sqlite_path)
    client = create_app(config, store=store).test_client()
    event = make_event("customer.deleted", {"id": "cus_1", "object": "customer"})
    failed = post(client, *signed_webhook(event))
    assert failed.status_code == 500 and failed.json["error"]["code"] == "INTERNAL_ERROR"
    assert "exploded" not in failed.get_data(as_text=True)
    row = store.get_event(event["id"])
    assert row.status == "failed" and row.attempts == 1 and "downstream exploded" in row.last_error
    retried = post(client, *signed_webhook(event))
    assert retried.status_code == 200 and retried.json == {"received": True}
    row = store.get_event(event["id"])
    assert row.status == "processed" and row.attempts == 2 and store.deletions == 2
    assert post(client, *signed_webhook(event)).json["duplicate"] is True


def test_delivery_during_a_live_claim_is_409(client, signed_webhook, app):
    event = make_event()
    app.extensions["tatame"].store.claim_event(event["id"], event["type"], "other-worker", 60)
    response = post(client, *signed_webhook(event))
    assert response.status_code == 409 and response.json["error"]["code"] == "EVENT_IN_PROGRESS"
    assert response.headers["Retry-After"]


def test_abandoned_claim_is_taken_over_after_its_lease(client, signed_webhook, app):
    event = make_event()
    app.extensions["tatame"].store.claim_event(event["id"], event["type"], "crashed-worker", 0.05)
    time.sleep(0.1)
    response = post(client, *signed_webhook(event))
    assert response.status_code == 200 and response.json == {"received": True}
    assert app.extensions["tatame"].store.get_event(event["id"]).attempts == 2


class CountingStore(SQLiteStore):
    """Counts how often the customer.deleted handler's side effect runs, slowly."""

    runs = 0
    lock = threading.Lock()

    def delete_customer_mapping(self, stripe_customer_id):
        with self.lock:
            type(self).runs += 1
        time.sleep(0.05)
        return super().delete_customer_mapping(stripe_customer_id)


def test_parallel_deliveries_run_the_handler_once(config, signed_webhook):
    store = CountingStore(config.sqlite_path)
    app = create_app(config, store=store)
    event = make_event("customer.deleted", {"id": "cus_1", "object": "customer"})
    body, headers = signed_webhook(event)
    barrier = threading.Barrier(20)

    def deliver(_):
        client = app.test_client()
        barrier.wait()
        return post(client, body, headers)

    with ThreadPoolExecutor(20) as pool:
        statuses = [r.status_code for r in pool.map(deliver, range(20))]
    assert CountingStore.runs == 1
    assert statuses.count(200) >= 1 and set(statuses) <= {200, 409}
    assert all(s != 500 for s in statuses)
