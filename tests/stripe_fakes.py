"""Stripe-shaped objects and `responses` registrations for the fake Stripe API."""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from urllib.parse import parse_qs, urlparse

import responses

from tests.conftest import STRIPE_API


def product(product_id="prod_test_monthly", **fields) -> dict:
    base = {
        "id": product_id, "object": "product", "active": True, "name": "Monthly plan",
        "description": "Unlimited classes", "default_price": price(product=product_id),
        "metadata": {}, "livemode": False, "created": 1760000000, "images": [],
    }
    return {**base, **fields}


def price(price_id="price_test_monthly", product="prod_test_monthly", **fields) -> dict:
    base = {
        "id": price_id, "object": "price", "active": True, "currency": "brl", "unit_amount": 19900,
        "type": "recurring", "recurring": {"interval": "month", "interval_count": 1},
        "product": product, "livemode": False, "created": 1760000000, "metadata": {},
    }
    return {**base, **fields}


def customer(customer_id="cus_test_1", clerk_user_id="user_test_123", **fields) -> dict:
    base = {"id": customer_id, "object": "customer", "email": None, "name": None,
            "metadata": {"clerk_user_id": clerk_user_id}, "livemode": False, "created": 1760000000}
    return {**base, **fields}


def listing(data, url, has_more=False) -> dict:
    return {"object": "list", "data": data, "has_more": has_more, "url": url}


def error(status, code, message="error", param=None, type_="invalid_request_error"):
    body = {"error": {"type": type_, "code": code, "message": message}}
    if param:
        body["error"]["param"] = param
    return status, {}, json.dumps(body)


def query(call) -> dict:
    """The query string (GET) or form body (POST) Stripe received, as lists."""
    if call.request.method == "GET":
        return parse_qs(urlparse(call.request.url).query)
    return parse_qs(call.request.body or "")


def url(path: str) -> re.Pattern:
    return re.compile(re.escape(STRIPE_API + path) + r"(\?.*)?$")


def add(mock: responses.RequestsMock, method, path, body=None, status=200, **kwargs):
    mock.add(method, url(path), json=body, status=status, **kwargs)


class FakeStripeCustomers:
    """Stripe's customers endpoints: create (strict idempotency), retrieve, update, search, deletion."""

    def __init__(self, mock: responses.RequestsMock, create_delay: float = 0.0):
        self.customers: dict[str, dict] = {}
        self.by_key: dict[str, tuple[dict, dict]] = {}
        self.creations = 0
        self.keys: list[str] = []
        self.searches = 0
        self.search_lags = False
        self.delay = create_delay
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        mock.add_callback(responses.POST, url("/v1/customers"), callback=self.create)
        mock.add_callback(responses.GET, url("/v1/customers/search"), callback=self.search)
        one = re.compile(r"https://api\.stripe\.com/v1/customers/(?!search)[^/?]+(\?.*)?$")
        mock.add_callback(responses.GET, one, callback=self.retrieve)
        mock.add_callback(responses.POST, one, callback=self.update)

    def create(self, request):
        key = request.headers.get("Idempotency-Key")
        form = parse_qs(request.body)
        time.sleep(self.delay)
        with self._lock:
            self.keys.append(key)
            if key in self.by_key:
                earlier, first_form = self.by_key[key]
                if first_form != form:  # what Stripe does with a key reused for other parameters
                    return 400, {}, json.dumps({"error": {"type": "idempotency_error",
                                                          "message": "Keys for idempotent requests can only be used"
                                                                     " with the same parameters"}})
                return 200, {}, json.dumps(earlier)
            made = customer(f"cus_test_{next(self._ids)}", clerk_user_id=form["metadata[clerk_user_id]"][0])
            self.creations += 1
            self.customers[made["id"]] = made
            self.by_key[key] = (made, form)
            return 200, {}, json.dumps(made)

    def _id(self, request):
        return request.path_url.split("?")[0].rsplit("/", 1)[1]

    def retrieve(self, request):
        customer = self.customers.get(self._id(request))
        if customer is not None and customer.get("deleted"):
            return 200, {}, json.dumps({"id": customer["id"], "object": "customer", "deleted": True})
        if customer is None:
            return 404, {}, json.dumps({"error": {"type": "invalid_request_error", "code": "resource_missing"}})
        return 200, {}, json.dumps(customer)

    def update(self, request):
        customer = self.customers[self._id(request)]
        customer.update({k: v[0] for k, v in parse_qs(request.body).items()})
        return 200, {}, json.dumps(customer)

    def search(self, request):
        self.searches += 1
        query = parse_qs(request.path_url.split("?", 1)[1])["query"][0]
        user = re.fullmatch(r"metadata\['clerk_user_id'\]:'(.*)'", query).group(1)
        # Stripe's index is eventually consistent: with search_lags it still lists deleted customers.
        found = [{k: v for k, v in c.items() if k != "deleted"} for c in self.customers.values()
                 if (self.search_lags or not c.get("deleted")) and c.get("metadata", {}).get("clerk_user_id") == user]
        return 200, {}, json.dumps({"object": "search_result", "data": found, "has_more": False})

    def delete(self, customer_id):
        self.customers[customer_id] = {**self.customers[customer_id], "deleted": True}
