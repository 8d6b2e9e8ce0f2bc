"""Across processes: the app under gunicorn with several workers, one SQLite file."""

import json
import os
import signal
import threading
import time

import requests

from app.services.webhook_signature import sign_header
from app.stores.sqlite import SQLiteStore
from tests.conftest import WEBHOOK_SECRET, make_event
from tests.servers import parallel


def deliver(url, event, secret=WEBHOOK_SECRET):
    body = json.dumps(event).encode()
    return requests.post(f"{url}/webhooks/stripe", data=body, timeout=30,
                         headers={"Stripe-Signature": sign_header(body, secret), "Content-Type": "application/json"})


def test_fifty_parallel_deliveries_run_the_handler_once(start_gunicorn, tmp_path):
    server = start_gunicorn()
    event = make_event("customer.created")
    statuses = [r.status_code for r in parallel(50, lambda _: deliver(server.url, event))]
    handler_runs = (tmp_path / "handler.log").read_text().splitlines()
    assert len(handler_runs) == 1, handler_runs
    assert set(statuses) <= {200, 409} and statuses.count(200) >= 1
    assert deliver(server.url, event).json() == {"received": True, "duplicate": True}
    row = SQLiteStore(str(tmp_path / "tatame.sqlite3")).get_event(event["id"])
    assert row.status == "processed" and row.attempts == 1


def test_fifty_parallel_first_customer_requests_make_one_stripe_customer(start_gunicorn, stripe_server, make_token):
    server = start_gunicorn()
    headers = {"Authorization": f"Bearer {make_token('user_rush')}"}
    responses = parallel(50, lambda _: requests.post(f"{server.url}/stripe/customer", headers=headers, timeout=30))
    statuses = sorted(r.status_code for r in responses)
    assert stripe_server.creations == 1
    assert statuses == [200] * 49 + [201]
    assert len({r.json()["data"]["id"] for r in responses}) == 1


def test_a_worker_killed_mid_handler_leaves_a_claim_that_expires(start_gunicorn, tmp_path):
    server = start_gunicorn(WEBHOOK_LEASE_SECONDS="2")
    event = make_event("customer.updated")
    first = threading.Thread(target=lambda: _swallow(lambda: deliver(server.url, event)))
    first.start()
    marker = tmp_path / "slow.marker"
    deadline = time.monotonic() + 10
    while not marker.exists() or not marker.read_text():
        assert time.monotonic() < deadline, "the handler never started"
        time.sleep(0.02)
    os.kill(int(marker.read_text()), signal.SIGKILL)  # the worker dies mid-handler
    first.join(10)
    assert deliver(server.url, event).status_code == 409  # the dead worker's lease still holds
    time.sleep(2.2)
    retried = deliver(server.url, event)
    assert retried.status_code == 200 and retried.json() == {"received": True}
    row = SQLiteStore(str(tmp_path / "tatame.sqlite3")).get_event(event["id"])
    assert row.status == "processed" and row.attempts == 2


def test_rate_limits_are_shared_by_workers_through_redis(start_gunicorn, redis_server, make_token):
    server = start_gunicorn(REDIS_URL=redis_server.url, RATE_LIMIT_ENABLED="true", RATE_LIMIT_USER="5/minute")
    headers = {"Authorization": f"Bearer {make_token('user_limited')}"}
    statuses = [requests.get(f"{server.url}/stripe/products", headers=headers, timeout=10).status_code
                for _ in range(12)]
    assert statuses.count(200) == 5 and statuses.count(429) == 7


def test_logs_of_a_full_run_hold_no_secret_or_token(start_gunicorn, make_token, rsa_keys):
    server = start_gunicorn()
    token = make_token("user_logs")
    headers = {"Authorization": f"Bearer {token}"}
    requests.get(f"{server.url}/stripe/products", headers=headers, timeout=10)
    requests.post(f"{server.url}/stripe/customer", headers=headers, timeout=10)
    requests.get(f"{server.url}/stripe/products", headers={"Authorization": "Bearer forged.token.value"}, timeout=10)
    deliver(server.url, make_event("customer.deleted"))
    deliver(server.url, make_event(), secret="whsec_wrong_secret_for_tests")
    response = requests.get(f"{server.url}/", timeout=10)
    assert response.headers["Server"] == "gunicorn"  # no version
    logs = server.logs()
    assert "stripe event handled" in logs
    for secret in ("sk_test_fake_key_for_tests_only", WEBHOOK_SECRET, token, token.split(".")[2]):
        assert secret not in logs


def _swallow(call):
    try:
        call()
    except requests.RequestException:
        pass  # the worker was killed under this request


def test_chunked_bodies_over_the_limit_are_413_under_gunicorn(start_gunicorn, make_token):
    server = start_gunicorn(workers=1)
    headers = {"Authorization": f"Bearer {make_token()}", "Content-Type": "application/json"}

    def chunks(size):
        yield b'{"name": "'
        for _ in range(size // 1024):
            yield b"x" * 1024
        yield b'"}'

    too_big = requests.post(f"{server.url}/stripe/customer", data=chunks(200 * 1024), headers=headers, timeout=10)
    assert too_big.status_code == 413 and too_big.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
    webhook = requests.post(f"{server.url}/webhooks/stripe", data=chunks(2 * 1024 * 1024),
                            headers={"Stripe-Signature": "t=1,v1=00"}, timeout=10)
    assert webhook.status_code == 413


def test_two_instances_share_the_catalog_cache_through_redis(start_gunicorn, redis_server, stripe_server, make_token,
                                                           tmp_path):
    """Two gunicorn servers, each with its own instance folder (two machines), one Redis."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = start_gunicorn(app="wsgi:app", workers=2, REDIS_URL=redis_server.url, INSTANCE_PATH=str(tmp_path / "a"))
    b = start_gunicorn(app="wsgi:app", workers=2, REDIS_URL=redis_server.url, INSTANCE_PATH=str(tmp_path / "b"))
    headers = {"Authorization": f"Bearer {make_token()}"}

    def read(server):
        response = requests.get(f"{server.url}/stripe/products?limit=7", headers=headers, timeout=10)
        assert response.status_code == 200
        return response.headers["X-Cache"]

    assert deliver(a.url, make_event("price.updated", {"id": "price_1", "object": "price"})).status_code == 200
    assert read(a) == "MISS"
    assert [read(b) for _ in range(4)] == ["HIT"] * 4  # every worker of B, served what A fetched
    calls = len([r for r in stripe_server.requests if r[1] == "/v1/products"])
    assert deliver(a.url, make_event("product.updated", {"id": "prod_1", "object": "product"})).status_code == 200
    assert read(b) == "MISS"  # A's webhook reached B at once
    assert len([r for r in stripe_server.requests if r[1] == "/v1/products"]) == calls + 1


def test_access_lines_are_batched_yet_each_request_has_one_even_across_a_stop(start_gunicorn):
    server = start_gunicorn(app="wsgi:app", workers=3)
    ids = [f"req-batch-{i}" for i in range(120)]
    for request_id in ids:
        assert requests.get(f"{server.url}/", headers={"X-Request-ID": request_id}, timeout=5).status_code == 200

    def written() -> list[str]:
        lines = [json.loads(line) for line in server.log_path.read_text(errors="replace").splitlines()
                 if '"logger": "app.access"' in line]
        return [line["request_id"] for line in lines if line["request_id"].startswith("req-batch-")]

    time.sleep(2.5)  # the shipped flush interval is 1 s: a quiet worker writes what waits all the same
    assert sorted(written()) == sorted(ids)
    more = [f"req-batch-late-{i}" for i in range(30)]
    for request_id in more:
        requests.get(f"{server.url}/", headers={"X-Request-ID": request_id}, timeout=5)
    server.stop()  # SIGTERM at once: the workers write what waits as they exit
    assert sorted(written()) == sorted(ids + more)
