"""Error reports under gunicorn: the client started in the master (preload) reports from forked gevent workers."""

import json

import requests

from app.services.webhook_signature import sign_header
from tests.conftest import WEBHOOK_SECRET, make_event
from tests.sentry_stand_in import SentryStandIn


def test_a_failing_webhook_handler_is_reported_from_a_worker(start_gunicorn):
    sentry = SentryStandIn()
    try:
        server = start_gunicorn(app="tests.system.failing_app:app", workers=2, SENTRY_DSN=sentry.dsn)
        body = json.dumps(make_event("customer.updated")).encode()
        signature = sign_header(body, WEBHOOK_SECRET)
        response = requests.post(f"{server.url}/webhooks/stripe", data=body, timeout=10, headers={
            "Stripe-Signature": signature, "Content-Type": "application/json", "X-Request-ID": "req-worker-1"})
        assert response.status_code == 500 and response.json()["error"]["code"] == "INTERNAL_ERROR"

        [event] = sentry.wait_for_events(1)
        assert event["exception"]["values"][-1]["type"] == "KeyError"
        assert event["tags"]["request_id"] == "req-worker-1"
        assert WEBHOOK_SECRET not in sentry.raw() and signature.split("v1=")[1] not in sentry.raw()
        server.stop()
        assert server.process.returncode == 0  # the reporting client does not hold up a worker's exit
    finally:
        sentry.stop()
