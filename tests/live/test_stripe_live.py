"""The Stripe gateway against a real Stripe test account."""

import uuid

import pytest

from app.services.errors import NotFound
from app.gateways.stripe import StripeGateway, build_stripe_client


@pytest.fixture(scope="module")
def gateway(live_config):
    key = live_config.stripe_secret_key or ""
    if not key.startswith(("sk_test_", "rk_test_")):
        pytest.skip("set STRIPE_SECRET_KEY to a test-mode key (sk_test_...) to run the Stripe live checks")
    client = build_stripe_client(key, api_version=live_config.stripe_api_version, timeout=live_config.stripe_timeout,
                                 max_retries=live_config.stripe_max_retries, api_base=live_config.stripe_api_base)
    return StripeGateway(client)


def test_catalog_lists_with_expansion(gateway):
    products = gateway.list_products({"active": True, "limit": 3})
    assert products["object"] == "list" and isinstance(products["has_more"], bool)
    for product in products["data"]:
        assert product["object"] == "product"
        assert product["default_price"] is None or isinstance(product["default_price"], dict)
    prices = gateway.list_prices({"active": True, "limit": 3})
    for price in prices["data"]:
        assert isinstance(price["product"], dict)


def test_unknown_objects_are_not_found(gateway):
    with pytest.raises(NotFound):
        gateway.get_product(f"prod_tatame_missing_{uuid.uuid4().hex[:8]}")
    with pytest.raises(NotFound):
        gateway.get_price(f"price_tatame_missing_{uuid.uuid4().hex[:8]}")


def test_customer_idempotency_and_deletion(gateway):
    key = f"tatame-live-check-{uuid.uuid4().hex}"
    params = {"metadata": {"clerk_user_id": "user_live_check"}, "name": "Tatame live check"}
    first = gateway.create_customer(params, key)
    try:
        assert gateway.create_customer(params, key)["id"] == first["id"]  # Stripe replays the first answer
        assert gateway.get_customer(first["id"])["metadata"] == {"clerk_user_id": "user_live_check"}
    finally:
        gateway.client.v1.customers.delete(first["id"])
    assert gateway.get_customer(first["id"]) is None
