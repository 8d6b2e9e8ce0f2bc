"""Products, prices and their features: the fixture catalog (sandbox/stripe/catalog.json), read-only, listed as Stripe lists them."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from sandbox.stripe.faults import StripeFault, missing
from sandbox.stripe.forms import boolean, only, string
from sandbox.stripe.lists import expand, expansions, newest_first, page

DEFAULT_CATALOG = Path(__file__).resolve().parent / "catalog.json"


class Catalog:
    """Products and prices by id, each list newest first; the features attached to products."""

    def __init__(self, source: Path | dict = DEFAULT_CATALOG):
        data = source if isinstance(source, dict) else json.loads(Path(source).read_text())
        self.products = newest_first(copy.deepcopy(data["products"]))
        self.prices = newest_first(copy.deepcopy(data["prices"]))
        # Entitlements (entitlements.py): features, and which product carries which (`product` is the link).
        self.features = sorted(copy.deepcopy(data.get("features", [])), key=lambda f: f["lookup_key"])
        self.product_features = copy.deepcopy(data.get("product_features", []))
        self.by_id = {obj["id"]: obj for obj in self.products + self.prices + self.features}

    def get(self, type_: str, object_id: str) -> dict | None:
        found = self.by_id.get(object_id)
        return found if found is not None and found["object"] == type_ else None


def purchasable(fake, price_id, param: str) -> dict:
    """The active price a purchase names in `param`, refused as Stripe refuses an unknown or archived one."""
    price = fake.catalog.get("price", price_id) if isinstance(price_id, str) else None
    if price is None:
        raise missing("price", str(price_id), param=param, status=400)
    if not price["active"]:
        raise StripeFault(400, "The price specified is inactive. This field only accepts active prices.", param=param)
    return copy.deepcopy(price)


def list_products(fake, params: dict) -> dict:
    only(params, {"active", "limit", "starting_after", "expand"})
    active = boolean(params, "active")
    found = [p for p in fake.catalog.products if active is None or p["active"] == active]
    return page(found, params, "/v1/products", "product", fake.resolve)


def retrieve_product(fake, params: dict, product_id: str) -> dict:
    only(params, {"expand"})
    product = fake.catalog.get("product", product_id)
    if product is None:
        raise missing("product", product_id)
    return expand(product, expansions(params), fake.resolve)


def list_prices(fake, params: dict) -> dict:
    only(params, {"active", "product", "type", "currency", "limit", "starting_after", "expand"})
    active = boolean(params, "active")
    wanted = {name: string(params, name) for name in ("product", "type", "currency")}
    found = [p for p in fake.catalog.prices if (active is None or p["active"] == active)
             and all(value is None or p[name] == value for name, value in wanted.items())]
    return page(found, params, "/v1/prices", "price", fake.resolve)


def retrieve_price(fake, params: dict, price_id: str) -> dict:
    only(params, {"expand"})
    price = fake.catalog.get("price", price_id)
    if price is None:
        raise missing("price", price_id)
    return expand(price, expansions(params), fake.resolve)


ROUTES = [
    ("GET", "/v1/products", list_products),
    ("GET", "/v1/products/{id}", retrieve_product),
    ("GET", "/v1/prices", list_prices),
    ("GET", "/v1/prices/{id}", retrieve_price),
]
