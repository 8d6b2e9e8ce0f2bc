"""Stripe failing every way it can, the store going away and coming back."""

import socket
import threading
import time

import pytest
import responses

from app import create_app
from app.stores.base import StoreUnavailable
from app.stores.sqlite import SQLiteStore
from tests.conftest import make_event, with_config
from tests.servers import free_port

PRODUCTS = "https://api.stripe.com/v1/products"


@pytest.fixture
def retrying_client(config):
    """The production retry policy: two network retries."""
    return create_app(with_config(config, stripe_max_retries=2)).test_client()


@pytest.mark.parametrize("status, attempts", [(500, 3), (503, 3), (429, 1), (401, 1), (400, 1)])
def test_stripe_errors_are_502_after_the_retries(retrying_client, auth_headers, stripe_api, status, attempts):
    stripe_api.add(responses.GET, PRODUCTS, status=status,
                   json={"error": {"type": "api_error", "message": "upstream says sk_test_secret"}})
    started = time.monotonic()
    response = retrying_client.get("/stripe/products", headers=auth_headers())
    assert response.status_code == 502 and response.json["error"]["code"] == "SERVICE_ERROR"
    assert "upstream" not in response.get_data(as_text=True)
    assert len(stripe_api.calls) == attempts
    assert time.monotonic() - started < 10  # two back-offs of 0.5–2 s at most


def test_stripe_recovering_during_the_retries_is_a_success(retrying_client, auth_headers, stripe_api):
    stripe_api.add(responses.GET, PRODUCTS, status=500, json={"error": {"type": "api_error"}})
    stripe_api.add(responses.GET, PRODUCTS, json={"object": "list", "data": [], "has_more": False, "url": "/v1/products"})
    assert retrying_client.get("/stripe/products", headers=auth_headers()).status_code == 200


@pytest.fixture
def silent_server():
    """Accepts connections and never answers: what a hung upstream looks like."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted = []
    stop = threading.Event()

    def accept():
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}", accepted
    stop.set()
    thread.join(2)
    for conn in accepted:
        conn.close()
    listener.close()


def test_stripe_timing_out_is_502_within_the_timeout_budget(config, auth_headers, silent_server):
    url, accepted = silent_server
    client = create_app(with_config(config, stripe_api_base=url, stripe_timeout=0.3, stripe_max_retries=1)).test_client()
    started = time.monotonic()
    response = client.get("/stripe/products", headers=auth_headers())
    elapsed = time.monotonic() - started
    assert response.status_code == 502
    assert len(accepted) == 2  # the first try and one retry
    assert elapsed < 0.3 * 2 + 2.5  # two timeouts plus one back-off


def test_stripe_refusing_connections_is_502(config, auth_headers):
    closed = f"http://127.0.0.1:{free_port()}"
    client = create_app(with_config(config, stripe_api_base=closed, stripe_max_retries=0)).test_client()
    assert client.get("/stripe/products", headers=auth_headers()).status_code == 502
    assert client.post("/stripe/customer", headers=auth_headers()).status_code == 502


class SwitchableStore(SQLiteStore):
    """A real SQLite store that can be made unreachable, like a database going away."""

    down = False

    def _connection(self):
        if self.down:
            raise StoreUnavailable("connection refused")
        return super()._connection()


def test_webhook_during_a_store_outage_is_5xx_and_processed_once_it_is_back(config, signed_webhook):
    store = SwitchableStore(config.sqlite_path)
    client = create_app(config, store=store).test_client()
    event = make_event("customer.deleted", {"id": "cus_1", "object": "customer"})
    store.down = True
    during = client.post("/webhooks/stripe", data=signed_webhook(event)[0], headers=signed_webhook(event)[1])
    assert during.status_code == 503 and during.json["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert client.get("/health/ready").status_code == 503
    store.down = False
    after = client.post("/webhooks/stripe", data=signed_webhook(event)[0], headers=signed_webhook(event)[1])
    assert after.status_code == 200 and after.json == {"received": True}
    assert store.get_event(event["id"]).attempts == 1


def test_customer_during_a_store_outage_is_503_and_makes_no_stripe_customer(config, auth_headers, stripe_api):
    store = SwitchableStore(config.sqlite_path)
    store.down = True
    client = create_app(config, store=store).test_client()
    response = client.post("/stripe/customer", headers=auth_headers())
    assert response.status_code == 503 and len(stripe_api.calls) == 0


def test_store_failing_after_the_stripe_call_leaves_the_claim_to_expire(config, auth_headers, stripe_api):
    """The customer exists in Stripe but not in our mapping: the retry finds it by idempotency key."""
    import json as jsonlib

    creations = []

    def create(request):
        creations.append(request.headers["Idempotency-Key"])
        return 200, {}, jsonlib.dumps({"id": "cus_once", "object": "customer", "metadata": {}})

    stripe_api.add_callback(responses.POST, "https://api.stripe.com/v1/customers", callback=create)
    # Stripe's search is eventually consistent: a customer made a moment ago may not show up yet.
    stripe_api.add(responses.GET, "https://api.stripe.com/v1/customers/search",
                   json={"object": "search_result", "data": [], "has_more": False})

    class FailsOnComplete(SQLiteStore):
        fail = True

        def complete_customer(self, *args):
            if self.fail:
                self.fail = False
                raise StoreUnavailable("lost the connection")
            return super().complete_customer(*args)

    store = FailsOnComplete(config.sqlite_path)
    client = create_app(with_config(config, customer_lease_seconds=0.2), store=store).test_client()
    assert client.post("/stripe/customer", headers=auth_headers()).status_code == 503
    time.sleep(0.25)
    retried = client.post("/stripe/customer", headers=auth_headers())
    assert retried.status_code == 201 and retried.json["data"]["id"] == "cus_once"
    assert len(creations) == 2 and len(set(creations)) == 1  # the same key: Stripe replays one customer
