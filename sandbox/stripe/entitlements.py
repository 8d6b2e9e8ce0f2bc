"""Entitlements: features attached to products, each customer's active entitlements, and the summary event.

As Stripe's Entitlements API (pinned API 2026-10-28.endive) has them: an `entitlements.feature` (id,
lookup_key, name) is attached to a product (`product_feature`); a customer is entitled to the features
of the products of their subscriptions that are active, trialing or past_due (Stripe keeps them until
the subscription ends or stops being paid); GET /v1/entitlements/active_entitlements lists them; and
whenever a change to the customer's subscriptions changes that set, Stripe sends
`entitlements.active_entitlement_summary.updated` with the whole list.
"""

from __future__ import annotations

import hashlib
import json

from sandbox.stripe import events
from sandbox.stripe.faults import missing
from sandbox.stripe.forms import only, required, string
from sandbox.stripe.lists import page

ENTITLED = ("active", "trialing", "past_due")
SUMMARY_EVENT = "entitlements.active_entitlement_summary.updated"


def _feature(fake, feature_id: str) -> dict:
    return fake.catalog.get("entitlements.feature", feature_id)


def product_features(fake, product_id: str) -> list[dict]:
    """The features attached to a product, as `product_feature` objects (the feature expanded, as Stripe shows it)."""
    return [{"id": link["id"], "object": "product_feature", "livemode": False,
             "entitlement_feature": _feature(fake, link["entitlement_feature"])}
            for link in fake.catalog.product_features if link["product"] == product_id]


def active(fake, customer_id: str) -> list[dict]:
    """The customer's active entitlements, by lookup key."""
    products = {item["price"]["product"] for subscription, _ in fake.state.all("subscription")
                if subscription["customer"] == customer_id and subscription["status"] in ENTITLED
                for item in subscription["items"]["data"]}
    features = {link["entitlement_feature"] for link in fake.catalog.product_features if link["product"] in products}
    found = [_feature(fake, feature_id) for feature_id in features]
    return [{"id": _entitlement_id(customer_id, feature["id"]), "object": "entitlements.active_entitlement",
             "feature": feature["id"], "livemode": False, "lookup_key": feature["lookup_key"]}
            for feature in sorted(found, key=lambda f: f["lookup_key"])]


def _entitlement_id(customer_id: str, feature_id: str) -> str:
    return "ent_demo_" + hashlib.sha256(f"{customer_id}/{feature_id}".encode()).hexdigest()[:14]


def record_summary_if_changed(fake, customer_id: str) -> None:
    """After a subscription event: if what the customer is entitled to changed, Stripe's summary event."""
    entitlements = active(fake, customer_id)
    keys = json.dumps([e["lookup_key"] for e in entitlements])
    with fake.state.transaction():
        if fake.state.setting(f"entitlements:{customer_id}", "[]") == keys:
            return
        fake.state.set_setting(f"entitlements:{customer_id}", keys)
        events.record(fake, SUMMARY_EVENT, {
            "object": "entitlements.active_entitlement_summary", "customer": customer_id, "livemode": False,
            "entitlements": {"object": "list", "data": entitlements, "has_more": False,
                             "url": f"/v1/customer/{customer_id}/entitlements"}})


def list_active(fake, params: dict) -> dict:
    only(params, {"customer", "limit", "starting_after", "expand"})
    customer_id = string(params, "customer") or required(params, "customer")
    found = fake.state.get(customer_id)
    if found is None or found[0]["object"] != "customer":  # a deleted customer has none left, not a 404
        raise missing("customer", customer_id, param="customer", status=400)
    return page(active(fake, customer_id), params, "/v1/entitlements/active_entitlements",
                "entitlements.active_entitlement", fake.resolve)


def list_features(fake, params: dict) -> dict:
    only(params, {"lookup_key", "archived", "limit", "starting_after", "expand"})
    key = string(params, "lookup_key")
    found = [f for f in fake.catalog.features if key is None or f["lookup_key"] == key]
    return page(found, params, "/v1/entitlements/features", "entitlements.feature", fake.resolve)


def list_product_features(fake, params: dict, product_id: str) -> dict:
    only(params, {"limit", "starting_after", "expand"})
    if fake.catalog.get("product", product_id) is None:
        raise missing("product", product_id)
    return page(product_features(fake, product_id), params, f"/v1/products/{product_id}/features",
                "product_feature", fake.resolve)


ROUTES = [
    ("GET", "/v1/entitlements/active_entitlements", list_active),
    ("GET", "/v1/entitlements/features", list_features),
    ("GET", "/v1/products/{id}/features", list_product_features),
]
