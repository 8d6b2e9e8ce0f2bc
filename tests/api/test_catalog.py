"""GET /stripe/products[/<id>] and /stripe/prices[/<id>] through the test client."""

import pytest
import responses

from tests import stripe_fakes as fake


def test_products_lists_with_defaults_and_expansion(client, auth_headers, stripe_api):
    fake.add(stripe_api, "GET", "/v1/products", fake.listing([fake.product()], "/v1/products", has_more=True))
    response = client.get("/stripe/products", headers=auth_headers())
    assert response.status_code == 200
    assert response.json["count"] == 1 and response.json["has_more"] is True
    assert response.json["data"][0]["default_price"]["id"] == "price_test_monthly"
    sent = fake.query(stripe_api.calls[0])
    assert sent == {"active": ["true"], "limit": ["10"], "expand[0]": ["data.default_price"]}
    assert stripe_api.calls[0].request.headers["Stripe-Version"] == "2026-10-28.endive"


def test_products_pass_filters_and_cursor(client, auth_headers, stripe_api):
    fake.add(stripe_api, "GET", "/v1/products", fake.listing([], "/v1/products"))
    response = client.get("/stripe/products?active=false&limit=100&starting_after=prod_abc", headers=auth_headers())
    assert response.status_code == 200
    assert response.json == {"data": [], "count": 0, "has_more": False}
    sent = fake.query(stripe_api.calls[0])
    assert sent["active"] == ["false"] and sent["limit"] == ["100"] and sent["starting_after"] == ["prod_abc"]


def test_prices_filter_by_product_and_type(client, auth_headers, stripe_api):
    fake.add(stripe_api, "GET", "/v1/prices",
             fake.listing([fake.price(product=fake.product(default_price="price_test_monthly"))], "/v1/prices"))
    response = client.get("/stripe/prices?product=prod_test_monthly&type=recurring", headers=auth_headers())
    assert response.status_code == 200
    assert response.json["data"][0]["product"]["id"] == "prod_test_monthly"
    sent = fake.query(stripe_api.calls[0])
    assert sent["product"] == ["prod_test_monthly"] and sent["type"] == ["recurring"]
    assert sent["expand[0]"] == ["data.product"]


def test_get_product_expands_default_price(client, auth_headers, stripe_api):
    fake.add(stripe_api, "GET", "/v1/products/prod_test_monthly", fake.product())
    response = client.get("/stripe/products/prod_test_monthly", headers=auth_headers())
    assert response.status_code == 200
    assert response.json["data"]["id"] == "prod_test_monthly"
    assert fake.query(stripe_api.calls[0]) == {"expand[0]": ["default_price"]}


def test_get_price_expands_product(client, auth_headers, stripe_api):
    fake.add(stripe_api, "GET", "/v1/prices/price_test_monthly", fake.price(product=fake.product()))
    response = client.get("/stripe/prices/price_test_monthly", headers=auth_headers())
    assert response.status_code == 200
    assert response.json["data"]["product"]["name"] == "Monthly plan"
    assert fake.query(stripe_api.calls[0]) == {"expand[0]": ["product"]}


@pytest.mark.parametrize("path", ["/stripe/products/prod_missing", "/stripe/prices/price_missing"])
def test_unknown_object_is_404(client, auth_headers, stripe_api, path):
    stripe_api.add(responses.GET, fake.url("/v1" + path.removeprefix("/stripe")),
                   *[], status=404, json={"error": {"type": "invalid_request_error", "code": "resource_missing",
                                                    "message": "No such product: 'prod_missing'", "param": "id"}})
    response = client.get(path, headers=auth_headers())
    assert response.status_code == 404
    assert response.json["error"]["code"] == "NOT_FOUND"
    assert "prod_missing" not in response.json["error"]["message"]


def test_unknown_cursor_is_a_validation_error(client, auth_headers, stripe_api):
    stripe_api.add(responses.GET, fake.url("/v1/products"), status=400,
                   json={"error": {"type": "invalid_request_error", "code": "resource_missing",
                                   "param": "starting_after", "message": "No such product: 'prod_gone'"}})
    response = client.get("/stripe/products?starting_after=prod_gone", headers=auth_headers())
    assert response.status_code == 400
    assert response.json["error"]["details"] == {"starting_after": ["No such object."]}


@pytest.mark.parametrize("status", [500, 429, 401])
def test_stripe_failure_is_502_without_upstream_message(client, auth_headers, stripe_api, status):
    stripe_api.add(responses.GET, fake.url("/v1/products"), status=status,
                   json={"error": {"type": "api_error", "message": "secret upstream detail sk_test_x"}})
    response = client.get("/stripe/products", headers=auth_headers())
    assert response.status_code == 502
    assert response.json["error"]["code"] == "SERVICE_ERROR"
    assert "upstream detail" not in response.get_data(as_text=True)


def test_stripe_unreachable_is_502(client, auth_headers, stripe_api):
    import requests

    stripe_api.add(responses.GET, fake.url("/v1/products"), body=requests.ConnectionError("refused"))
    response = client.get("/stripe/products", headers=auth_headers())
    assert response.status_code == 502


@pytest.mark.parametrize(
    "query, field",
    [
        ("active=yes", "active"), ("active=1", "active"), ("limit=0", "limit"), ("limit=101", "limit"),
        ("limit=5abc", "limit"), ("limit=1.5", "limit"), ("limit=-1", "limit"), ("limit=", "limit"),
        ("starting_after=a/b", "starting_after"), ("starting_after=" + "a" * 256, "starting_after"),
        ("colour=red", "colour"), ("limit=5&limit=6", "limit"),
    ],
)
def test_bad_product_query_is_400_and_never_reaches_stripe(client, auth_headers, stripe_api, query, field):
    response = client.get(f"/stripe/products?{query}", headers=auth_headers())
    assert response.status_code == 400
    assert response.json["error"]["code"] == "VALIDATION_ERROR"
    assert field in response.json["error"]["details"]
    assert len(stripe_api.calls) == 0


@pytest.mark.parametrize("query, field", [("type=monthly", "type"), ("product=prod%2Fx", "product")])
def test_bad_price_query_is_400(client, auth_headers, stripe_api, query, field):
    response = client.get(f"/stripe/prices?{query}", headers=auth_headers())
    assert response.status_code == 400
    assert field in response.json["error"]["details"]
    assert len(stripe_api.calls) == 0


@pytest.mark.parametrize("path", ["prod%2F..%2Fx", "prod.x", "..", "prod%00", "a" * 256, "prod x", "%C3%A9"])
def test_bad_path_id_is_400_and_never_reaches_stripe(client, auth_headers, stripe_api, path):
    for prefix in ("/stripe/products/", "/stripe/prices/"):
        response = client.get(prefix + path, headers=auth_headers())
        assert response.status_code == 400, (prefix, path)
        assert response.json["error"]["code"] == "VALIDATION_ERROR"
    assert len(stripe_api.calls) == 0


def test_stripe_api_base_is_honoured(config, auth_headers, stripe_api):
    from app import create_app
    from tests.conftest import with_config

    app = create_app(with_config(config, stripe_api_base="http://stripe-mock.local:12111"))
    stripe_api.add(responses.GET, "http://stripe-mock.local:12111/v1/products",
                   json=fake.listing([], "/v1/products"))
    response = app.test_client().get("/stripe/products", headers=auth_headers())
    assert response.status_code == 200
