"""Error reports: an unexpected 500 reaches a stand-in Sentry with its request id and none of the request's secrets."""

from __future__ import annotations

import logging

import pytest
import sentry_sdk

from app import create_app
from app.stores.sqlite import SQLiteStore
from tests.conftest import STRIPE_KEY, WEBHOOK_SECRET, make_event, with_config
from tests.sentry_stand_in import SentryStandIn

CLIENT_SECRET = "pi_3FakeIntentForTests_secret_FakeClientSecretValue01"
CHECKOUT_URL = "https://checkout.stripe.com/c/pay/cs_test_a1FakeCheckoutSessionForTests#fidkdWxOYHwnPyd1"


@pytest.fixture
def sentry():
    stand_in = SentryStandIn()
    yield stand_in
    # sentry-sdk's client is global to the process: leave none behind for the other tests.
    sentry_sdk.get_client().close(timeout=2)
    sentry_sdk.get_global_scope().set_client(None)
    stand_in.stop()


class BrokenStore(SQLiteStore):
    """A store with a bug whose message quotes secrets, as a careless library's might."""

    def get_customer_mapping(self, clerk_user_id):
        logging.getLogger("app.test").info("looking up %s with %s", clerk_user_id, STRIPE_KEY)  # a breadcrumb
        raise ZeroDivisionError(f"broken near {CLIENT_SECRET} {CHECKOUT_URL} {WEBHOOK_SECRET} {STRIPE_KEY}")


def test_an_unexpected_error_is_reported_with_its_request_id_and_no_secret(config, sentry, make_token,
                                                                            signed_webhook):
    config = with_config(config, sentry_dsn=sentry.dsn, metrics_token="fake-metrics-token-for-tests")
    client = create_app(config, store=BrokenStore(config.sqlite_path)).test_client()
    token = make_token("user_reported")
    _, signed = signed_webhook(make_event())
    response = client.post("/stripe/customer", json={"name": CLIENT_SECRET}, headers={
        "Authorization": f"Bearer {token}", "Stripe-Signature": signed["Stripe-Signature"],
        "Cookie": "session=fake-cookie-value-for-tests", "X-Request-ID": "req-reported-1"})
    assert response.status_code == 500

    [event] = sentry.events()
    assert [e["type"] for e in event["exception"]["values"]] == ["ZeroDivisionError"]
    assert event["tags"]["request_id"] == "req-reported-1" == response.headers["X-Request-ID"]
    assert event["request"]["headers"]["Stripe-Signature"] == "[redacted]"
    assert "[redacted]" in event["exception"]["values"][0]["value"]
    sent = sentry.raw()
    assert "looking up user_reported" in sent  # the breadcrumb went, scrubbed
    leaks = [token, token.split(".")[2], signed["Stripe-Signature"], signed["Stripe-Signature"].split("v1=")[1],
             CLIENT_SECRET, CHECKOUT_URL, "cs_test_a1FakeCheckoutSessionForTests", "fake-cookie-value-for-tests",
             *[secret for secret in config.secrets() if secret != sentry.dsn]]
    assert STRIPE_KEY in leaks and WEBHOOK_SECRET in leaks and "fake-metrics-token-for-tests" in leaks
    assert [secret for secret in leaks if secret in sent] == []


def test_domain_errors_are_not_reported(config, sentry, auth_headers, signed_webhook):
    client = create_app(with_config(config, sentry_dsn=sentry.dsn)).test_client()
    assert client.get("/no/such/route").status_code == 404
    assert client.post("/webhooks/stripe", data=b"{}", headers={"Stripe-Signature": "t=1,v1=00"}).status_code == 400
    assert client.post("/stripe/customer", json={"unknown": 1}, headers=auth_headers()).status_code == 400
    event = make_event()
    store = client.application.extensions["tatame"].store
    store.claim_event(event["id"], event["type"], "another-delivery", 60)  # a live claim: this one is a 409
    body, headers = signed_webhook(event)
    assert client.post("/webhooks/stripe", data=body, headers=headers).status_code == 409
    assert sentry.events() == []

    # The client was live all along: a fault in the same app is reported.
    client.application.extensions["tatame"].customers.get_or_create = lambda *a, **k: 1 / 0
    assert client.post("/stripe/customer", headers=auth_headers()).status_code == 500
    assert [e["exception"]["values"][0]["type"] for e in sentry.events()] == ["ZeroDivisionError"]


def test_without_a_dsn_nothing_is_started(config):
    create_app(config)
    assert not sentry_sdk.get_client().is_active()
