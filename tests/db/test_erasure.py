"""Erasure leaves nothing: after AccountService.forget, no table of the schema names the user or their customer.

Every table is scanned, on SQLite and on PostgreSQL (through SupabaseStore and the PostgREST stand-in),
so a table added later is covered without editing this test. Stripe is the sandbox's, at the network edge.
"""

from __future__ import annotations

import httpx
import pytest

from app.services.accounts import AccountService
from app.services.customers import CustomerService
from app.services.subscriptions import SubscriptionSync
from app.stores.sqlite import SQLiteStore
from app.stores.supabase import SupabaseStore

from tests.stores_contract import _payment

from .conftest import SERVICE_KEY

USER, OTHER = "user_erase_me_1", "user_stays_1"


def populate(store, gateway) -> tuple[str, str]:
    """Every kind of row the service keeps about a member, for USER (and some for OTHER); the customer ids."""
    customers = CustomerService(store, gateway)
    sync = SubscriptionSync(store, gateway)
    ids = []
    for user in (USER, OTHER):
        customer = customers.get_or_create(user, email=f"{user}@example.com", name="Ana Souza")[0]["id"]
        price = next(p for p in gateway.list_prices({"type": "recurring", "active": True, "limit": 20})["data"]
                     if p["recurring"]["usage_type"] == "licensed")
        subscription = gateway.create_subscription({"customer": customer, "items": [{"price": price["id"]}],
                                                    "trial_period_days": 7, "metadata": {"clerk_user_id": user}},
                                                   f"key-{user}")
        sync.refresh(subscription["id"])
        assert sync.refresh_features(customer, user).features  # a trial unlocks the plan's features
        assert store.save_outbox(user, {"status": "trialing", "access": True}, store.next_stamp(), 1.0)
        store.claim_purchase("checkout", user, price["id"], "tok", 30)
        assert store.save_payment(_payment(f"in_{user}", user, store.next_stamp(), stripe_customer_id=customer))
        store.advance_clerk_user(user, 1)
        ids.append(customer)
    store.claim_event("clerk:msg_erasure_1", "clerk:user.deleted", "tok", 30)
    return ids[0], ids[1]


def erase_and_scan(store, gateway, rows_naming) -> None:
    customer, other_customer = populate(store, gateway)
    assert rows_naming(USER) and rows_naming(customer)  # the scan sees them before
    AccountService(store, gateway, SubscriptionSync(store, gateway)).forget(USER)
    assert rows_naming(USER) == [] and rows_naming(customer) == []
    assert gateway.get_customer(customer) is None  # gone at Stripe too
    assert rows_naming(OTHER) and rows_naming(other_customer)  # nobody else's rows
    assert gateway.get_customer(other_customer) is not None


def test_nothing_about_an_erased_user_remains_in_any_sqlite_table(tmp_path, stripe_gateway, sandbox_stripe):
    path = str(tmp_path / "erasure.sqlite3")
    store = SQLiteStore(path)

    def rows_naming(value: str) -> list:
        import sqlite3

        with sqlite3.connect(path) as conn:
            tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            assert {"stripe_customer_mapping", "stripe_clerk_users", "stripe_payments", "stripe_features",
                    "stripe_clerk_outbox"} <= set(tables)
            found = []
            for table in tables:
                columns = [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]
                for row in conn.execute(f"SELECT * FROM {table}"):
                    found += [(table, column) for column, cell in zip(columns, row) if value in str(cell)]
            return found

    erase_and_scan(store, stripe_gateway, rows_naming)


def test_nothing_about_an_erased_user_remains_in_any_postgres_table(db, postgrest, stripe_gateway, sandbox_stripe):
    http = httpx.Client(transport=httpx.MockTransport(postgrest))
    store = SupabaseStore("http://supabase.test", SERVICE_KEY, http_client=http)

    def rows_naming(value: str) -> list:
        tables = [row[0] for row in db.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename").fetchall()]
        assert {"stripe_customer_mapping", "stripe_clerk_users", "stripe_payments", "stripe_features",
                "stripe_clerk_outbox"} <= set(tables)
        found = []
        for table in tables:
            found += [(table, row[0]) for row in db.execute(
                f'SELECT t::text FROM public."{table}" t WHERE strpos(t::text, %s) > 0', (value,)).fetchall()]
        return found

    try:
        erase_and_scan(store, stripe_gateway, rows_naming)
    finally:
        http.close()
