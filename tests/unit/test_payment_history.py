"""PaymentHistory over the sandbox's Stripe (in process) and SQLite: owners, shapes, and the guarded write's race."""

from __future__ import annotations

import threading

import pytest
from cachelib import SimpleCache

from app.services.catalog import CatalogService
from app.services.catalog_cache import CatalogCache
from app.services.payments import PaymentHistory, payment_record
from app.services.shared_version import FileVersion
from app.stores.sqlite import SQLiteStore
from config import STRIPE_API_VERSION
from sandbox.in_process import sandbox_gateway
from tests.sandbox_stripe import Observed
from tests.subscription_race import HeldFirstCall

PLAN, FEE = "price_demo_kids_monthly", "price_demo_enrolment"


@pytest.fixture
def world(tmp_path):
    sandbox_stripe = Observed()
    gateway = sandbox_gateway(sandbox_stripe, STRIPE_API_VERSION)
    store = SQLiteStore(str(tmp_path / "history.sqlite3"))
    catalog = CatalogService(gateway, CatalogCache(SimpleCache(), FileVersion(str(tmp_path / "catalog.version"))))
    yield sandbox_stripe, gateway, store, PaymentHistory(store, gateway, catalog)
    store.close()


def subscribe(gateway, customer_id, meta):
    return gateway.create_subscription({"customer": customer_id, "items": [{"price": PLAN}],
                                        "payment_behavior": "default_incomplete", "metadata": meta},
                                       f"sub-{customer_id}")


def test_an_invoice_without_our_metadata_belongs_to_its_customers_user(world):
    sandbox_stripe, gateway, store, history = world
    customer = gateway.create_customer({"metadata": {"clerk_user_id": "user_by_customer"}}, "c1")
    sub = subscribe(gateway, customer["id"], {})  # made elsewhere (the dashboard): no clerk_user_id of its own
    record = history.refresh_invoice(sub["latest_invoice"])
    assert (record.clerk_user_id, record.kind, record.status) == ("user_by_customer", "invoice", "open")
    assert record.description == sandbox_stripe.fake.catalog.get(
        "product", sandbox_stripe.fake.catalog.get("price", PLAN)["product"])["name"]
    assert [r.stripe_id for r in store.list_payments("user_by_customer", 10)] == [sub["latest_invoice"]]


def test_a_payment_without_our_metadata_is_not_kept(world):
    sandbox_stripe, gateway, store, history = world
    customer = gateway.create_customer({"metadata": {"clerk_user_id": "user_x"}}, "c2")
    intent = gateway.create_payment_intent({"amount": 5000, "currency": "brl", "customer": customer["id"]}, "pi-1")
    sandbox_stripe.succeed_payment_intent(intent["id"])
    assert history.refresh_payment(intent["id"]) is None
    assert store.get_payment(intent["id"]) is None


def test_unknown_objects_keep_what_is_stored(world):
    _, _, _, history = world
    assert history.refresh_invoice("in_gone") is None and history.refresh_payment("pi_gone") is None


@pytest.mark.parametrize("charge, status", [
    ({"refunded": True, "amount_refunded": 5000}, "refunded"),
    ({"refunded": False, "amount_refunded": 1000}, "partially_refunded"),
    ({"refunded": False, "amount_refunded": 0, "receipt_url": "https://r.example.test/1"}, "succeeded"),
    (None, "succeeded"),
    ("ch_not_expanded", "succeeded"),
])
def test_a_payments_status_shows_its_refund(charge, status):
    intent = {"id": "pi_1", "status": "succeeded", "amount": 5000, "amount_received": 5000, "currency": "brl",
              "created": 1, "customer": {"id": "cus_1"}, "latest_charge": charge}
    record = payment_record(intent, 1, "user_1", "Fee")
    assert (record.status, record.stripe_customer_id) == (status, "cus_1")
    assert record.receipt_url == (charge.get("receipt_url") if isinstance(charge, dict) else None)


def test_the_older_invoice_read_finishing_last_does_not_overwrite_the_newer(world, tmp_path):
    sandbox_stripe, gateway, store, history = world
    customer = gateway.create_customer({"metadata": {"clerk_user_id": "user_race"}}, "c3")
    sub = subscribe(gateway, customer["id"], {"clerk_user_id": "user_race"})
    slow = HeldFirstCall(gateway, "get_invoice")
    older = threading.Thread(target=PaymentHistory(store, slow, history.catalog).refresh_invoice,
                             args=(sub["latest_invoice"],))
    older.start()
    assert slow.first_read_done.wait(10)  # it read the invoice open...
    sandbox_stripe.pay_invoice(sub["id"])  # ...then the member paid, and that webhook was handled at once
    assert history.refresh_invoice(sub["latest_invoice"]).status == "paid"
    slow.release.set()
    older.join(10)
    assert store.get_payment(sub["latest_invoice"]).status == "paid"
