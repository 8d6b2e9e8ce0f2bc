"""The catalog answers every query from its snapshot exactly as Stripe's list endpoints would.

The reference is the sandbox's own list endpoint (held to Stripe by the gateway contract):
for every filter, limit and cursor, the service's page equals what the sandbox's Stripe answers directly.
"""

import itertools

import pytest
from cachelib import SimpleCache

from sandbox.in_process import sandbox_gateway
from app.services.catalog import CatalogService
from app.services.catalog_cache import CatalogCache
from app.services.shared_version import FileVersion
from app.services.errors import NotFound, ValidationFailed
from config import STRIPE_API_VERSION
from tests.sandbox_stripe import Observed


@pytest.fixture
def gateway():
    return sandbox_gateway(Observed(), STRIPE_API_VERSION)


@pytest.fixture
def catalog(gateway, tmp_path):
    return CatalogService(gateway, CatalogCache(SimpleCache(), FileVersion(tmp_path / "v")))


def _ids(listing):
    return [obj["id"] for obj in listing]


def test_product_pages_equal_stripes_for_every_filter_limit_and_cursor(catalog, gateway):
    every = gateway.list_products({"limit": 100})["data"]
    for active, limit, cursor in itertools.product((True, False), (1, 2, 3, 100), [None] + _ids(every)):
        params = {"active": active, "limit": limit, **({"starting_after": cursor} if cursor else {})}
        try:
            expected = gateway.list_products(params)
        except ValidationFailed:
            with pytest.raises(ValidationFailed):
                catalog.list_products(active=active, limit=limit, starting_after=cursor)
            continue
        page = catalog.list_products(active=active, limit=limit, starting_after=cursor)
        assert (page.data, page.has_more) == (expected["data"], expected["has_more"]), params


def test_price_pages_equal_stripes_for_every_filter(catalog, gateway):
    every = gateway.list_prices({"limit": 100})["data"]
    products = sorted({p["product"]["id"] for p in every})
    for active, product, type_, limit in itertools.product((True, False), [None, *products, "prod_none"],
                                                            (None, "recurring", "one_time"), (1, 4, 100)):
        params = {"active": active, "limit": limit, **{k: v for k, v in (("product", product), ("type", type_)) if v}}
        expected = gateway.list_prices(params)
        page = catalog.list_prices(active=active, limit=limit, product=product, type=type_)
        assert (page.data, page.has_more) == (expected["data"], expected["has_more"]), params


def test_objects_by_id_equal_stripes(catalog, gateway):
    for product in gateway.list_products({"limit": 100})["data"]:
        assert catalog.get_product(product["id"]).data == gateway.get_product(product["id"])
    for price in gateway.list_prices({"limit": 100})["data"]:
        assert catalog.get_price(price["id"]).data == gateway.get_price(price["id"])
    with pytest.raises(NotFound):
        catalog.get_product("price_demo_enrolment")  # a price's id is no product
    with pytest.raises(NotFound):
        catalog.get_price("prod_demo_unlimited")
