"""The tatame_* SQL functions, called as the service role, as PostgREST would call them."""

from __future__ import annotations

import threading
import time
from datetime import datetime

import psycopg
import pytest
from psycopg import errors, sql
from psycopg.types.json import Jsonb

from tests.servers import parallel

LEASE = 30
SHORT_LEASE = 0.05
AFTER_SHORT_LEASE = 0.15
RACERS = 24


def call(conn: psycopg.Connection, function: str, **arguments):
    """SELECT public.<function>(name => value, ...) and return its value (jsonb comes back a dict)."""
    query = sql.SQL("SELECT {}({})").format(
        sql.Identifier("public", function),
        sql.SQL(", ").join(sql.SQL("{} => {}").format(sql.Identifier(n), sql.Placeholder(n)) for n in arguments),
    )
    return conn.execute(query, arguments).fetchone()[0]


def claim_customer(conn, user, token, lease=LEASE, stale=None):
    return call(
        conn, "tatame_claim_customer",
        p_clerk_user_id=user, p_token=token, p_lease_seconds=lease, p_stale_customer_id=stale,
    )


def claim_event(conn, event_id, token, lease=LEASE, event_type="customer.created"):
    return call(
        conn, "tatame_claim_event", p_event_id=event_id, p_event_type=event_type, p_token=token, p_lease_seconds=lease
    )


@pytest.fixture
def conn(db, connect_as):
    return connect_as("service_role")


# --- customers ------------------------------------------------------------------------------

def test_first_customer_claim_inserts_a_pending_row(conn, db):
    row = claim_customer(conn, "user_1", "tok-a")
    assert row["owned"] is True
    assert (row["clerk_user_id"], row["user_id"], row["status"], row["generation"]) == ("user_1", "user_1", "pending", 0)
    assert (row["stripe_customer_id"], row["claim_token"]) == (None, "tok-a")
    lease = db.execute("SELECT lease_expires_at - now() FROM stripe_customer_mapping").fetchone()[0]
    assert 29 < lease.total_seconds() <= 30.5
    assert datetime.fromisoformat(row["lease_expires_at"]).tzinfo is not None


def test_live_customer_claim_is_not_taken(conn):
    claim_customer(conn, "user_1", "tok-a")
    row = claim_customer(conn, "user_1", "tok-b")
    assert row["owned"] is False and row["claim_token"] == "tok-a"


def test_expired_customer_claim_is_taken_over(conn):
    claim_customer(conn, "user_1", "tok-a", lease=SHORT_LEASE)
    time.sleep(AFTER_SHORT_LEASE)
    row = claim_customer(conn, "user_1", "tok-b")
    assert (row["owned"], row["claim_token"], row["generation"], row["status"]) == (True, "tok-b", 0, "pending")


def test_pending_row_without_a_lease_counts_as_expired(conn, db):
    db.execute("INSERT INTO stripe_customer_mapping (clerk_user_id) VALUES ('user_1')")
    assert claim_customer(conn, "user_1", "tok-a")["owned"] is True


def test_complete_and_release_need_the_owning_token(conn):
    claim_customer(conn, "user_1", "tok-a")
    assert call(conn, "tatame_complete_customer", p_clerk_user_id="user_1", p_token="tok-b",
                p_stripe_customer_id="cus_1") is False
    assert call(conn, "tatame_release_customer_claim", p_clerk_user_id="user_1", p_token="tok-b") is False
    assert claim_customer(conn, "user_1", "tok-c")["owned"] is False
    assert call(conn, "tatame_release_customer_claim", p_clerk_user_id="user_1", p_token="tok-a") is True
    assert claim_customer(conn, "user_1", "tok-c")["owned"] is True
    assert call(conn, "tatame_complete_customer", p_clerk_user_id="user_1", p_token="tok-a",
                p_stripe_customer_id="cus_1") is False
    assert call(conn, "tatame_complete_customer", p_clerk_user_id="user_1", p_token="tok-c",
                p_stripe_customer_id="cus_1") is True
    row = claim_customer(conn, "user_1", "tok-d")
    assert (row["owned"], row["status"], row["stripe_customer_id"], row["claim_token"], row["lease_expires_at"]) == (
        False, "active", "cus_1", None, None,
    )


def test_stale_customer_replacement(conn):
    claim_customer(conn, "user_1", "tok-a")
    call(conn, "tatame_complete_customer", p_clerk_user_id="user_1", p_token="tok-a", p_stripe_customer_id="cus_1")
    assert claim_customer(conn, "user_1", "tok-b", stale="cus_other")["owned"] is False
    row = claim_customer(conn, "user_1", "tok-b", stale="cus_1")
    assert (row["owned"], row["status"], row["generation"], row["stripe_customer_id"]) == (True, "pending", 1, None)
    # The same stale id again, while the replacement is under way: not ours.
    assert claim_customer(conn, "user_1", "tok-c", stale="cus_1")["owned"] is False


def test_a_customer_id_belongs_to_one_user(conn):
    for user in ("user_1", "user_2"):
        claim_customer(conn, user, f"tok-{user}")
    call(conn, "tatame_complete_customer", p_clerk_user_id="user_1", p_token="tok-user_1", p_stripe_customer_id="cus_1")
    with pytest.raises(errors.UniqueViolation):
        call(conn, "tatame_complete_customer", p_clerk_user_id="user_2", p_token="tok-user_2",
             p_stripe_customer_id="cus_1")


# --- events -----------------------------------------------------------------------------------

def test_event_lifecycle(conn):
    row = claim_event(conn, "evt_1", "tok-a")
    assert (row["outcome"], row["status"], row["attempts"], row["claim_token"]) == ("claimed", "processing", 1, "tok-a")
    assert claim_event(conn, "evt_1", "tok-b")["outcome"] == "in_progress"
    assert call(conn, "tatame_mark_event_failed", p_event_id="evt_1", p_token="tok-b", p_error="x") is False
    assert call(conn, "tatame_mark_event_failed", p_event_id="evt_1", p_token="tok-a", p_error="e" * 5000) is True
    row = claim_event(conn, "evt_1", "tok-c")
    assert (row["outcome"], row["attempts"], row["last_error"]) == ("claimed", 2, "e" * 2000)
    assert call(conn, "tatame_mark_event_processed", p_event_id="evt_1", p_token="tok-a") is False
    assert call(conn, "tatame_mark_event_processed", p_event_id="evt_1", p_token="tok-c") is True
    row = claim_event(conn, "evt_1", "tok-d")
    assert (row["outcome"], row["status"], row["attempts"], row["last_error"]) == ("processed", "processed", 2, None)
    assert row["processed_at"] is not None and row["claim_token"] is None
    assert call(conn, "tatame_mark_event_failed", p_event_id="evt_1", p_token="tok-c", p_error="late") is False


def test_expired_event_claim_is_taken_over(conn):
    claim_event(conn, "evt_1", "tok-a", lease=SHORT_LEASE)
    time.sleep(AFTER_SHORT_LEASE)
    row = claim_event(conn, "evt_1", "tok-b")
    assert (row["outcome"], row["attempts"], row["claim_token"]) == ("claimed", 2, "tok-b")
    assert call(conn, "tatame_mark_event_processed", p_event_id="evt_1", p_token="tok-a") is False


def test_processed_event_is_never_claimed_again(conn):
    claim_event(conn, "evt_1", "tok-a", lease=SHORT_LEASE)
    call(conn, "tatame_mark_event_processed", p_event_id="evt_1", p_token="tok-a")
    time.sleep(AFTER_SHORT_LEASE)
    outcomes = {claim_event(conn, "evt_1", f"tok-{i}")["outcome"] for i in range(5)}
    assert outcomes == {"processed"}


def test_a_retry_keeps_the_first_event_type(conn):
    claim_event(conn, "evt_1", "tok-a", lease=SHORT_LEASE, event_type="customer.created")
    time.sleep(AFTER_SHORT_LEASE)
    assert claim_event(conn, "evt_1", "tok-b", event_type="other")["event_type"] == "customer.created"


# --- concurrency: every racer has its own connection ------------------------------------------

def race(connect_as, action):
    connections = [connect_as("service_role") for _ in range(RACERS)]
    return parallel(RACERS, lambda i: action(connections[i], i))


def test_concurrent_event_claims_one_winner(db, connect_as):
    rows = race(connect_as, lambda conn, i: claim_event(conn, "evt_race", f"tok-{i}"))
    assert sorted(row["outcome"] for row in rows).count("claimed") == 1
    assert {row["outcome"] for row in rows} == {"claimed", "in_progress"}
    assert db.execute("SELECT count(*), max(attempts) FROM stripe_webhook_events").fetchone() == (1, 1)


def test_concurrent_takeover_of_an_expired_event_lease_one_winner(db, connect_as):
    claim_event(connect_as("service_role"), "evt_race", "tok-crashed", lease=SHORT_LEASE)
    time.sleep(AFTER_SHORT_LEASE)
    rows = race(connect_as, lambda conn, i: claim_event(conn, "evt_race", f"tok-{i}"))
    assert [row["outcome"] for row in rows].count("claimed") == 1
    assert db.execute("SELECT attempts FROM stripe_webhook_events").fetchone() == (2,)


def test_concurrent_claims_of_a_processed_event_never_claim(db, connect_as):
    conn = connect_as("service_role")
    claim_event(conn, "evt_race", "tok-a")
    call(conn, "tatame_mark_event_processed", p_event_id="evt_race", p_token="tok-a")
    rows = race(connect_as, lambda conn, i: claim_event(conn, "evt_race", f"tok-{i}"))
    assert {row["outcome"] for row in rows} == {"processed"}


def test_concurrent_customer_claims_one_owner(db, connect_as):
    rows = race(connect_as, lambda conn, i: claim_customer(conn, "user_race", f"tok-{i}"))
    owners = [row for row in rows if row["owned"]]
    assert len(owners) == 1
    assert {row["claim_token"] for row in rows} == {owners[0]["claim_token"]}
    assert db.execute("SELECT count(*) FROM stripe_customer_mapping").fetchone() == (1,)


def test_concurrent_stale_replacements_one_owner(db, connect_as):
    conn = connect_as("service_role")
    claim_customer(conn, "user_race", "tok-a")
    call(conn, "tatame_complete_customer", p_clerk_user_id="user_race", p_token="tok-a", p_stripe_customer_id="cus_1")
    rows = race(connect_as, lambda conn, i: claim_customer(conn, "user_race", f"tok-{i}", stale="cus_1"))
    assert [row["owned"] for row in rows].count(True) == 1
    assert db.execute("SELECT generation, status FROM stripe_customer_mapping").fetchone() == (1, "pending")


def test_claim_survives_the_row_vanishing_under_its_lock(db, connect_as):
    """The insert saw the row, then the row was deleted before the claim could lock it: insert again."""
    claimant, locker = connect_as("service_role"), connect_as("service_role")
    claim_customer(claimant, "user_1", "tok-a")
    call(claimant, "tatame_complete_customer", p_clerk_user_id="user_1", p_token="tok-a", p_stripe_customer_id="cus_1")
    result = {}
    thread = threading.Thread(target=lambda: result.update(claim_customer(claimant, "user_1", "tok-b")))
    with locker.transaction():
        locker.execute("SELECT 1 FROM stripe_customer_mapping WHERE clerk_user_id = 'user_1' FOR UPDATE")
        thread.start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # until the claim waits for our row lock
            waiting = db.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s",
                                 (claimant.info.backend_pid,)).fetchone()
            if waiting and waiting[0] == "Lock":
                break
            time.sleep(0.01)
        else:
            pytest.fail("the claim never waited for the row lock")
        locker.execute("DELETE FROM stripe_customer_mapping WHERE clerk_user_id = 'user_1'")
    thread.join(timeout=10)
    assert (result["owned"], result["status"], result["claim_token"], result["generation"]) == (
        True, "pending", "tok-b", 0,
    )


# --- the shared helpers -------------------------------------------------------------------------

def test_lease_is_free_judges_null_and_the_boundary(db):
    row = db.execute(
        "SELECT tatame_lease_is_free(NULL, now()), tatame_lease_is_free(now(), now()),"
        " tatame_lease_is_free(now() + interval '1 microsecond', now()),"
        " tatame_lease_until(1.5, '2026-01-01T00:00:00Z') = '2026-01-01T00:00:01.5Z'::timestamptz"
    ).fetchone()
    assert row == (True, True, False, True)


def test_insert_or_lock_takes_a_composite_key(db):
    """The next aggregates claim by (user, price): the helper accepts any unique key."""
    with db.transaction(force_rollback=True):
        db.execute("CREATE TABLE tatame_test_pairs (id serial PRIMARY KEY, clerk_user_id text NOT NULL,"
                   " price_id text NOT NULL, claim_token text, UNIQUE (clerk_user_id, price_id))")

        def claim(user, price, token):
            return db.execute(
                "SELECT row_data, inserted FROM tatame_insert_or_lock('tatame_test_pairs', %s, %s)",
                (Jsonb({"clerk_user_id": user, "price_id": price}), Jsonb({"claim_token": token})),
            ).fetchone()

        first, inserted = claim("user_1", "price_1", "tok-a")
        assert inserted is True and (first["clerk_user_id"], first["price_id"], first["claim_token"]) == (
            "user_1", "price_1", "tok-a",
        )
        again, inserted = claim("user_1", "price_1", "tok-b")
        assert inserted is False and again == first  # locked and returned untouched
        other, inserted = claim("user_1", "price_2", "tok-c")
        assert inserted is True and other["id"] != first["id"]
        assert db.execute("SELECT count(*) FROM tatame_test_pairs").fetchone() == (2,)
