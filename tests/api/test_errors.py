"""The one envelope on every error path, request ids, readiness."""

import pytest

from app import create_app
from app.stores.base import StoreUnavailable
from app.stores.sqlite import SQLiteStore
from tests.conftest import with_config


def assert_envelope(response, status, code):
    assert response.status_code == status
    assert response.mimetype == "application/json"
    error = response.json["error"]
    assert error["code"] == code and error["message"]
    assert error["request_id"] == response.headers["X-Request-ID"]
    assert "Traceback" not in response.get_data(as_text=True)


def test_unknown_route_is_json_404(client):
    assert_envelope(client.get("/nope"), 404, "NOT_FOUND")


@pytest.mark.parametrize("method, path", [("DELETE", "/"), ("GET", "/webhooks/stripe"), ("PUT", "/stripe/customer")])
def test_wrong_method_is_json_405(client, method, path):
    response = client.open(path, method=method)
    assert_envelope(response, 405, "METHOD_NOT_ALLOWED")
    assert response.headers["Allow"]


def test_request_id_is_echoed_when_sane_and_replaced_otherwise(client):
    assert client.get("/", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"] == "abc-123"
    replaced = client.get("/", headers={"X-Request-ID": "<script>bad id</script>"}).headers["X-Request-ID"]
    assert replaced != "<script>bad id</script>" and len(replaced) == 32
    assert client.get("/", headers={"X-Request-ID": "x" * 200}).headers["X-Request-ID"] != "x" * 200


def test_json_api_headers(client):
    response = client.get("/")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"


class DownStore(SQLiteStore):
    """A real store whose database has gone away."""

    def __init__(self, path):
        super().__init__(path)
        self.down = True

    def _connection(self):
        if getattr(self, "down", False):
            raise StoreUnavailable("connection refused")
        return super()._connection()


def test_readiness_reports_the_store(client, config):
    assert client.get("/health/ready").json == {"status": "ok", "checks": {"store": "ok"}}
    down = create_app(config, store=DownStore(config.sqlite_path)).test_client()
    response = down.get("/health/ready")
    assert_envelope(response, 503, "SERVICE_UNAVAILABLE")
    assert response.json["error"]["details"] == {"store": "unreachable"}
    assert down.get("/").status_code == 200  # liveness never touches the store


def test_store_down_is_503_for_webhooks(config, signed_webhook):
    from tests.conftest import make_event

    down = create_app(config, store=DownStore(config.sqlite_path)).test_client()
    body, headers = signed_webhook(make_event())
    response = down.post("/webhooks/stripe", data=body, headers=headers)
    assert_envelope(response, 503, "SERVICE_UNAVAILABLE")


def test_unexpected_exception_is_500_without_details(config, auth_headers):
    class BrokenStore(SQLiteStore):
        def get_customer_mapping(self, clerk_user_id):
            raise ZeroDivisionError("internal detail sk_test_leak")

    client = create_app(config, store=BrokenStore(config.sqlite_path)).test_client()
    response = client.post("/stripe/customer", headers=auth_headers())
    assert_envelope(response, 500, "INTERNAL_ERROR")
    assert "sk_test_leak" not in response.get_data(as_text=True)


def test_rate_limit_is_429_with_retry_after(config, auth_headers, stripe_api):
    import responses

    stripe_api.add(responses.GET, "https://api.stripe.com/v1/products",
                   json={"object": "list", "data": [], "has_more": False, "url": "/v1/products"})
    client = create_app(with_config(config, rate_limit_enabled=True, rate_limit_user="3/minute")).test_client()
    statuses = [client.get("/stripe/products", headers=auth_headers("user_greedy")).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = client.get("/stripe/products", headers=auth_headers("user_greedy"))
    assert_envelope(limited, 429, "RATE_LIMITED")
    assert int(limited.headers["Retry-After"]) >= 1
    assert client.get("/stripe/products", headers=auth_headers("user_other")).status_code == 200


def test_webhook_rate_limit_is_per_address(config, signed_webhook):
    from tests.conftest import make_event

    client = create_app(with_config(config, rate_limit_enabled=True, rate_limit_webhook="2/minute")).test_client()
    statuses = [client.post("/webhooks/stripe", data=b, headers=h).status_code
                for b, h in (signed_webhook(make_event()) for _ in range(3))]
    assert statuses == [200, 200, 429]
    other = client.post("/webhooks/stripe", environ_base={"REMOTE_ADDR": "10.9.9.9"}, data=b"{}")
    assert other.status_code == 400


def test_junk_deliveries_cannot_starve_signed_ones(config, signed_webhook):
    from tests.conftest import make_event

    client = create_app(with_config(config, rate_limit_enabled=True, rate_limit_webhook="3/minute")).test_client()
    junk = [client.post("/webhooks/stripe", data=b"{}", headers={"Stripe-Signature": "t=1,v1=00"}).status_code
            for _ in range(5)]
    assert junk == [400, 400, 400, 429, 429]
    body, headers = signed_webhook(make_event())
    assert client.post("/webhooks/stripe", data=body, headers=headers).status_code == 200


def test_redis_outage_lets_requests_through_and_is_reported_by_readiness(config, auth_headers, signed_webhook):
    from tests.conftest import make_event
    from tests.servers import free_port

    dead_redis = f"redis://127.0.0.1:{free_port()}/0"
    client = create_app(with_config(config, rate_limit_enabled=True, redis_url=dead_redis)).test_client()
    body, headers = signed_webhook(make_event())
    assert client.post("/webhooks/stripe", data=body, headers=headers).status_code == 200
    ready = client.get("/health/ready")
    assert ready.status_code == 200 and ready.json["checks"] == {"store": "ok", "redis": "unreachable"}
