"""The plan catalog: Stripe products and prices, filtered and paged like Stripe."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class BillingGateway(Protocol):
    """What the services need from a billing provider (Stripe, or the offline catalog)."""

    name: str

    def list_products(self, params: dict) -> dict: ...
    def get_product(self, product_id: str) -> dict: ...
    def list_prices(self, params: dict) -> dict: ...
    def get_price(self, price_id: str) -> dict: ...
    def create_customer(self, params: dict, idempotency_key: str) -> dict: ...
    def update_customer(self, customer_id: str, params: dict) -> dict: ...
    def get_customer(self, customer_id: str) -> dict | None: ...
    def find_customer(self, clerk_user_id: str) -> dict | None: ...


@dataclass(frozen=True)
class Page:
    data: list[dict]
    has_more: bool

    @property
    def count(self) -> int:
        return len(self.data)


class CatalogService:
    """Lists and fetches products and prices."""

    def __init__(self, gateway: BillingGateway):
        self.gateway = gateway

    def list_products(self, **filters) -> Page:
        """One page of products; `filters` are active, limit, starting_after."""
        listing = self.gateway.list_products(_stripe_params(filters))
        return Page(listing["data"], bool(listing.get("has_more")))

    def get_product(self, product_id: str) -> dict:
        return self.gateway.get_product(product_id)

    def list_prices(self, **filters) -> Page:
        """One page of prices; `filters` also take product and type."""
        listing = self.gateway.list_prices(_stripe_params(filters))
        return Page(listing["data"], bool(listing.get("has_more")))

    def get_price(self, price_id: str) -> dict:
        return self.gateway.get_price(price_id)


def _stripe_params(filters: dict) -> dict:
    return {name: value for name, value in filters.items() if value is not None}
