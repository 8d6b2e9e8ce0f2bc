"""The catalog through its cache: headers, webhook invalidation, stale answers, two instances."""

from dataclasses import replace

import pytest
import responses

from app import create_app
from tests import stripe_canned as fake
from tests.conftest import make_event

PRODUCTS = fake.url("/v1/products")


def products_listing():
    return fake.listing([fake.product()], "/v1/products")


def read(client, headers, path="/stripe/products"):
    response = client.get(path, headers=headers)
    return response.status_code, response.headers.get("X-Cache")


def test_second_read_is_a_hit_without_stripe(client, auth_headers, stripe_api):
    stripe_api.add(responses.GET, PRODUCTS, json=products_listing())
    stripe_api.add(responses.GET, fake.url("/v1/prices"), json=fake.listing([fake.price()], "/v1/prices"))
    assert read(client, auth_headers()) == (200, "MISS")
    assert read(client, auth_headers("another_user")) == (200, "HIT")  # the catalog is the same for everyone
    assert read(client, auth_headers(), "/stripe/prices/price_test_monthly") == (200, "MISS")
    assert read(client, auth_headers(), "/stripe/prices/price_test_monthly") == (200, "HIT")
    assert len(stripe_api.calls) == 2


@pytest.mark.parametrize("event_type", ["product.updated", "price.created", "price.deleted", "product.deleted"])
def test_a_catalog_webhook_invalidates_at_once(client, auth_headers, stripe_api, signed_webhook, event_type):
    stripe_api.add(responses.GET, PRODUCTS, json=products_listing())
    read(client, auth_headers())
    body, headers = signed_webhook(make_event(event_type, {"id": "prod_1", "object": "product"}))
    delivered = client.post("/webhooks/stripe", data=body, headers=headers)
    assert delivered.status_code == 200
    assert read(client, auth_headers()) == (200, "MISS")
    assert len(stripe_api.calls) == 2


def test_stripe_down_with_a_copy_is_a_stale_200(client, auth_headers, stripe_api, app):
    stripe_api.add(responses.GET, PRODUCTS, json=products_listing())
    first = client.get("/stripe/products", headers=auth_headers()).json
    app.extensions["tatame"].catalog.invalidate()
    stripe_api.replace(responses.GET, PRODUCTS, status=500, json={"error": {"type": "api_error"}})
    response = client.get("/stripe/products", headers=auth_headers())
    assert response.status_code == 200 and response.headers["X-Cache"] == "STALE"
    assert response.json == first


def test_a_flood_of_one_off_queries_cannot_push_out_the_stale_copy(client, auth_headers, stripe_api, app):
    stripe_api.add(responses.GET, PRODUCTS, json=products_listing())
    first = client.get("/stripe/products", headers=auth_headers()).json
    for i in range(3000):  # more distinct queries than the cache has room for entries
        client.get(f"/stripe/products?limit={1 + i % 100}&active={'true' if i % 2 else 'false'}",
                   headers=auth_headers())
        client.get(f"/stripe/products/prod_junk_{i}", headers=auth_headers())
    app.extensions["tatame"].catalog.invalidate()
    stripe_api.replace(responses.GET, PRODUCTS, status=500, json={"error": {"type": "api_error"}})
    response = client.get("/stripe/products", headers=auth_headers())
    assert response.status_code == 200 and response.headers["X-Cache"] == "STALE"
    assert response.json == first
    assert len([c for c in stripe_api.calls if c.response is not None and c.response.status_code == 200]) == 1


def test_stripe_down_without_a_copy_is_502(client, auth_headers, stripe_api):
    stripe_api.add(responses.GET, PRODUCTS, status=500, json={"error": {"type": "api_error"}})
    assert read(client, auth_headers())[0] == 502


def test_workers_of_one_instance_share_invalidations(config, auth_headers, stripe_api, signed_webhook):
    """Two apps on one instance folder stand for two gunicorn workers, each with its own memory."""
    stripe_api.add(responses.GET, PRODUCTS, json=products_listing())
    worker_a, worker_b = create_app(config).test_client(), create_app(config).test_client()
    assert read(worker_b, auth_headers()) == (200, "MISS")
    assert read(worker_b, auth_headers()) == (200, "HIT")
    body, headers = signed_webhook(make_event("product.updated", {"id": "prod_1", "object": "product"}))
    assert worker_a.post("/webhooks/stripe", data=body, headers=headers).status_code == 200
    assert read(worker_b, auth_headers()) == (200, "MISS")


def test_two_instances_stay_coherent_through_redis(config, tmp_path, auth_headers, stripe_api, signed_webhook,
                                                    redis_server):
    """Instances A and B: separate machines (separate instance folders), one Redis."""
    stripe_api.add(responses.GET, PRODUCTS, json=products_listing())
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = create_app(replace(config, redis_url=redis_server.url, instance_path=str(tmp_path / "a"))).test_client()
    b = create_app(replace(config, redis_url=redis_server.url, instance_path=str(tmp_path / "b"))).test_client()
    body, headers = signed_webhook(make_event("price.updated", {"id": "price_1", "object": "price"}))
    assert a.post("/webhooks/stripe", data=body, headers=headers).status_code == 200  # a clean version
    assert read(a, auth_headers()) == (200, "MISS")
    assert read(b, auth_headers()) == (200, "HIT")  # filled by A
    calls = len(stripe_api.calls)
    body, headers = signed_webhook(make_event("product.updated", {"id": "prod_1", "object": "product"}))
    assert a.post("/webhooks/stripe", data=body, headers=headers).status_code == 200
    assert read(b, auth_headers()) == (200, "MISS")  # B sees A's invalidation at once
    assert len(stripe_api.calls) == calls + 1
