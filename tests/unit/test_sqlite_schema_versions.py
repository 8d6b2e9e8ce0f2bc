"""SQLite schema versions: files from before versions were kept, newer files, failed steps, many openers."""

from __future__ import annotations

import multiprocessing
import sqlite3

import pytest

from app.stores.base import ClaimOutcome, StoreUnavailable, SubscriptionRecord
from app.stores.sqlite import MIGRATIONS, SQLiteStore
from app.stores.sqlite.database import Migration

LATEST = len(MIGRATIONS)

# Exactly what SQLiteStore ran on every open before schema versions existed (user_version stayed 0).
SCHEMA_BEFORE_VERSIONS = """
CREATE TABLE IF NOT EXISTS stripe_customer_mapping (
    id                 TEXT PRIMARY KEY,
    user_id            TEXT,
    clerk_user_id      TEXT NOT NULL UNIQUE,
    stripe_customer_id TEXT UNIQUE,
    status             TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'active')),
    generation         INTEGER NOT NULL DEFAULT 0,
    claim_token        TEXT,
    lease_expires_at   TEXT,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS stripe_webhook_events (
    id               TEXT PRIMARY KEY,
    stripe_event_id  TEXT NOT NULL UNIQUE,
    event_type       TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('processing', 'processed', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT,
    claim_token      TEXT,
    lease_expires_at TEXT,
    processed_at     TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_stripe_webhook_events_event_type ON stripe_webhook_events (event_type);
CREATE INDEX IF NOT EXISTS idx_stripe_webhook_events_status ON stripe_webhook_events (status);
"""
STAMP = "2026-05-01T10:00:00.000000Z"


def _file_made_before_versions(path: str) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.executescript(SCHEMA_BEFORE_VERSIONS)
    conn.execute(
        "INSERT INTO stripe_customer_mapping (id, user_id, clerk_user_id, stripe_customer_id, status, generation,"
        " created_at, updated_at) VALUES ('row-1', 'user_1', 'user_1', 'cus_1', 'active', 2, ?, ?)",
        (STAMP, STAMP),
    )
    conn.execute(
        "INSERT INTO stripe_webhook_events (id, stripe_event_id, event_type, status, attempts, last_error,"
        " processed_at, created_at, updated_at) VALUES ('row-2', 'evt_1', 'customer.created', 'processed', 2,"
        " NULL, ?, ?, ?)",
        (STAMP, STAMP, STAMP),
    )
    conn.close()


def _indexes(path: str) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    finally:
        conn.close()


def _user_version(path: str) -> int:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("PRAGMA user_version").fetchone()[0]
    finally:
        conn.close()


def _tables(path: str) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        conn.close()


def test_a_file_made_before_versions_is_brought_up_to_date_unharmed(tmp_path):
    path = str(tmp_path / "old.sqlite3")
    _file_made_before_versions(path)
    assert _user_version(path) == 0
    store = SQLiteStore(path)
    try:
        assert _user_version(path) == LATEST
        mapping = store.get_customer_mapping("user_1")
        assert (mapping.id, mapping.stripe_customer_id, mapping.status, mapping.generation) == ("row-1", "cus_1", "active", 2)
        assert mapping.created_at.isoformat() == "2026-05-01T10:00:00+00:00"
        event = store.get_event("evt_1")
        assert (event.status, event.attempts, event.event_type) == ("processed", 2, "customer.created")
        # The old rows keep their meaning, and new claims work on the upgraded file.
        assert not store.claim_customer("user_1", "tok", 30).owned
        assert store.claim_event("evt_1", "customer.created", "tok", 30).outcome is ClaimOutcome.PROCESSED
        assert store.claim_customer("user_2", "tok", 30).owned
        assert store.claim_event("evt_2", "customer.created", "tok", 30).outcome is ClaimOutcome.CLAIMED
        assert store.complete_customer("user_2", "tok", "cus_2")
    finally:
        store.close()
    reopened = SQLiteStore(path)  # a second open has nothing to do
    try:
        assert _user_version(path) == LATEST
        assert reopened.get_customer_mapping("user_2").stripe_customer_id == "cus_2"
    finally:
        reopened.close()


def test_a_file_newer_than_the_code_is_refused_untouched(tmp_path):
    path = str(tmp_path / "newer.sqlite3")
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {LATEST + 3}")
    conn.close()
    with pytest.raises(RuntimeError, match=rf"schema version {LATEST + 3}, newer than this code's {LATEST}"):
        SQLiteStore(path)
    assert _user_version(path) == LATEST + 3
    assert _tables(path) == set()


class _StoreWithANextStep(SQLiteStore):
    MIGRATIONS = MIGRATIONS + (
        Migration(LATEST + 1, "an example table", (
            "CREATE TABLE stripe_examples (id TEXT PRIMARY KEY, clerk_user_id TEXT NOT NULL)",
            "CREATE INDEX idx_stripe_examples_user ON stripe_examples (clerk_user_id)",
        )),
    )


def test_an_appended_step_upgrades_an_older_file_in_place(tmp_path):
    path = str(tmp_path / "latest.sqlite3")
    SQLiteStore(path).claim_event("evt_1", "customer.created", "tok", 30)
    assert _user_version(path) == LATEST
    store = _StoreWithANextStep(path)
    try:
        assert _user_version(path) == LATEST + 1
        assert "stripe_examples" in _tables(path)
        assert store.get_event("evt_1").claim_token == "tok"
    finally:
        store.close()
    with pytest.raises(RuntimeError, match=f"schema version {LATEST + 1}, newer than this code's {LATEST}"):
        SQLiteStore(path)  # the code rolled back: it refuses rather than guess


def test_a_failing_step_leaves_the_file_as_it_was(tmp_path):
    path = str(tmp_path / "latest.sqlite3")
    SQLiteStore(path).close()

    class Broken(SQLiteStore):
        MIGRATIONS = MIGRATIONS + (
            Migration(LATEST + 1, "half a step", ("CREATE TABLE stripe_half (id TEXT)", "NOT SQL")),
        )

    with pytest.raises(StoreUnavailable):
        Broken(path)
    assert _user_version(path) == LATEST
    assert "stripe_half" not in _tables(path)


class _StoreAtVersion1(SQLiteStore):
    """The store as released with schema version 1: customer mappings and webhook events only."""

    MIGRATIONS = MIGRATIONS[:1]


def test_a_version_1_file_gets_subscriptions_and_purchase_claims_with_its_rows_intact(tmp_path):
    path = str(tmp_path / "v1.sqlite3")
    old = _StoreAtVersion1(path)
    assert old.claim_customer("user_1", "tok", 30).owned and old.complete_customer("user_1", "tok", "cus_1")
    old.claim_event("evt_1", "customer.created", "tok", 30)
    mapping, event = old.get_customer_mapping("user_1"), old.get_event("evt_1")
    old.close()
    assert _user_version(path) == 1
    assert not {"stripe_subscriptions", "stripe_purchase_claims", "stripe_stamp"} & _tables(path)

    store = SQLiteStore(path)
    try:
        assert _user_version(path) == LATEST
        assert {"stripe_subscriptions", "stripe_purchase_claims", "stripe_stamp"} <= _tables(path)
        assert not {"idx_stripe_webhook_events_event_type", "idx_stripe_webhook_events_status"} & _indexes(path)
        assert store.get_customer_mapping("user_1") == mapping
        assert store.get_event("evt_1") == event
        # The new tables work on the upgraded file.
        stamp = store.next_stamp()
        assert stamp > 0 and store.next_stamp() > stamp
        record = SubscriptionRecord(
            stripe_subscription_id="sub_1", stripe_customer_id="cus_1", clerk_user_id=None, status="active",
            price_id="price_1", product_id="prod_1", quantity=1, current_period_end=4_102_444_800,
            cancel_at_period_end=False, cancel_at=None, canceled_at=None, trial_end=None, stripe_created=1, stamp=stamp,
        )
        assert store.save_subscription(record)
        assert store.attach_subscriptions("cus_1", mapping.clerk_user_id) == 1
        assert [s.stripe_subscription_id for s in store.list_subscriptions("user_1")] == ["sub_1"]
        assert store.claim_purchase("checkout", "user_1", "price_1", "tok", 30).owned
        assert store.complete_purchase("checkout", "user_1", "price_1", "tok", "cs_1", 4_102_444_800)
    finally:
        store.close()


@pytest.mark.parametrize("numbers", [(1, 3), (2, 1), (1, 1)])
def test_misnumbered_migrations_are_refused(tmp_path, numbers):
    class Misnumbered(SQLiteStore):
        MIGRATIONS = tuple(Migration(n, "t", (f"CREATE TABLE IF NOT EXISTS t{i} (x)",)) for i, n in enumerate(numbers))

    with pytest.raises(RuntimeError, match="numbered"):
        Misnumbered(str(tmp_path / "db.sqlite3"))


def _open_and_claim(path, barrier, results, index):
    barrier.wait()
    store = SQLiteStore(path)
    results[index] = store.claim_event("evt_first", "customer.created", f"proc-{index}", 30).outcome.value


def test_many_processes_opening_a_fresh_file_at_once_all_succeed(tmp_path):
    """Like gunicorn workers started without preload_app: each one runs the migrations."""
    path = str(tmp_path / "fresh.sqlite3")
    context = multiprocessing.get_context("fork")
    count = 8
    barrier = context.Barrier(count)
    results = context.Manager().list([None] * count)
    processes = [context.Process(target=_open_and_claim, args=(path, barrier, results, i)) for i in range(count)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(30)
    assert [p.exitcode for p in processes] == [0] * count
    assert sorted(results) == ["claimed"] + ["in_progress"] * (count - 1)
    assert _user_version(path) == LATEST

