"""Canned Stripe answers for tests that check exactly what is sent, or make Stripe fail.

Behaviour (idempotency, search, deletion, pagination) comes from the sandbox's Stripe,
sandbox/stripe, through the `sandbox_stripe` fixture (tests/sandbox_stripe.py).
"""

from __future__ import annotations

import json
import re
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


def query(call) -> dict:
    """The query string (GET) or form body (POST) Stripe received, as lists."""
    if call.request.method == "GET":
        return parse_qs(urlparse(call.request.url).query)
    return parse_qs(call.request.body or "")


def url(path: str) -> re.Pattern:
    return re.compile(re.escape(STRIPE_API + path) + r"(\?.*)?$")


def add(mock: responses.RequestsMock, method, path, body=None, status=200, **kwargs):
    mock.add(method, url(path), json=body, status=status, **kwargs)
