"""The development-mode gateway (StripeGateway over the sandbox's Stripe in process) behaves like Stripe."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from app.gateways import build_gateway
from app.services.errors import NotFound, ValidationFailed
from config import STRIPE_API_VERSION, Config
from sandbox.compose import STATE_FILE, sandbox_stripe_for
from sandbox.in_process import sandbox_gateway


def development_config(folder) -> Config:
    return Config.from_env({"INSTANCE_PATH": str(folder)})


@pytest.fixture
def gateway(tmp_path):
    return sandbox_gateway(sandbox_stripe_for(development_config(tmp_path)), STRIPE_API_VERSION)


def delete_customer(gateway, customer_id) -> bool:
    """Delete through Stripe's API, as the dashboard would."""
    return gateway.client.v1.customers.delete(customer_id).deleted


def test_catalog_has_an_academy_shape(gateway):
    prices = gateway.list_prices({"limit": 100})["data"]
    assert {p["type"] for p in prices} == {"recurring", "one_time"}
    assert {p["recurring"]["interval"] for p in prices if p["recurring"]} == {"month", "year"}
    assert any(not p["active"] for p in gateway.list_products({"limit": 100})["data"])


def test_active_filter_and_expansion(gateway):
    active = gateway.list_products({"active": True, "limit": 100})["data"]
    assert active and all(p["active"] for p in active)
    assert all(isinstance(p["default_price"], dict) for p in active)
    archived = gateway.list_products({"active": False, "limit": 100})["data"]
    assert [p["id"] for p in archived] == ["prod_demo_legacy"]


def test_newest_first_cursor_pagination_covers_everything_once(gateway):
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 2, **({"starting_after": cursor} if cursor else {})}
        page = gateway.list_prices(params)
        seen += [p["id"] for p in page["data"]]
        pages += 1
        if not page["has_more"]:
            break
        cursor = page["data"][-1]["id"]
    everything = gateway.list_prices({"limit": 100})["data"]
    assert seen == [p["id"] for p in everything] and pages == 5
    created = [p["created"] for p in everything]
    assert created == sorted(created, reverse=True)


def test_price_filters(gateway):
    kids = gateway.list_prices({"product": "prod_demo_kids", "limit": 10})["data"]
    assert {p["product"]["id"] for p in kids} == {"prod_demo_kids"} and len(kids) == 2
    one_time = gateway.list_prices({"type": "one_time", "limit": 10})["data"]
    assert {p["id"] for p in one_time} == {"price_demo_enrolment", "price_demo_private_pack"}


def test_unknown_ids(gateway):
    with pytest.raises(NotFound):
        gateway.get_product("prod_nope")
    with pytest.raises(NotFound):
        gateway.get_price("price_nope")
    with pytest.raises(ValidationFailed):
        gateway.list_products({"starting_after": "prod_nope", "limit": 10})


def test_retrieve_expands(gateway):
    assert gateway.get_price("price_demo_enrolment")["product"]["name"] == "Enrolment fee"
    assert gateway.get_product("prod_demo_kids")["default_price"]["unit_amount"] == 15900


def test_fixture_objects_are_not_mutated_by_callers(gateway):
    gateway.get_product("prod_demo_kids")["name"] = "changed"
    assert gateway.get_product("prod_demo_kids")["name"] == "Kids Program"


def test_customers_honour_idempotency_keys_across_threads(gateway):
    barrier = threading.Barrier(10)

    def create(_):
        barrier.wait()
        return gateway.create_customer({"metadata": {"clerk_user_id": "u"}}, "same-key")["id"]

    with ThreadPoolExecutor(10) as pool:
        ids = set(pool.map(create, range(10)))
    assert len(ids) == 1 and next(iter(ids)).startswith("cus_demo_")
    other = gateway.create_customer({"metadata": {}}, "other-key")
    assert other["id"] not in ids


def test_deleted_customer_is_gone(gateway):
    customer = gateway.create_customer({"email": "a@example.com"}, "k")
    assert gateway.get_customer(customer["id"])["email"] == "a@example.com"
    assert delete_customer(gateway, customer["id"])
    assert gateway.get_customer(customer["id"]) is None
    assert gateway.get_customer("cus_unknown") is None


def test_idempotency_key_reused_with_other_parameters_is_refused(gateway):
    from app.services.errors import UpstreamError

    gateway.create_customer({"metadata": {"clerk_user_id": "u"}}, "key")
    with pytest.raises(UpstreamError):
        gateway.create_customer({"metadata": {"clerk_user_id": "u"}, "email": "a@example.com"}, "key")


def test_update_and_find_by_metadata(gateway):
    first = gateway.create_customer({"metadata": {"clerk_user_id": "u1"}}, "k1")
    gateway.create_customer({"metadata": {"clerk_user_id": "u2"}}, "k2")
    updated = gateway.update_customer(first["id"], {"email": "a@example.com", "name": "Ana"})
    assert updated["email"] == "a@example.com" and gateway.get_customer(first["id"])["name"] == "Ana"
    assert gateway.find_customer("u1")["id"] == first["id"]
    delete_customer(gateway, first["id"])
    assert gateway.find_customer("u1") is None and gateway.find_customer("nobody") is None
    with pytest.raises(NotFound):
        gateway.update_customer(first["id"], {"name": "x"})


def test_state_is_shared_through_the_instance_file_and_an_old_file_is_left_alone(tmp_path):
    (tmp_path / "fake-stripe.sqlite3").write_bytes(b"the state file of an earlier version")
    first = sandbox_gateway(sandbox_stripe_for(development_config(tmp_path)), STRIPE_API_VERSION)
    made = first.create_customer({"metadata": {"clerk_user_id": "u"}}, "k")
    second = sandbox_gateway(sandbox_stripe_for(development_config(tmp_path)), STRIPE_API_VERSION)  # another worker
    assert second.get_customer(made["id"]) == made and (tmp_path / STATE_FILE).exists()


def test_production_without_a_stripe_key_refuses_to_start(tmp_path):
    from dataclasses import replace

    with pytest.raises(RuntimeError, match="production needs Stripe: set STRIPE_SECRET_KEY"):
        build_gateway(replace(development_config(tmp_path), app_env="production"))
