"""The shared SQLite claim machinery (app/stores/sqlite/claims.py), below the Store contract."""

from __future__ import annotations

from contextlib import contextmanager

import pytest

from app.stores.base import ClaimOutcome
from app.stores.sqlite import SQLiteStore
from app.stores.sqlite.claims import Lease


def test_lease_judgement():
    lease = Lease.starting_now(30)
    assert lease.expires > lease.now
    assert lease.is_free(None)              # never leased
    assert lease.is_free(lease.now)         # runs out at its end
    assert not lease.is_free(lease.expires)
    assert Lease.starting_now(0).is_free(lease.now)


class _RowVanishesBeforeTheLock(SQLiteStore):
    """Deletes every row as each write transaction begins: what a concurrent delete looks like
    between the one-statement insert (which saw the row) and the locked read."""

    vanish = False

    @contextmanager
    def _write(self):
        with super()._write() as conn:
            if self.vanish:
                conn.execute("DELETE FROM stripe_customer_mapping")
                conn.execute("DELETE FROM stripe_webhook_events")
            yield conn


@pytest.fixture
def store(tmp_path):
    store = _RowVanishesBeforeTheLock(str(tmp_path / "db.sqlite3"))
    yield store
    store.close()


def test_an_event_deleted_before_the_lock_is_claimed_afresh(store):
    store.claim_event("evt_1", "customer.created", "tok-a", 30)
    store.vanish = True
    claim = store.claim_event("evt_1", "customer.created", "tok-b", 30)
    assert claim.outcome is ClaimOutcome.CLAIMED
    assert (claim.event.claim_token, claim.event.attempts, claim.event.status) == ("tok-b", 1, "processing")


def test_a_mapping_deleted_before_the_lock_is_claimed_afresh(store):
    first = store.claim_customer("user_1", "tok-a", 30).mapping
    store.vanish = True
    claim = store.claim_customer("user_1", "tok-b", 30)
    assert claim.owned
    assert (claim.mapping.claim_token, claim.mapping.generation, claim.mapping.status) == ("tok-b", 0, "pending")
    assert claim.mapping.id != first.id
