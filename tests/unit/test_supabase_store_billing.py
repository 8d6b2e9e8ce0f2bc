"""SupabaseStore's subscription and purchase claim methods on PostgREST's wire format (httpx.MockTransport)."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone

import pytest

from app.stores.base import PurchaseClaim, StoreUnavailable
from app.stores.supabase import PURCHASE_COLUMNS, SUBSCRIPTION_COLUMNS
from tests.unit.test_supabase_store import SUBSCRIPTION, _assert_authenticated, _assert_rpc, fake, store  # noqa: F401

SUBSCRIPTION_ROW = {
    "stripe_subscription_id": "sub_1", "stripe_customer_id": "cus_1", "clerk_user_id": "user_1", "status": "active",
    "price_id": "price_1", "product_id": "prod_1", "quantity": 1, "current_period_end": 4_102_444_800,
    "cancel_at_period_end": False, "cancel_at": None, "canceled_at": None, "trial_end": None,
    "stripe_created": 1_767_225_600, "stamp": 42, "updated_at": "2026-05-01T10:00:00+00:00",
}
PURCHASE_ROW = {
    "id": "7c9e6679-7425-40de-944b-e07fc1f90ae7", "kind": "checkout", "clerk_user_id": "user_1",
    "price_id": "price_1", "status": "open", "generation": 1, "result_id": "cs_1", "result_expires_at": 1_767_312_000,
    "claim_token": None, "lease_expires_at": None, "created_at": "2026-05-01T09:00:00+00:00",
    "updated_at": "2026-05-01T10:00:00+00:00",
}


def test_next_stamp_calls_the_sequence_function(fake, store):
    fake.answer(body=7)
    assert store.next_stamp() == 7
    _assert_rpc(fake.last, "tatame_next_stamp", {})


@pytest.mark.parametrize("body", ["7", 7.5, True, None, [7]], ids=["string", "float", "bool", "null", "list"])
def test_next_stamp_refuses_anything_but_an_integer(fake, store, body):
    fake.answer(body=body)
    with pytest.raises(StoreUnavailable):
        store.next_stamp()


@pytest.mark.parametrize("answer", [True, False])
def test_save_subscription_sends_every_field(fake, store, answer):
    fake.answer(body=answer)
    assert store.save_subscription(SUBSCRIPTION) is answer
    expected = {f"p_{name}": value for name, value in SUBSCRIPTION_ROW.items() if name != "updated_at"}
    _assert_rpc(fake.last, "tatame_save_subscription", expected)


def test_get_and_list_subscriptions_read_rows(fake, store):
    fake.answer(body=[SUBSCRIPTION_ROW])
    record = store.get_subscription("sub_1")
    assert dict(fake.last.url.params) == {"select": SUBSCRIPTION_COLUMNS, "stripe_subscription_id": "eq.sub_1"}
    assert record == dataclasses.replace(SUBSCRIPTION, updated_at=datetime(2026, 5, 1, 10, tzinfo=timezone.utc))
    fake.answer(body=[SUBSCRIPTION_ROW, {**SUBSCRIPTION_ROW, "stripe_subscription_id": "sub_2"}])
    listed = store.list_subscriptions("user_1")
    request = fake.last
    assert (request.method, request.url.path) == ("GET", "/rest/v1/stripe_subscriptions")
    assert dict(request.url.params) == {"select": SUBSCRIPTION_COLUMNS, "clerk_user_id": "eq.user_1"}
    _assert_authenticated(request)
    assert [s.stripe_subscription_id for s in listed] == ["sub_1", "sub_2"]
    fake.answer(body=[])
    assert store.get_subscription("sub_9") is None


def test_attach_subscriptions_returns_the_count(fake, store):
    fake.answer(body=2)
    assert store.attach_subscriptions("cus_1", "user_1") == 2
    _assert_rpc(fake.last, "tatame_attach_subscriptions",
                {"p_stripe_customer_id": "cus_1", "p_clerk_user_id": "user_1"})


def test_get_purchase_claim_filters_on_the_whole_key(fake, store):
    fake.answer(body=[PURCHASE_ROW])
    claim = store.get_purchase_claim("checkout", "user_1", "price_1")
    assert dict(fake.last.url.params) == {"select": PURCHASE_COLUMNS, "kind": "eq.checkout",
                                          "clerk_user_id": "eq.user_1", "price_id": "eq.price_1"}
    assert claim == PurchaseClaim(
        id=PURCHASE_ROW["id"], kind="checkout", clerk_user_id="user_1", price_id="price_1", status="open",
        generation=1, result_id="cs_1", result_expires_at=1_767_312_000, claim_token=None, lease_expires_at=None,
        created_at=datetime(2026, 5, 1, 9, tzinfo=timezone.utc),
        updated_at=datetime(2026, 5, 1, 10, tzinfo=timezone.utc),
    )


@pytest.mark.parametrize("owned", [True, False])
def test_claim_purchase_calls_the_function(fake, store, owned):
    fake.answer(body={**PURCHASE_ROW, "owned": owned})
    result = store.claim_purchase("checkout", "user_1", "price_1", "tok-a", 30, stale_result_id="cs_0")
    _assert_rpc(fake.last, "tatame_claim_purchase", {
        "p_kind": "checkout", "p_clerk_user_id": "user_1", "p_price_id": "price_1", "p_token": "tok-a",
        "p_lease_seconds": 30.0, "p_stale_result_id": "cs_0",
    })
    assert result.owned is owned and result.claim.result_id == "cs_1"


def test_complete_and_release_purchase(fake, store):
    fake.answer(body=True)
    assert store.complete_purchase("payment_sheet", "user_1", "price_1", "tok-a", "sub_1", None) is True
    key = {"p_kind": "payment_sheet", "p_clerk_user_id": "user_1", "p_price_id": "price_1", "p_token": "tok-a"}
    _assert_rpc(fake.last, "tatame_complete_purchase", {**key, "p_result_id": "sub_1", "p_result_expires_at": None})
    fake.answer(body=False)
    assert store.release_purchase_claim("payment_sheet", "user_1", "price_1", "tok-a") is None
    _assert_rpc(fake.last, "tatame_release_purchase_claim", key)


@pytest.mark.parametrize(
    "call, body",
    [
        (lambda s: s.get_subscription("sub_1"), [{**SUBSCRIPTION_ROW, "cancel_at_period_end": "false"}]),
        (lambda s: s.list_subscriptions("user_1"), [{"stripe_subscription_id": "sub_1"}]),
        (lambda s: s.list_subscriptions("user_1"), {"rows": []}),
        (lambda s: s.save_subscription(SUBSCRIPTION), 1),
        (lambda s: s.attach_subscriptions("cus_1", "user_1"), "2"),
        (lambda s: s.claim_purchase("checkout", "user_1", "price_1", "tok", 30), [PURCHASE_ROW]),
        (lambda s: s.get_purchase_claim("checkout", "user_1", "price_1"), [{**PURCHASE_ROW, "generation": None}]),
    ],
    ids=["string-for-bool", "row-missing-columns", "object-for-list", "int-for-bool", "string-for-count",
         "list-for-row", "null-generation"],
)
def test_unreadable_answers_are_unavailable(fake, store, call, body):
    fake.answer(body=body)
    with pytest.raises(StoreUnavailable):
        call(store)
