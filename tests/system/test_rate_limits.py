"""Rate limits hold as documented per instance, whatever the number of worker processes, without Redis."""

import json

import requests

from app.services.webhook_signature import sign_header
from tests.conftest import WEBHOOK_SECRET, make_event
from tests.servers import parallel


def test_a_burst_from_one_user_gets_exactly_the_documented_limit_across_workers(start_gunicorn, make_token):
    server = start_gunicorn(workers=3, RATE_LIMIT_ENABLED="true", RATE_LIMIT_USER="60/minute")
    headers = {"Authorization": f"Bearer {make_token('user_burst')}"}

    def burst(i):
        # Fresh connections, so the kernel spreads them over every worker.
        with requests.Session() as session:
            return [session.get(f"{server.url}/stripe/products", headers=headers, timeout=30).status_code
                    for _ in range(10)]

    statuses = [status for batch in parallel(24, burst) for status in batch]
    assert len(statuses) == 240
    assert statuses.count(200) == 60, {s: statuses.count(s) for s in set(statuses)}
    assert statuses.count(429) == 180


def test_webhook_limits_are_per_instance_too(start_gunicorn):
    server = start_gunicorn(workers=3, RATE_LIMIT_ENABLED="true", RATE_LIMIT_WEBHOOK="20/minute")

    def deliver(i):
        body = json.dumps(make_event("customer.created")).encode()
        with requests.Session() as session:
            return session.post(f"{server.url}/webhooks/stripe", data=body, timeout=30, headers={
                "Stripe-Signature": sign_header(body, WEBHOOK_SECRET), "Content-Type": "application/json"}).status_code

    statuses = parallel(60, deliver)
    assert statuses.count(200) == 20 and statuses.count(429) == 40
