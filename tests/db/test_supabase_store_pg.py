"""SupabaseStore against the real schema and functions, through a PostgREST stand-in.

The shared contract suite runs here end to end: SupabaseStore's requests are answered by the
real tatame_* functions and tables on PostgreSQL (see PostgrestShim in conftest.py), so the
SQL and the Python that reads its answers are proven to agree.
"""

from __future__ import annotations

import httpx
import pytest
from postgrest.exceptions import APIError

from app.stores.base import StoreUnavailable
from app.stores.supabase import SupabaseStore
from tests.stores_contract import StoreContract

from .conftest import SERVICE_KEY

URL = "http://supabase.test"


@pytest.fixture
def make_store(postgrest):
    stores = []

    def make(key: str = SERVICE_KEY) -> SupabaseStore:
        client = httpx.Client(transport=httpx.MockTransport(postgrest))
        stores.append(client)
        return SupabaseStore(URL, key, http_client=client)

    yield make
    for client in stores:
        client.close()


class TestSupabaseStoreOnPostgres(StoreContract):
    @pytest.fixture
    def store(self, db, make_store):
        return make_store()


def test_a_customer_id_taken_by_another_user_is_an_error_not_an_outage(db, make_store):
    store = make_store()
    for user in ("user_1", "user_2"):
        assert store.claim_customer(user, f"tok-{user}", 30).owned
    assert store.complete_customer("user_1", "tok-user_1", "cus_1")
    with pytest.raises(APIError) as caught:
        store.complete_customer("user_2", "tok-user_2", "cus_1")
    assert caught.value.code == "23505"


def test_a_refused_key_is_unavailable_and_not_repeated(db, make_store):
    store = make_store("some-other-key-not-real")
    with pytest.raises(StoreUnavailable) as caught:
        store.ping()
    assert "some-other-key-not-real" not in str(caught.value)
    with pytest.raises(StoreUnavailable):
        store.claim_event("evt_1", "customer.created", "tok", 30)


def test_the_older_read_finishing_last_does_not_overwrite_the_newer_on_postgres(db, make_store):
    from tests.subscription_race import older_read_finishing_last_loses

    stripe, stored = older_read_finishing_last_loses(make_store())
    assert stripe["cancel_at_period_end"] is True
    assert stored.cancel_at_period_end is True and stored.status == stripe["status"] == "active"


def test_an_older_entitlements_read_finishing_last_does_not_bring_features_back_on_postgres(db, make_store):
    from tests.subscription_race import older_entitlements_read_finishing_last_loses

    stripe, stored = older_entitlements_read_finishing_last_loses(make_store())
    assert stripe == [] and stored.features == () and stored.clerk_user_id == "user_race"
