"""GET /metrics: every monitoring point of the seed, never public."""

import pytest

from app import create_app
from tests.conftest import with_config

TOKEN = "metrics-token-for-tests-only"


@pytest.fixture
def metered(config, sandbox_stripe):
    return create_app(with_config(config, metrics_token=TOKEN, stripe_publishable_key="pk_test_x")).test_client()


def scrape(client, token=TOKEN):
    return client.get("/metrics", headers={"Authorization": f"Bearer {token}"} if token else {})


def test_an_anonymous_or_wrong_scrape_is_refused(metered):
    assert scrape(metered, None).status_code == 401
    assert scrape(metered, "metrics-token-for-tests-onlx").status_code == 401
    assert scrape(metered).status_code == 200


def test_without_a_token_there_is_no_metrics_route(client):
    assert client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 404


def test_every_monitoring_point_shows_after_traffic(metered, auth_headers, signed_webhook):
    from tests.conftest import make_event

    metered.get("/")
    metered.get("/stripe/products", headers=auth_headers())
    metered.get("/stripe/products", headers=auth_headers())
    metered.get("/stripe/products", headers={"Authorization": "Bearer forged"})
    metered.post("/stripe/customer", headers=auth_headers("user_metrics"))
    body, headers = signed_webhook(make_event("customer.updated", {"id": "cus_x", "object": "customer"}))
    metered.post("/webhooks/stripe", data=body, headers=headers)
    metered.post("/webhooks/stripe", data=body, headers=headers)
    metered.post("/webhooks/stripe", data=body)
    text = scrape(metered).get_data(as_text=True)
    for line in (
        'tatame_http_request_duration_seconds_count{method="GET",route="/",status="200"}',
        'route="/stripe/products",status="401"',
        'tatame_webhook_deliveries_total{outcome="processed",type="customer.updated"}',
        'tatame_webhook_deliveries_total{outcome="duplicate",type="customer.updated"}',
        'tatame_webhook_deliveries_total{outcome="rejected_missing_signature",type="unknown"}',
        'tatame_webhook_handler_duration_seconds_count{type="customer.updated"}',
        'tatame_stripe_calls_total{operation="list_products",outcome="ok"}',
        'tatame_stripe_call_duration_seconds_count{operation="create_customer"}',
        'tatame_clerk_verifications_total{outcome="ok"}',
        'tatame_clerk_verifications_total{outcome="refused"}',
        'tatame_store_call_duration_seconds_count{operation="claim_event"}',
        'tatame_catalog_cache_total{result="MISS"}',
        'tatame_catalog_cache_total{result="HIT"}',
        'tatame_created_total{kind="customer"}',
    ):
        assert line in text, line
    assert "prod_" not in text and "cus_x" not in text and "user_metrics" not in text  # bounded labels


def test_a_flood_of_invented_methods_and_paths_adds_no_series(metered):
    for i in range(40):
        metered.open(f"/made/up/{i}", method=f"BREW{i}")
        metered.get(f"/stripe/products/prod_{i}/x")
    text = scrape(metered).get_data(as_text=True)
    assert 'tatame_http_request_duration_seconds_count{method="other",route="unmatched",status="405"}' in text or \
        'tatame_http_request_duration_seconds_count{method="other",route="unmatched",status="404"}' in text
    assert "BREW" not in text and "made/up" not in text and "prod_" not in text
