"""The plan catalog: Stripe products and prices, filtered and paged like Stripe."""

from __future__ import annotations

from dataclasses import dataclass
from app.gateways.base import BillingGateway
from app.services.catalog_cache import MISS, CatalogCache


@dataclass(frozen=True)
class Page:
    data: list[dict]
    has_more: bool
    cache: str = MISS  # HIT, MISS or STALE: where the answer came from

    @property
    def count(self) -> int:
        return len(self.data)


@dataclass(frozen=True)
class Item:
    data: dict
    cache: str = MISS


class CatalogService:
    """Lists and fetches products and prices, through the catalog cache."""

    def __init__(self, gateway: BillingGateway, cache: CatalogCache):
        self.gateway, self.cache = gateway, cache

    def list_products(self, **filters) -> Page:
        """One page of products; `filters` are active, limit, starting_after."""
        return self._page("products", self.gateway.list_products, filters)

    def get_product(self, product_id: str) -> Item:
        return Item(*self.cache.get_or_load(["product", product_id], lambda: self.gateway.get_product(product_id)))

    def list_prices(self, **filters) -> Page:
        """One page of prices; `filters` also take product and type."""
        return self._page("prices", self.gateway.list_prices, filters)

    def get_price(self, price_id: str) -> Item:
        return Item(*self.cache.get_or_load(["price", price_id], lambda: self.gateway.get_price(price_id)))

    def invalidate(self) -> None:
        """Products or prices changed in Stripe: forget every cached answer."""
        self.cache.invalidate()

    def _page(self, kind: str, load, filters: dict) -> Page:
        params = _stripe_params(filters)
        listing, source = self.cache.get_or_load([kind, params], lambda: load(params))
        return Page(listing["data"], bool(listing.get("has_more")), source)


def _stripe_params(filters: dict) -> dict:
    return {name: value for name, value in filters.items() if value is not None}
