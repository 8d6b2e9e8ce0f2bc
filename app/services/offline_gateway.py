"""An offline billing gateway for development: Stripe's behaviour without Stripe.

The catalog comes from a Stripe-shaped fixture (app/fixtures/catalog.json) with the
same filters, expansion and cursor pagination as Stripe's list endpoints; customers
are created in a local SQLite file with `cus_demo_...` ids and honour idempotency
keys like Stripe does. Never used in production (config refuses to start without
STRIPE_SECRET_KEY there).
"""

from __future__ import annotations

import copy
import json
import secrets
import sqlite3
import threading
import time
from pathlib import Path

from app.services.errors import NotFound, UpstreamError, ValidationFailed

DEFAULT_CATALOG = Path(__file__).resolve().parent.parent / "fixtures" / "catalog.json"


class OfflineGateway:
    """The BillingGateway interface on a fixture catalog and a local customer table."""

    name = "offline"

    def __init__(self, customers_db: str, catalog_path: Path = DEFAULT_CATALOG):
        data = json.loads(Path(catalog_path).read_text())
        newest_first = lambda items: sorted(items, key=lambda o: (o["created"], o["id"]), reverse=True)  # noqa: E731
        self.products = newest_first(data["products"])
        self.prices = newest_first(data["prices"])
        self._products_by_id = {p["id"]: p for p in self.products}
        self._prices_by_id = {p["id"]: p for p in self.prices}
        self._db_path = customers_db
        self._local = threading.local()
        Path(customers_db).parent.mkdir(parents=True, exist_ok=True)
        db = self._db()
        db.execute(
            "CREATE TABLE IF NOT EXISTS customers (id TEXT PRIMARY KEY, idempotency_key TEXT UNIQUE,"
            " body TEXT NOT NULL, deleted INTEGER NOT NULL DEFAULT 0)"
        )
        try:  # files made before idempotency keys remembered their parameters
            db.execute("ALTER TABLE customers ADD COLUMN params TEXT")
        except sqlite3.OperationalError:
            pass

    # --- catalog -------------------------------------------------------------
    def list_products(self, params: dict) -> dict:
        items = [p for p in self.products if _matches(p, params, ("active",))]
        return self._page(items, params, "/v1/products", self._with_price)

    def get_product(self, product_id: str) -> dict:
        if product_id not in self._products_by_id:
            raise NotFound("No such product.")
        return self._with_price(self._products_by_id[product_id])

    def list_prices(self, params: dict) -> dict:
        items = [p for p in self.prices if _matches(p, params, ("active", "product", "type"))]
        return self._page(items, params, "/v1/prices", self._with_product)

    def get_price(self, price_id: str) -> dict:
        if price_id not in self._prices_by_id:
            raise NotFound("No such price.")
        return self._with_product(self._prices_by_id[price_id])

    def _with_price(self, product: dict) -> dict:
        product = copy.deepcopy(product)
        if product.get("default_price") in self._prices_by_id:
            product["default_price"] = copy.deepcopy(self._prices_by_id[product["default_price"]])
        return product

    def _with_product(self, price: dict) -> dict:
        price = copy.deepcopy(price)
        price["product"] = copy.deepcopy(self._products_by_id[price["product"]])
        return price

    @staticmethod
    def _page(items: list[dict], params: dict, url: str, expand) -> dict:
        cursor = params.get("starting_after")
        if cursor is not None:
            ids = [item["id"] for item in items]
            if cursor not in ids:
                raise ValidationFailed("Invalid request parameters.", {"starting_after": ["No such object."]})
            items = items[ids.index(cursor) + 1:]
        limit = params.get("limit", 10)
        return {"object": "list", "url": url, "has_more": len(items) > limit,
                "data": [expand(item) for item in items[:limit]]}

    # --- customers -----------------------------------------------------------
    def _db(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self._db_path, timeout=10, isolation_level=None)
            conn.execute("PRAGMA journal_mode = WAL")
            self._local.conn = conn
        return conn

    def create_customer(self, params: dict, idempotency_key: str) -> dict:
        customer = {
            "id": f"cus_demo_{secrets.token_hex(7)}", "object": "customer", "address": None, "balance": 0,
            "created": int(time.time()), "currency": None, "default_source": None, "delinquent": False,
            "description": None, "email": params.get("email"), "invoice_prefix": secrets.token_hex(4).upper(),
            "livemode": False, "metadata": dict(params.get("metadata") or {}), "name": params.get("name"),
            "phone": None, "preferred_locales": [], "shipping": None, "tax_exempt": "none",
        }
        db = self._db()
        # Like Stripe: the same idempotency key gives back the first answer, and only for the same parameters.
        sent = json.dumps(params, sort_keys=True)
        db.execute("INSERT OR IGNORE INTO customers (id, idempotency_key, body, params) VALUES (?, ?, ?, ?)",
                   (customer["id"], idempotency_key, json.dumps(customer), sent))
        body, first = db.execute("SELECT body, params FROM customers WHERE idempotency_key = ?",
                                 (idempotency_key,)).fetchone()
        if first is not None and first != sent:
            raise UpstreamError("The payment service rejected the request.")  # Stripe's idempotency_error
        return json.loads(body)

    def update_customer(self, customer_id: str, params: dict) -> dict:
        customer = self.get_customer(customer_id)
        if customer is None:
            raise NotFound("No such customer.")
        customer.update({k: v for k, v in params.items() if k != "metadata"})
        customer["metadata"] = {**customer["metadata"], **params.get("metadata", {})}
        self._db().execute("UPDATE customers SET body = ? WHERE id = ?", (json.dumps(customer), customer_id))
        return customer

    def find_customer(self, clerk_user_id: str) -> dict | None:
        """The oldest live customer whose metadata names this Clerk user."""
        for body, in self._db().execute("SELECT body FROM customers WHERE deleted = 0 ORDER BY rowid"):
            customer = json.loads(body)
            if customer["metadata"].get("clerk_user_id") == clerk_user_id:
                return customer
        return None

    def get_customer(self, customer_id: str) -> dict | None:
        row = self._db().execute("SELECT body, deleted FROM customers WHERE id = ?", (customer_id,)).fetchone()
        if row is None or row[1]:
            return None
        return json.loads(row[0])

    def delete_customer(self, customer_id: str) -> bool:
        """Mark a customer deleted, as the Stripe dashboard would (for demos and tests)."""
        return self._db().execute("UPDATE customers SET deleted = 1 WHERE id = ?", (customer_id,)).rowcount == 1


def _matches(obj: dict, params: dict, names: tuple[str, ...]) -> bool:
    return all(params.get(name) is None or obj.get(name) == params[name] for name in names)
