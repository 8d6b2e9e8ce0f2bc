"""What every billing gateway must do, as Stripe does it: one suite for each way of reaching Stripe.

Subclasses provide a `gateway` fixture (a StripeGateway over the in-process stand-in, over
`responses`, or over a real Stripe test account). Tests marked `fake_only` use the stand-in's
hooks (a `stand_in` fixture) and are skipped when `live` is set. Every customer a test makes is
deleted afterwards; ids and metadata are random, so a shared test account stays usable.
"""

from __future__ import annotations

import time
import uuid

import pytest

from app.services.errors import NotFound, UpstreamError, ValidationFailed

fake_only = pytest.mark.fake_only


def unique(prefix: str) -> str:
    return f"{prefix}_contract_{uuid.uuid4().hex[:12]}"


class GatewayContract:
    live = False
    search_seconds = 0.0  # how long Stripe's search index may lag behind a write (about a minute, live)

    @pytest.fixture(autouse=True)
    def _fake_only_skips_live(self, request):
        if self.live and request.node.get_closest_marker("fake_only"):
            pytest.skip("needs the stand-in's test hooks")

    @pytest.fixture
    def customers(self, gateway):
        """make(params) creates a customer under a fresh idempotency key; all of them are deleted at the end."""
        made: list[str] = []

        def make(params: dict, key: str | None = None) -> dict:
            customer = gateway.create_customer(params, key or unique("key"))
            made.append(customer["id"])
            return customer

        yield make
        for customer_id in made:
            if gateway.get_customer(customer_id) is not None:
                gateway.client.v1.customers.delete(customer_id)

    def eventually(self, check, *, seconds: float | None = None):
        """check() until it returns a truthy value or the search lag allowance runs out; its last value."""
        deadline = time.monotonic() + (self.search_seconds if seconds is None else seconds)
        while True:
            value = check()
            if value or time.monotonic() >= deadline:
                return value
            time.sleep(2)

    # --- catalog ---------------------------------------------------------------------------
    def test_products_list_with_default_price_expanded(self, gateway):
        listing = gateway.list_products({"active": True, "limit": 3})
        assert listing["object"] == "list" and listing["url"] == "/v1/products"
        assert isinstance(listing["has_more"], bool) and len(listing["data"]) <= 3
        for product in listing["data"]:
            assert product["object"] == "product" and product["active"] is True
            assert product["default_price"] is None or product["default_price"]["object"] == "price"
        if not self.live:
            assert listing["data"], "the fixture catalog has active products"

    def test_prices_list_with_product_expanded(self, gateway):
        listing = gateway.list_prices({"limit": 5})
        assert listing["object"] == "list" and listing["url"] == "/v1/prices"
        for price in listing["data"]:
            assert price["object"] == "price" and price["product"]["object"] == "product"

    def test_retrieve_expands(self, gateway):
        prices = gateway.list_prices({"limit": 1})["data"]
        if not prices:
            pytest.skip("the account has no prices")
        price = gateway.get_price(prices[0]["id"])
        assert price["id"] == prices[0]["id"] and price["product"]["object"] == "product"
        product = gateway.get_product(price["product"]["id"])
        assert product["id"] == price["product"]["id"]
        assert product["default_price"] is None or product["default_price"]["object"] == "price"

    def test_active_filter(self, gateway):
        for active in (True, False):
            listing = gateway.list_products({"active": active, "limit": 100})
            assert all(product["active"] is active for product in listing["data"])

    def test_price_filters(self, gateway):
        for kind in ("one_time", "recurring"):
            assert all(p["type"] == kind for p in gateway.list_prices({"type": kind, "limit": 20})["data"])
        some = gateway.list_prices({"limit": 1})["data"]
        if some:
            product_id = some[0]["product"]["id"]
            listing = gateway.list_prices({"product": product_id, "limit": 20})["data"]
            assert listing and all(p["product"]["id"] == product_id for p in listing)

    def test_cursor_pagination_walks_newest_first_without_repeats(self, gateway):
        seen, cursor = [], None
        for _ in range(3):
            page = gateway.list_prices({"limit": 1, **({"starting_after": cursor} if cursor else {})})
            seen += page["data"]
            if not page["has_more"]:
                break
            cursor = page["data"][-1]["id"]
        if len(seen) < 2:
            pytest.skip("fewer than two prices: nothing to page through")
        assert len({p["id"] for p in seen}) == len(seen)
        created = [p["created"] for p in seen]
        assert created == sorted(created, reverse=True)

    def test_unknown_cursor_is_a_validation_failure(self, gateway):
        with pytest.raises(ValidationFailed) as failure:
            gateway.list_products({"limit": 3, "starting_after": unique("prod")})
        assert failure.value.details == {"starting_after": ["No such object."]}

    def test_unknown_ids(self, gateway):
        with pytest.raises(NotFound):
            gateway.get_product(unique("prod"))
        with pytest.raises(NotFound):
            gateway.get_price(unique("price"))
        with pytest.raises(NotFound):
            gateway.update_customer(unique("cus"), {"name": "Nobody"})
        assert gateway.get_customer(unique("cus")) is None

    # --- customers -------------------------------------------------------------------------
    def test_create_replays_under_its_idempotency_key(self, gateway, customers):
        key, params = unique("key"), {"metadata": {"clerk_user_id": unique("user")}}
        first = customers(params, key)
        assert first["object"] == "customer" and first["metadata"] == params["metadata"]
        assert gateway.create_customer(params, key) == first

    def test_a_key_reused_with_other_parameters_is_refused(self, gateway, customers):
        key, user = unique("key"), unique("user")
        customers({"metadata": {"clerk_user_id": user}}, key)
        with pytest.raises(UpstreamError):
            gateway.create_customer({"metadata": {"clerk_user_id": user}, "email": "a@example.com"}, key)

    def test_update_sets_fields_and_merges_metadata(self, gateway, customers):
        user = unique("user")
        customer = customers({"metadata": {"clerk_user_id": user}})
        assert customer["email"] is None and customer["name"] is None
        updated = gateway.update_customer(customer["id"], {"email": "ana@example.com", "name": "Ana Souza",
                                                           "metadata": {"belt": "blue"}})
        assert updated["email"] == "ana@example.com" and updated["name"] == "Ana Souza"
        assert updated["metadata"] == {"clerk_user_id": user, "belt": "blue"}
        assert gateway.get_customer(customer["id"]) == updated

    def test_a_deleted_customer_is_gone(self, gateway, customers):
        customer = customers({"metadata": {"clerk_user_id": unique("user")}})
        assert gateway.get_customer(customer["id"])["id"] == customer["id"]
        gateway.client.v1.customers.delete(customer["id"])
        assert gateway.get_customer(customer["id"]) is None
        with pytest.raises(NotFound):
            gateway.update_customer(customer["id"], {"name": "Too late"})

    def test_find_customer_by_metadata_only(self, gateway, customers):
        user, other = unique("user"), unique("user")
        mine = customers({"metadata": {"clerk_user_id": user}, "email": f"{other}@example.com"})
        customers({"metadata": {"clerk_user_id": other}})
        found = self.eventually(lambda: gateway.find_customer(user))
        assert found is not None and found["id"] == mine["id"]
        assert gateway.find_customer(f"{other}@example.com") is None  # never by email
        assert gateway.find_customer("it's a \\ quote") is None  # quotes and backslashes are escaped

    @fake_only
    def test_search_may_still_list_a_deleted_customer(self, gateway, customers, stand_in):
        """Stripe's index lags: find_customer can name a deleted customer, which get_customer says is gone."""
        user = unique("user")
        customer = customers({"metadata": {"clerk_user_id": user}})
        stand_in.delete(customer["id"])  # in the dashboard, unseen by the app
        assert gateway.find_customer(user) is None
        stand_in.search_lags = True
        assert gateway.find_customer(user)["id"] == customer["id"]
        assert gateway.get_customer(customer["id"]) is None
