"""Bad input on every endpoint: always the contract's 4xx, never a 500, and never a call to Stripe."""

import json

import pytest

QUERY_CASES = {
    "/stripe/products": [
        "active=TRUE", "active=1", "active=", "active=true&active=false", "limit=0", "limit=101", "limit=-5",
        "limit=5abc", "limit=1.5", "limit=1e2", "limit=%D9%A1", "limit=99999999999999999999", "limit=%00",
        "limit= 5", "starting_after=a%2Fb", "starting_after=..%2F..%2Fv1%2Fcustomers", "starting_after=%2E%2E",
        "starting_after=prod_%C3%A9", "starting_after=prod%0Aline", "starting_after=" + "p" * 256,
        "starting_after=" + "p" * 20000, "expand[]=data.product", "Limit=5", "limit[]=5", "%00=1",
    ],
    "/stripe/prices": [
        "type=ONE_TIME", "type=", "type=recurring&type=one_time", "product=prod%2F1", "product=prod%00",
        "product=" + "p" * 300, "currency=brl", "active=yes", "limit=abc",
    ],
}
PATH_IDS = ["a%2Fb", "..", "%2E%2E", "prod.1", "prod%00", "prod%0A", "prod%20x", "%C3%A9t%C3%A9", "p" * 256,
            "prod_1%3Fexpand=x", "prod_1;drop", "prod%252F", "x/y/z"]
BODIES = [
    ({"email": 5}, "application/json"), ({"email": "a" * 600 + "@example.com"}, "application/json"),
    ({"email": "ana@@example.com"}, "application/json"), ({"email": "ana@example.com\n"}, "application/json"),
    ({"name": ""}, "application/json"), ({"name": "n" * 257}, "application/json"),
    ({"name": "tab\there"}, "application/json"), ({"name": "nul\x00"}, "application/json"),
    ({"name": None}, "application/json"), ({"name": {"first": "Ana"}}, "application/json"),
    ({"metadata": {"clerk_user_id": "user_other"}}, "application/json"), ({"id": "cus_x"}, "application/json"),
    ("{bad json", "application/json"), ("[" * 60000, "application/json"), ('{"name": "\\ud800"}', "application/json"),
    ('"a string"', "application/json"), ("12", "application/json"), (b"\xff\xfe{}", "application/json"),
    ("name=Ana", "application/x-www-form-urlencoded"), ("<xml/>", "text/xml"), ('{"name": "Ana"}', "text/plain"),
]


def test_hostile_query_strings(client, auth_headers, stripe_api):
    tried = 0
    for path, queries in QUERY_CASES.items():
        for query in queries:
            response = client.get(f"{path}?{query}", headers=auth_headers())
            assert response.status_code == 400, (path, query, response.json)
            assert response.json["error"]["code"] == "VALIDATION_ERROR" and response.json["error"]["details"]
            tried += 1
    assert tried >= 30 and len(stripe_api.calls) == 0


def test_query_parameters_on_routes_that_take_none(client, auth_headers, stripe_api):
    for method, path in (("GET", "/stripe/products/prod_1?active=false"), ("GET", "/stripe/prices/price_1?x=1"),
                         ("POST", "/stripe/customer?email=a@example.com")):
        response = client.open(path, method=method, headers=auth_headers())
        assert response.status_code == 400 and response.json["error"]["details"], path
    assert len(stripe_api.calls) == 0


def test_hostile_path_ids(client, auth_headers, stripe_api):
    for prefix in ("/stripe/products/", "/stripe/prices/"):
        for path_id in PATH_IDS:
            response = client.get(prefix + path_id, headers=auth_headers())
            assert response.status_code == 400, (prefix, path_id, response.status_code)
    assert len(stripe_api.calls) == 0


@pytest.mark.parametrize("body, content_type", BODIES)
def test_hostile_customer_bodies(client, auth_headers, stripe_api, body, content_type):
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    response = client.post("/stripe/customer", data=data, content_type=content_type, headers=auth_headers())
    expected = 415 if content_type != "application/json" else 400
    assert response.status_code == expected, response.json
    assert len(stripe_api.calls) == 0


def test_unicode_names_and_addresses_are_welcome(client, auth_headers, sandbox_stripe):
    response = client.post("/stripe/customer", json={"name": "João 柔術 🥋", "email": "joão@exemplo.com.br"},
                           headers=auth_headers())
    assert response.status_code == 201
    assert response.json["data"]["name"] == "João 柔術 🥋" and response.json["data"]["email"] == "joão@exemplo.com.br"


@pytest.mark.parametrize("size, status", [(64 * 1024, 400), (64 * 1024 + 1, 413), (10 * 1024 * 1024, 413)])
def test_body_limit_on_the_json_api(client, auth_headers, stripe_api, size, status):
    body = b'{"name": "' + b"x" * (size - 12) + b'"}'
    assert len(body) == size
    response = client.post("/stripe/customer", data=body, content_type="application/json", headers=auth_headers())
    assert response.status_code == status


@pytest.mark.parametrize("method, path", [("GET", "/stripe/products"), ("GET", "/"), ("POST", "/stripe/customer"),
                                          ("GET", "/stripe/prices/price_1")])
def test_oversized_bodies_are_413_on_every_route(client, auth_headers, stripe_api, method, path):
    response = client.open(path, method=method, data=b"x" * (65 * 1024), headers=auth_headers())
    assert response.status_code == 413 and response.json["error"]["code"] == "PAYLOAD_TOO_LARGE"


def test_chunked_body_over_the_limit_is_413(client, auth_headers):
    import io

    stream = io.BytesIO(b'{"name": "' + b"x" * 100_000 + b'"}')
    # A server that de-chunks (gunicorn) says so with wsgi.input_terminated; the limit then applies as it reads.
    response = client.post("/stripe/customer", input_stream=stream, content_type="application/json",
                           headers={**auth_headers(), "Transfer-Encoding": "chunked"},
                           environ_overrides={"wsgi.input_terminated": True})
    assert response.status_code == 413 and response.json["error"]["code"] == "PAYLOAD_TOO_LARGE"


def test_streamed_body_of_exactly_the_limit_is_read_whole(client, auth_headers, stripe_api):
    import io

    body = b'{"name": "' + b"x" * (64 * 1024 - 12) + b'"}'
    response = client.post("/stripe/customer", input_stream=io.BytesIO(body), content_type="application/json",
                           headers={**auth_headers(), "Transfer-Encoding": "chunked"},
                           environ_overrides={"wsgi.input_terminated": True})
    assert response.status_code == 400 and "name" in response.json["error"]["details"]  # too long a name, not 413


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
@pytest.mark.parametrize("path", ["/", "/health/ready", "/stripe/products", "/stripe/customer", "/webhooks/stripe"])
def test_wrong_methods_are_405(client, auth_headers, method, path):
    response = client.open(path, method=method, headers=auth_headers())
    assert response.status_code == 405 and response.json["error"]["code"] == "METHOD_NOT_ALLOWED"


def test_head_is_answered_without_a_body(client):
    response = client.head("/")
    assert response.status_code == 200 and response.data == b""


def test_unknown_paths_are_json_404(client, auth_headers):
    for path in ("/api/stripe/products", "/stripe", "/stripe/products/", "/webhooks", "/.env", "/%2e%2e/etc/passwd"):
        response = client.get(path, headers=auth_headers())
        assert response.status_code == 404 and response.json["error"]["code"] == "NOT_FOUND", path
