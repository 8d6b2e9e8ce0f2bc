"""The services through their methods, without Flask."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import responses

from sandbox.in_process import sandbox_gateway
from app.services.catalog import CatalogService
from app.services.customers import CustomerService, idempotency_key
from app.services.errors import CustomerInProgress, EventFailed, EventInProgress, InvalidPayload, UpstreamError
from app.services.rate_limit import RateLimiter
from app.services.errors import RateLimited
from app.services.webhook_signature import sign_header
from app.services.webhooks import WebhookService
from app.stores.sqlite import SQLiteStore
from config import STRIPE_API_VERSION
from tests.conftest import STRIPE_API, make_event
from tests.sandbox_stripe import Observed

SECRET = "whsec_fake_secret_for_tests_only"


@pytest.fixture
def in_process_stripe():
    """The sandbox's Stripe, recording what reaches it."""
    return Observed()


@pytest.fixture
def gateway(in_process_stripe):
    """The production gateway over the sandbox's Stripe, in process (as in development)."""
    return sandbox_gateway(in_process_stripe, STRIPE_API_VERSION)


@pytest.fixture
def store(tmp_path):
    return SQLiteStore(str(tmp_path / "db.sqlite3"))


def test_catalog_loads_the_whole_list_once_and_pages_it_itself(tmp_path, gateway, in_process_stripe):
    from cachelib import SimpleCache

    from app.services.catalog_cache import CatalogCache
    from app.services.shared_version import FileVersion

    catalog = CatalogService(gateway, CatalogCache(SimpleCache(), FileVersion(tmp_path / "v")))
    page = catalog.list_products(active=True, limit=1, starting_after=None)
    assert [call.params for call in in_process_stripe.requests] == [{"limit": "100", "expand": ["data.default_price"]}]
    assert page.count == 1 and page.has_more is True
    catalog.list_products(active=False, limit=5, starting_after=None)
    assert len(in_process_stripe.requests) == 1


def test_customer_created_once_with_clerk_metadata(store, gateway, in_process_stripe):
    service = CustomerService(store, gateway)
    customer, created = service.get_or_create("user_1", email="a@example.com", name="Ana")
    assert created and customer["metadata"] == {"clerk_user_id": "user_1"} and customer["email"] == "a@example.com"
    assert service.get_or_create("user_1") == (customer, False)
    assert in_process_stripe.creations == 1


def test_idempotency_key_names_one_creation(store):
    first = store.claim_customer("user_1", "t1", 30).mapping
    assert idempotency_key(first) == idempotency_key(store.get_customer_mapping("user_1"))
    store.complete_customer("user_1", "t1", "cus_1")
    replaced = store.claim_customer("user_1", "t2", 30, stale_customer_id="cus_1").mapping
    store.complete_customer("user_1", "t2", "cus_2")
    store.delete_customer_mapping("cus_2")
    remade = store.claim_customer("user_1", "t3", 30).mapping
    assert len({idempotency_key(first), idempotency_key(replaced), idempotency_key(remade)}) == 3
    long_user = store.claim_customer("u" * 5000, "t4", 30).mapping
    assert len(idempotency_key(long_user)) < 255


def test_crashed_creator_is_taken_over_with_the_same_idempotency_key(store, gateway, in_process_stripe):
    # A worker claimed, created the Stripe customer, then died before recording it.
    claim = store.claim_customer("user_1", "dead-worker", 0.01)
    orphan = gateway.create_customer({"metadata": {"clerk_user_id": "user_1"}}, idempotency_key(claim.mapping))
    import time

    time.sleep(0.02)
    customer, created = CustomerService(store, gateway).get_or_create("user_1")
    assert customer["id"] == orphan["id"] and in_process_stripe.creations == 1 and claim.owned and created


def test_waiter_gives_up_with_customer_in_progress(store, gateway):
    store.claim_customer("user_1", "slow-worker", 60)
    service = CustomerService(store, gateway, wait_seconds=0.05, poll_seconds=0.01)
    with pytest.raises(CustomerInProgress):
        service.get_or_create("user_1")


def test_failed_create_frees_the_claim(store, stripe_gateway, sandbox_stripe, stripe_api):
    down = stripe_api.add(responses.POST, STRIPE_API + "/v1/customers", status=500, json={"error": {"type": "api_error"}})
    service = CustomerService(store, stripe_gateway)
    with pytest.raises(UpstreamError):
        service.get_or_create("user_1")
    stripe_api.remove(down)  # Stripe is back
    assert service.get_or_create("user_1")[1] is True


def test_many_threads_one_customer(store, gateway, in_process_stripe):
    service = CustomerService(store, gateway, poll_seconds=0.005)
    barrier = threading.Barrier(16)

    def call(_):
        barrier.wait()
        return service.get_or_create("user_race")

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(call, range(16)))
    assert in_process_stripe.creations == 1
    assert sum(created for _, created in results) == 1
    assert len({customer["id"] for customer, _ in results}) == 1


def webhook_service(store, handlers):
    from cachelib import SimpleCache

    from app.services.catalog_cache import CatalogCache
    from app.services.shared_version import FileVersion
    from app.services.webhook_handlers import HandlerContext

    gateway = sandbox_gateway(Observed(), STRIPE_API_VERSION)
    catalog = CatalogService(gateway, CatalogCache(SimpleCache(), FileVersion(store.path + ".version")))
    from app.services.subscriptions import SubscriptionSync

    context = HandlerContext(store=store, gateway=gateway, catalog=catalog, customers=CustomerService(store, gateway),
                             subscriptions=SubscriptionSync(store, gateway),
                             billing=None, payments=None)  # the handlers these tests register reach neither
    return WebhookService(store, handlers, context=context, limiter=RateLimiter({}, enabled=False),
                          secrets=(SECRET,), tolerance=300, lease_seconds=30)


def test_webhook_handler_runs_once_and_failures_are_retried(store):
    runs = []

    def flaky(event, ctx):
        runs.append(event["id"])
        if len(runs) == 1:
            raise ValueError("first try fails")

    service = webhook_service(store, {"customer.created": flaky})
    event = make_event()
    with pytest.raises(EventFailed):
        service.process(event)
    assert store.get_event(event["id"]).last_error == "ValueError: first try fails"
    assert service.process(event).duplicate is False
    assert service.process(event).duplicate is True
    assert len(runs) == 2


def test_webhook_in_progress(store):
    event = make_event()
    store.claim_event(event["id"], event["type"], "other", 30)
    with pytest.raises(EventInProgress):
        webhook_service(store, {}).process(event)


def test_webhook_parse_checks_the_event_shape(store):
    service = webhook_service(store, {})
    body = b'{"object": "event", "id": "evt_1", "type": "x.y"}'
    with pytest.raises(InvalidPayload):
        service.parse(body, sign_header(body, SECRET))


def test_rate_limiter_counts_per_key_and_can_be_disabled():
    limiter = RateLimiter({"user": "2/minute"})
    limiter.hit("user", "a")
    limiter.hit("user", "a")
    with pytest.raises(RateLimited) as error:
        limiter.hit("user", "a")
    # A sliding window: requests of this window still weigh in the next, so the wait can pass 60 s.
    assert 1 <= error.value.retry_after <= 2 * 60
    limiter.hit("user", "b")
    off = RateLimiter({"user": "1/minute"}, enabled=False)
    for _ in range(5):
        off.hit("user", "a")
