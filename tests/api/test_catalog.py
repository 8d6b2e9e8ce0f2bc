"""GET /stripe/products[/<id>] and /stripe/prices[/<id>] through the test client."""

import pytest
import responses

from tests import stripe_canned as fake


def _products(*products, has_more=False):
    return fake.listing(list(products), "/v1/products", has_more=has_more)


def test_products_are_loaded_whole_once_then_answered_with_defaults(client, auth_headers, stripe_api):
    fake.add(stripe_api, "GET", "/v1/products", _products(fake.product(), fake.product("prod_old", active=False)))
    response = client.get("/stripe/products", headers=auth_headers())
    assert response.status_code == 200
    assert response.json["count"] == 1 and response.json["has_more"] is False  # active=true by default
    assert response.json["data"][0]["default_price"]["id"] == "price_test_monthly"
    sent = fake.query(stripe_api.calls[0])
    assert sent == {"limit": ["100"], "expand[0]": ["data.default_price"]}  # the whole catalog, both states
    assert stripe_api.calls[0].request.headers["Stripe-Version"] == "2026-10-28.endive"


def test_filters_limit_and_cursor_are_answered_from_the_snapshot(client, auth_headers, stripe_api):
    products = [fake.product(f"prod_{i}", created=1760000000 - i, active=i % 3 != 0) for i in range(1, 13)]
    fake.add(stripe_api, "GET", "/v1/products", _products(*products))
    inactive = client.get("/stripe/products?active=false&limit=100", headers=auth_headers()).json
    assert [p["id"] for p in inactive["data"]] == ["prod_3", "prod_6", "prod_9", "prod_12"]
    first = client.get("/stripe/products?limit=3", headers=auth_headers()).json
    assert [p["id"] for p in first["data"]] == ["prod_1", "prod_2", "prod_4"] and first["has_more"] is True
    after = client.get("/stripe/products?limit=100&starting_after=prod_4", headers=auth_headers()).json
    assert [p["id"] for p in after["data"]] == ["prod_5", "prod_7", "prod_8", "prod_10", "prod_11"]
    assert after["has_more"] is False
    assert len(stripe_api.calls) == 1  # every query above from one load


def test_a_catalog_of_several_stripe_pages_is_read_to_the_end(client, auth_headers, stripe_api):
    first = [fake.product(f"prod_{i}", created=1760000000 - i) for i in range(100)]
    fake.add(stripe_api, "GET", "/v1/products", _products(*first, has_more=True))
    fake.add(stripe_api, "GET", "/v1/products", _products(fake.product("prod_last", created=1)))
    response = client.get("/stripe/products?limit=100&starting_after=prod_99", headers=auth_headers())
    assert [p["id"] for p in response.json["data"]] == ["prod_last"]
    assert fake.query(stripe_api.calls[1])["starting_after"] == ["prod_99"]


def test_prices_filter_by_product_and_type(client, auth_headers, stripe_api):
    monthly = fake.price(product=fake.product(default_price="price_test_monthly"))
    fee = fake.price("price_fee", product=fake.product(default_price="price_test_monthly"), type="one_time",
                     recurring=None)
    other = fake.price("price_other", product=fake.product("prod_other", default_price="price_other"))
    fake.add(stripe_api, "GET", "/v1/prices", fake.listing([monthly, fee, other], "/v1/prices"))
    response = client.get("/stripe/prices?product=prod_test_monthly&type=recurring", headers=auth_headers())
    assert response.status_code == 200
    assert [p["id"] for p in response.json["data"]] == ["price_test_monthly"]
    assert response.json["data"][0]["product"]["id"] == "prod_test_monthly"
    assert client.get("/stripe/prices?product=prod_nobody", headers=auth_headers()).json["count"] == 0
    sent = fake.query(stripe_api.calls[0])
    assert sent == {"limit": ["100"], "expand[0]": ["data.product"]} and len(stripe_api.calls) == 1


def test_get_product_comes_from_the_snapshot_with_its_default_price(client, auth_headers, stripe_api):
    fake.add(stripe_api, "GET", "/v1/products", _products(fake.product()))
    response = client.get("/stripe/products/prod_test_monthly", headers=auth_headers())
    assert response.status_code == 200
    assert response.json["data"]["id"] == "prod_test_monthly"
    assert response.json["data"]["default_price"]["id"] == "price_test_monthly"
    assert [call.request.path_url.split("?")[0] for call in stripe_api.calls] == ["/v1/products"]


def test_get_price_comes_from_the_snapshot_with_its_product(client, auth_headers, stripe_api):
    fake.add(stripe_api, "GET", "/v1/prices", fake.listing([fake.price(product=fake.product())], "/v1/prices"))
    response = client.get("/stripe/prices/price_test_monthly", headers=auth_headers())
    assert response.status_code == 200
    assert response.json["data"]["product"]["name"] == "Monthly plan"
    assert [call.request.path_url.split("?")[0] for call in stripe_api.calls] == ["/v1/prices"]


@pytest.mark.parametrize("path", ["/stripe/products/prod_missing", "/stripe/prices/price_missing"])
def test_unknown_object_is_404_without_asking_stripe_for_it(client, auth_headers, stripe_api, path):
    kind = path.split("/")[2]
    fake.add(stripe_api, "GET", f"/v1/{kind}", fake.listing([], f"/v1/{kind}"))
    response = client.get(path, headers=auth_headers())
    assert response.status_code == 404
    assert response.json["error"]["code"] == "NOT_FOUND"
    assert "prod_missing" not in response.json["error"]["message"]
    assert all("missing" not in call.request.url for call in stripe_api.calls)


def test_unknown_cursor_is_a_validation_error(client, auth_headers, stripe_api):
    fake.add(stripe_api, "GET", "/v1/products", _products(fake.product()))
    response = client.get("/stripe/products?starting_after=prod_gone", headers=auth_headers())
    assert response.status_code == 400
    assert response.json["error"]["details"] == {"starting_after": ["No such object."]}


def test_a_flood_of_distinct_ids_cursors_and_filters_costs_stripe_one_call_per_kind(client, auth_headers, stripe_api):
    fake.add(stripe_api, "GET", "/v1/products", _products(fake.product()))
    fake.add(stripe_api, "GET", "/v1/prices", fake.listing([fake.price()], "/v1/prices"))
    for i in range(300):
        client.get(f"/stripe/products/prod_junk_{i}", headers=auth_headers(f"user_{i % 45}"))
        client.get(f"/stripe/prices?product=prod_junk_{i}&limit={1 + i % 100}", headers=auth_headers())
        client.get(f"/stripe/products?starting_after=prod_junk_{i}", headers=auth_headers())
        client.get(f"/stripe/prices/price_junk_{i}", headers=auth_headers())
    assert len(stripe_api.calls) == 2


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
