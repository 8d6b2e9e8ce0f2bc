"""SupabaseStore against PostgREST's wire format, with the network faked by httpx.MockTransport."""

from __future__ import annotations

import json
import socket
import time
from datetime import datetime, timezone

import httpx
import pytest
from postgrest.exceptions import APIError

from app.stores.base import ClaimOutcome, CustomerMapping, StoreUnavailable, SubscriptionRecord, WebhookEvent
from app.stores.supabase import CUSTOMER_COLUMNS, EVENT_COLUMNS, SupabaseStore

URL = "https://project-ref.supabase.co"
KEY = "test-service-role-key-not-real"

CUSTOMER_ROW = {
    "id": "5f0f8a4e-3c1b-4f57-9a51-6f1f2b8f0c11",
    "user_id": "user_1",
    "clerk_user_id": "user_1",
    "stripe_customer_id": None,
    "status": "pending",
    "generation": 0,
    "claim_token": "tok-a",
    "lease_expires_at": "2026-05-01T10:00:30.123456+00:00",
    "created_at": "2026-05-01T10:00:00.123456+00:00",
    "updated_at": "2026-05-01T12:00:00+02:00",
}
EVENT_ROW = {
    "id": "0b1e3d57-7a0f-4f0e-8a0c-2f6f3c8a9d22",
    "stripe_event_id": "evt_1",
    "event_type": "invoice.payment_failed",
    "status": "processing",
    "attempts": 2,
    "last_error": "boom",
    "claim_token": "tok-a",
    "lease_expires_at": "2026-05-01T10:00:30.5+00:00",
    "processed_at": None,
    "created_at": "2026-05-01T09:00:00+00:00",
    "updated_at": "2026-05-01T10:00:00+00:00",
}

SUBSCRIPTION = SubscriptionRecord(
    stripe_subscription_id="sub_1", stripe_customer_id="cus_1", clerk_user_id="user_1", status="active",
    price_id="price_1", product_id="prod_1", quantity=1, current_period_end=4_102_444_800,
    cancel_at_period_end=False, cancel_at=None, canceled_at=None, trial_end=None, stripe_created=1_767_225_600,
    stamp=42,
)


class FakeSupabase:
    """Answers every request with the next queued response (or raises it) and records the requests."""

    def __init__(self):
        self.requests: list[httpx.Request] = []
        self.answers: list = []

    def answer(self, status=200, body=None, *, raises: Exception | None = None, text: str | None = None):
        if raises is not None:
            self.answers.append(raises)
        elif text is not None:
            self.answers.append(httpx.Response(status, text=text))
        else:
            self.answers.append(httpx.Response(status, json=body))

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]


@pytest.fixture
def fake():
    return FakeSupabase()


@pytest.fixture
def store(fake):
    with httpx.Client(transport=httpx.MockTransport(fake)) as client:
        yield SupabaseStore(URL, KEY, http_client=client)


def _assert_authenticated(request: httpx.Request) -> None:
    assert request.headers["apikey"] == KEY
    assert request.headers["authorization"] == f"Bearer {KEY}"


def _assert_rpc(request: httpx.Request, function: str, body: dict) -> None:
    assert request.method == "POST"
    assert request.url.host == "project-ref.supabase.co"
    assert request.url.path == f"/rest/v1/rpc/{function}"
    assert not request.url.params
    assert json.loads(request.content) == body
    assert request.headers["content-type"] == "application/json"
    _assert_authenticated(request)


def test_building_the_store_sends_nothing(fake, store):
    assert fake.requests == []


# --- reads ----------------------------------------------------------------------------------

def test_ping_selects_one_id(fake, store):
    fake.answer(body=[])
    store.ping()
    request = fake.last
    assert (request.method, request.url.path) == ("GET", "/rest/v1/stripe_webhook_events")
    assert dict(request.url.params) == {"select": "id", "limit": "1"}
    _assert_authenticated(request)


def test_get_customer_mapping_reads_one_row(fake, store):
    fake.answer(body=[CUSTOMER_ROW])
    mapping = store.get_customer_mapping("user_1")
    request = fake.last
    assert (request.method, request.url.path) == ("GET", "/rest/v1/stripe_customer_mapping")
    assert dict(request.url.params) == {"select": CUSTOMER_COLUMNS, "clerk_user_id": "eq.user_1"}
    _assert_authenticated(request)
    assert mapping == CustomerMapping(
        id="5f0f8a4e-3c1b-4f57-9a51-6f1f2b8f0c11",
        clerk_user_id="user_1",
        stripe_customer_id=None,
        status="pending",
        generation=0,
        claim_token="tok-a",
        lease_expires_at=datetime(2026, 5, 1, 10, 0, 30, 123456, tzinfo=timezone.utc),
        created_at=datetime(2026, 5, 1, 10, 0, 0, 123456, tzinfo=timezone.utc),
        updated_at=datetime(2026, 5, 1, 10, 0, 0, tzinfo=timezone.utc),  # +02:00 turned to UTC
    )
    assert mapping.updated_at.tzinfo is timezone.utc


def test_get_customer_mapping_absent(fake, store):
    fake.answer(body=[])
    assert store.get_customer_mapping("user_1") is None


def test_filter_values_are_sent_verbatim(fake, store):
    fake.answer(body=[])
    store.get_customer_mapping("user_a.b,c")
    assert fake.last.url.params["clerk_user_id"] == "eq.user_a.b,c"


def test_get_event_reads_one_row(fake, store):
    fake.answer(body=[EVENT_ROW])
    event = store.get_event("evt_1")
    assert dict(fake.last.url.params) == {"select": EVENT_COLUMNS, "stripe_event_id": "eq.evt_1"}
    assert fake.last.url.path == "/rest/v1/stripe_webhook_events"
    assert event == WebhookEvent(
        stripe_event_id="evt_1",
        event_type="invoice.payment_failed",
        status="processing",
        attempts=2,
        last_error="boom",
        claim_token="tok-a",
        lease_expires_at=datetime(2026, 5, 1, 10, 0, 30, 500000, tzinfo=timezone.utc),
        processed_at=None,
        created_at=datetime(2026, 5, 1, 9, 0, tzinfo=timezone.utc),
        updated_at=datetime(2026, 5, 1, 10, 0, tzinfo=timezone.utc),
    )


def test_timestamps_without_an_offset_are_read_as_utc(fake, store):
    fake.answer(body=[{**EVENT_ROW, "created_at": "2026-05-01T09:00:00"}])
    assert store.get_event("evt_1").created_at == datetime(2026, 5, 1, 9, 0, tzinfo=timezone.utc)


# --- customer writes --------------------------------------------------------------------------

@pytest.mark.parametrize("owned", [True, False])
def test_claim_customer_calls_the_function(fake, store, owned):
    fake.answer(body={**CUSTOMER_ROW, "owned": owned})
    claim = store.claim_customer("user_1", "tok-a", 30)
    _assert_rpc(fake.last, "tatame_claim_customer", {
        "p_clerk_user_id": "user_1", "p_token": "tok-a", "p_lease_seconds": 30.0, "p_stale_customer_id": None,
    })
    assert claim.owned is owned
    assert claim.mapping.claim_token == "tok-a" and claim.mapping.status == "pending"


def test_claim_customer_with_a_stale_customer(fake, store):
    fake.answer(body={**CUSTOMER_ROW, "generation": 1, "owned": True})
    claim = store.claim_customer("user_1", "tok-a", 0.5, stale_customer_id="cus_old")
    assert json.loads(fake.last.content)["p_stale_customer_id"] == "cus_old"
    assert json.loads(fake.last.content)["p_lease_seconds"] == 0.5
    assert claim.mapping.generation == 1


@pytest.mark.parametrize("answer", [True, False])
def test_complete_customer(fake, store, answer):
    fake.answer(body=answer)
    assert store.complete_customer("user_1", "tok-a", "cus_1") is answer
    _assert_rpc(fake.last, "tatame_complete_customer", {
        "p_clerk_user_id": "user_1", "p_token": "tok-a", "p_stripe_customer_id": "cus_1",
    })


def test_release_customer_claim(fake, store):
    fake.answer(body=False)
    assert store.release_customer_claim("user_1", "tok-a") is None
    _assert_rpc(fake.last, "tatame_release_customer_claim", {"p_clerk_user_id": "user_1", "p_token": "tok-a"})


@pytest.mark.parametrize("rows", [0, 1, 2])
def test_delete_customer_mapping_counts_the_returned_rows(fake, store, rows):
    fake.answer(body=[CUSTOMER_ROW] * rows)
    assert store.delete_customer_mapping("cus_1") == rows
    request = fake.last
    assert (request.method, request.url.path) == ("DELETE", "/rest/v1/stripe_customer_mapping")
    assert dict(request.url.params) == {"stripe_customer_id": "eq.cus_1"}
    assert "return=representation" in request.headers["prefer"]
    _assert_authenticated(request)


# --- event writes -----------------------------------------------------------------------------

@pytest.mark.parametrize("outcome", list(ClaimOutcome))
def test_claim_event_maps_the_outcome(fake, store, outcome):
    fake.answer(body={**EVENT_ROW, "outcome": outcome.value})
    claim = store.claim_event("evt_1", "invoice.payment_failed", "tok-a", 60)
    _assert_rpc(fake.last, "tatame_claim_event", {
        "p_event_id": "evt_1", "p_event_type": "invoice.payment_failed", "p_token": "tok-a", "p_lease_seconds": 60.0,
    })
    assert claim.outcome is outcome
    assert (claim.event.attempts, claim.event.last_error) == (2, "boom")


@pytest.mark.parametrize("answer", [True, False])
def test_mark_event_processed(fake, store, answer):
    fake.answer(body=answer)
    assert store.mark_event_processed("evt_1", "tok-a") is answer
    _assert_rpc(fake.last, "tatame_mark_event_processed", {"p_event_id": "evt_1", "p_token": "tok-a"})


def test_mark_event_failed_truncates_the_error(fake, store):
    fake.answer(body=True)
    assert store.mark_event_failed("evt_1", "tok-a", "x" * 5000 + "\x00") is True
    _assert_rpc(fake.last, "tatame_mark_event_failed", {"p_event_id": "evt_1", "p_token": "tok-a", "p_error": "x" * 2000})


def test_mark_event_failed_replaces_nul_characters(fake, store):
    fake.answer(body=False)
    store.mark_event_failed("evt_1", "tok-a", "bad\x00byte")
    assert json.loads(fake.last.content)["p_error"] == "bad\ufffdbyte"


# --- failures ---------------------------------------------------------------------------------

def _call_each_method(store):
    return [
        store.ping,
        lambda: store.get_customer_mapping("user_1"),
        lambda: store.claim_customer("user_1", "tok", 30),
        lambda: store.complete_customer("user_1", "tok", "cus_1"),
        lambda: store.release_customer_claim("user_1", "tok"),
        lambda: store.delete_customer_mapping("cus_1"),
        lambda: store.claim_event("evt_1", "t", "tok", 30),
        lambda: store.mark_event_processed("evt_1", "tok"),
        lambda: store.mark_event_failed("evt_1", "tok", "e"),
        lambda: store.get_event("evt_1"),
        store.next_stamp,
        lambda: store.save_subscription(SUBSCRIPTION),
        lambda: store.get_subscription("sub_1"),
        lambda: store.list_subscriptions("user_1"),
        lambda: store.attach_subscriptions("cus_1", "user_1"),
        lambda: store.get_purchase_claim("checkout", "user_1", "price_1"),
        lambda: store.claim_purchase("checkout", "user_1", "price_1", "tok", 30),
        lambda: store.complete_purchase("checkout", "user_1", "price_1", "tok", "cs_1", 1),
        lambda: store.release_purchase_claim("checkout", "user_1", "price_1", "tok"),
    ]


OUTAGES = {
    "connect-error": dict(raises=httpx.ConnectError("[Errno 111] Connection refused")),
    "read-timeout": dict(raises=httpx.ReadTimeout("timed out")),
    "connect-timeout": dict(raises=httpx.ConnectTimeout("")),
    "connection-reset": dict(raises=httpx.RemoteProtocolError("Server disconnected without sending a response.")),
    "gateway-502-html": dict(status=502, text="<html>Bad Gateway</html>"),
    "503-empty": dict(status=503, text=""),
    "504-json-no-code": dict(status=504, body={"message": "upstream request timeout"}),
    "postgrest-cannot-connect": dict(status=503, body={"code": "PGRST000", "message": "Could not connect"}),
    "pool-timeout": dict(status=504, body={"code": "PGRST003", "message": "Timed out acquiring connection"}),
    "statement-timeout": dict(status=500, body={"code": "57014", "message": "canceling statement due to timeout"}),
    "too-many-connections": dict(status=500, body={"code": "53300", "message": "too many connections"}),
    "deadlock": dict(status=500, body={"code": "40P01", "message": "deadlock detected"}),
    "invalid-api-key": dict(status=401, body={"message": "Invalid API key", "hint": "Double check the key"}),
    "jwt-refused": dict(status=401, body={"code": "PGRST301", "message": "JWT invalid"}),
    "permission-denied": dict(status=401, body={"code": "42501", "message": "permission denied for table x"}),
}


@pytest.mark.parametrize("outage", OUTAGES.values(), ids=OUTAGES.keys())
def test_outages_become_store_unavailable(fake, store, outage):
    methods = _call_each_method(store)
    for method in methods:
        fake.answer(**outage)
        with pytest.raises(StoreUnavailable) as caught:
            method()
        assert KEY not in str(caught.value)
    assert len(fake.requests) == len(methods)  # one request each: nothing retried, nothing slept


def test_the_key_never_appears_in_the_message_even_when_echoed(fake, store):
    fake.answer(raises=httpx.ConnectError(f"cannot reach {URL} with apikey={KEY}"))
    with pytest.raises(StoreUnavailable) as caught:
        store.claim_event("evt_1", "t", "tok", 30)
    assert KEY not in str(caught.value) and "[redacted]" in str(caught.value)
    fake.answer(status=500, body={"code": "08006", "message": f"bad key {KEY}"})
    with pytest.raises(StoreUnavailable) as caught:
        store.get_event("evt_1")
    assert KEY not in str(caught.value) and "08006" in str(caught.value)


def test_request_errors_are_not_outages(fake, store):
    fake.answer(status=409, body={"code": "23505", "message": "duplicate key value violates unique constraint"})
    with pytest.raises(APIError) as caught:
        store.complete_customer("user_1", "tok", "cus_taken")
    assert caught.value.code == "23505"


def test_ping_turns_any_error_into_unavailable(fake, store):
    fake.answer(status=404, body={"code": "PGRST205", "message": "Could not find the table in the schema cache"})
    with pytest.raises(StoreUnavailable, match="PGRST205"):
        store.ping()


@pytest.mark.parametrize(
    "call, body",
    [
        (lambda s: s.claim_event("evt_1", "t", "tok", 30), [EVENT_ROW]),
        (lambda s: s.claim_event("evt_1", "t", "tok", 30), {**EVENT_ROW, "outcome": "maybe"}),
        (lambda s: s.claim_customer("user_1", "tok", 30), {"owned": True}),
        (lambda s: s.complete_customer("user_1", "tok", "cus_1"), "true"),
        (lambda s: s.get_event("evt_1"), {"stripe_event_id": "evt_1"}),
        (lambda s: s.get_event("evt_1"), [{**EVENT_ROW, "created_at": "yesterday"}]),
        (lambda s: s.delete_customer_mapping("cus_1"), {"deleted": 1}),
        (lambda s: s.ping(), "<html>captive portal</html>"),
    ],
    ids=["list-for-row", "bad-outcome", "row-missing-columns", "string-for-bool", "object-for-list",
         "bad-timestamp", "object-for-rows", "html-200"],
)
def test_unreadable_answers_are_unavailable(fake, store, call, body):
    if isinstance(body, str) and body.startswith("<"):
        fake.answer(text=body)
    else:
        fake.answer(body=body)
    with pytest.raises(StoreUnavailable):
        call(store)


def test_the_timeout_bounds_a_silent_server():
    """A real socket on 127.0.0.1 that accepts connections and never answers."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        store = SupabaseStore(f"http://127.0.0.1:{port}", KEY, timeout=0.3)
        started = time.monotonic()
        try:
            with pytest.raises(StoreUnavailable, match="Timeout") as caught:
                store.ping()
        finally:
            store.close()
        assert time.monotonic() - started < 3
        assert KEY not in str(caught.value)


def test_a_closed_port_is_unavailable():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    store = SupabaseStore(f"http://127.0.0.1:{port}", KEY, timeout=2)
    try:
        with pytest.raises(StoreUnavailable, match="ConnectError"):
            store.claim_event("evt_1", "t", "tok", 30)
    finally:
        store.close()


# --- payment history ---------------------------------------------------------------------------------
PAYMENT_ROW = {"stripe_id": "in_1", "kind": "invoice", "clerk_user_id": "user_1", "stripe_customer_id": "cus_1",
               "number": "A-1", "status": "paid", "amount_due": 100, "amount_paid": 100, "currency": "brl",
               "stripe_created": 1_767_225_600, "period_start": 1, "period_end": 2, "description": "Plan",
               "hosted_invoice_url": "https://i.example.test/1", "invoice_pdf": None, "receipt_url": None, "stamp": 7,
               "updated_at": "2026-01-01T00:00:00+00:00"}


def test_list_payments_calls_the_function_with_the_cursor(fake, store):
    fake.answer(body=[PAYMENT_ROW])
    [row] = store.list_payments("user_1", 11, (1_767_225_600, "in_2"))
    _assert_rpc(fake.last, "tatame_list_payments", {"p_clerk_user_id": "user_1", "p_limit": 11,
                                                    "p_after_created": 1_767_225_600, "p_after_id": "in_2"})
    assert (row.stripe_id, row.stamp, row.period_end, row.updated_at.tzinfo is not None) == ("in_1", 7, 2, True)


@pytest.mark.parametrize("body", [{"data": []}, [["in_1"]], [{**PAYMENT_ROW, "amount_due": "lots"}],
                                  [{"stripe_id": "in_1"}]],
                         ids=["object-for-list", "list-for-row", "bad-integer", "row-missing-columns"])
def test_unreadable_payment_lists_are_unavailable(fake, store, body):
    fake.answer(body=body)
    with pytest.raises(StoreUnavailable):
        store.list_payments("user_1", 10)
