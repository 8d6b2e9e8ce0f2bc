"""The plan catalog: Stripe products and prices, answered from one snapshot of the whole catalog.

An academy's catalog is small (a few plans, a few prices), so the whole of it is read from
Stripe once per catalog version (one list call per 100 products, and per 100 prices) and every query —
filters, cursors, ids — is answered from that snapshot, with Stripe's own list semantics
(newest first, as Stripe ordered them; an unknown cursor is a 400; an unknown id a 404). So no
query a signed-in user can make, however many distinct ids, cursors or filters, turns into a
Stripe call: Stripe sees one load per version (a product.* or price.* webhook, or the TTL), and
the one stale copy kept for outages cannot be pushed out by one-off keys.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field

from app.gateways.base import BillingGateway, expandable_id
from app.services.catalog_cache import MISS, CatalogCache
from app.services.errors import NotFound, ValidationFailed

log = logging.getLogger(__name__)
PAGE_SIZE = 100          # Stripe's largest page
MAX_PAGES = 50           # 5,000 objects of each kind: far beyond an academy; past it the snapshot says so in the log


@dataclass(frozen=True)
class Page:
    data: list[dict]
    has_more: bool
    cache: str = MISS  # HIT, MISS or STALE: where the answer came from
    snapshot: str = ""  # which snapshot answered: the same snapshot and query give the same answer

    @property
    def count(self) -> int:
        return len(self.data)


@dataclass(frozen=True)
class Item:
    data: dict
    cache: str = MISS
    snapshot: str = ""


@dataclass(frozen=True)
class Snapshot:
    """Every object of a kind (products with default_price expanded, prices with product), in Stripe's order."""

    objects: list[dict]
    by_id: dict[str, dict] = field(default_factory=dict)
    tag: str = ""  # new for every load: what answers derived from it are remembered by

    @classmethod
    def of(cls, objects: list[dict]) -> "Snapshot":
        return cls(objects, {obj["id"]: obj for obj in objects}, uuid.uuid4().hex)


class CatalogService:
    """Lists and fetches products and prices from the cached snapshot."""

    def __init__(self, gateway: BillingGateway, cache: CatalogCache):
        self.gateway, self.cache = gateway, cache

    def list_products(self, *, active: bool = True, limit: int = 10, starting_after: str | None = None) -> Page:
        """One page of products; `active` filters as Stripe does."""
        snapshot, source = self._snapshot("products")
        found = [p for p in snapshot.objects if p.get("active") == active]
        return Page(*_page(found, limit, starting_after), source, snapshot.tag)

    def get_product(self, product_id: str) -> Item:
        return self._get("products", product_id)

    def list_prices(self, *, active: bool = True, limit: int = 10, starting_after: str | None = None,
                    product: str | None = None, type: str | None = None) -> Page:  # noqa: A002 - Stripe's name
        """One page of prices; also filtered by product id and type."""
        snapshot, source = self._snapshot("prices")
        found = [p for p in snapshot.objects if p.get("active") == active
                 and (product is None or expandable_id(p.get("product")) == product)
                 and (type is None or p.get("type") == type)]
        return Page(*_page(found, limit, starting_after), source, snapshot.tag)

    def get_price(self, price_id: str) -> Item:
        return self._get("prices", price_id)

    def invalidate(self) -> None:
        """Products or prices changed in Stripe: forget every cached answer."""
        self.cache.invalidate()

    # --- the snapshot ------------------------------------------------------------------------
    def _get(self, kind: str, object_id: str) -> Item:
        snapshot, source = self._snapshot(kind)
        found = snapshot.by_id.get(object_id)
        if found is None:
            raise NotFound(f"No such {kind[:-1]}.")
        return Item(found, source, snapshot.tag)

    def _snapshot(self, kind: str) -> tuple[Snapshot, str]:
        """The snapshot of "products" or "prices": one cache entry each, loaded with one Stripe call per page."""
        list_page = self.gateway.list_products if kind == "products" else self.gateway.list_prices
        return self.cache.get_or_load([kind], lambda: Snapshot.of(self._all(list_page)))

    @staticmethod
    def _all(list_page) -> list[dict]:
        objects: list[dict] = []
        params: dict = {"limit": PAGE_SIZE}
        for _ in range(MAX_PAGES):
            listing = list_page(params)
            objects.extend(listing["data"])
            if not listing.get("has_more") or not listing["data"]:
                return objects
            params = {"limit": PAGE_SIZE, "starting_after": listing["data"][-1]["id"]}
        log.error("the catalog has more than %d objects of a kind; the snapshot holds the first ones",
                  PAGE_SIZE * MAX_PAGES)
        return objects


def _page(objects: list[dict], limit: int, cursor: str | None) -> tuple[list[dict], bool]:
    """Stripe's cursor pagination over an already filtered, ordered list."""
    if cursor is not None:
        ids = [obj["id"] for obj in objects]
        if cursor not in ids:
            raise ValidationFailed(details={"starting_after": ["No such object."]})
        objects = objects[ids.index(cursor) + 1:]
    return objects[:limit], len(objects) > limit
