"""SENTRY_DSN in the config, and the scrubber every error report goes through (app/reporting.py)."""

import pytest

from app.reporting import REDACTED, Scrubber
from config import Config, ConfigError
from tests.unit.test_config import PRODUCTION

DSN = "https://fakepublickey0123@o1.ingest.sentry.example/42"


def test_sentry_dsn_is_an_https_url_in_production_and_a_secret():
    config = Config.from_env({**PRODUCTION, "SENTRY_DSN": DSN})
    assert config.sentry_dsn == DSN and DSN in config.secrets() and DSN not in repr(config)
    with pytest.raises(ConfigError) as error:
        Config.from_env({**PRODUCTION, "SENTRY_DSN": "http://fakepublickey0123@127.0.0.1:9/1"})
    assert error.value.problems == ["SENTRY_DSN must be an https URL"]
    with pytest.raises(ConfigError):
        Config.from_env({**PRODUCTION, "SENTRY_DSN": "fakepublickey0123"})


def test_sentry_dsn_may_be_http_outside_production_and_is_optional():
    assert Config.from_env({"SENTRY_DSN": "http://public@127.0.0.1:9/1"}).sentry_dsn == "http://public@127.0.0.1:9/1"
    assert Config.from_env({}).sentry_dsn is None


@pytest.mark.parametrize("secret", [
    "sk_live_" + "FakeSecretKeyForTests0001",  # split, so no scanner mistakes this fake for a live key
    "rk_test_FakeRestrictedKeyForTests01",
    "whsec_" + "FakeSigningSecretForTests01",
    "pi_3FakeIntent_secret_FakeClientSecret01",
    "seti_1FakeSetupIntent_secret_FakeSetupSecret",
    "cuss_secret_FakeCustomerSessionSecret01",
    "https://checkout.stripe.com/c/pay/cs_live_a1FakeSession#fidFakeFragment",
    "https://billing.stripe.com/p/session/live_FakePortalSession01",
    "http://localhost:3000/dev/checkout/cs_test_demo_FakeSession01",
    "http://localhost:3000/dev/portal/bps_test_FakePortalSession01",
    "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyX2Zha2UifQ.FakeSignatureFakeSignature",
    "FakeHeaderPart0123456.FakePayloadPart01234.FakeSignaturePart0123",
])
def test_secret_shapes_are_scrubbed_wherever_they_are(secret):
    scrubber = Scrubber([])
    event = {"message": f"failed with {secret}, retrying", "extra": {"items": [f"({secret})"]}}
    scrubbed = scrubber.event(event)
    assert secret not in str(scrubbed)
    assert scrubbed["message"] == f"failed with {REDACTED}, retrying"


def test_configured_secrets_headers_and_bearer_tokens_are_scrubbed():
    scrubber = Scrubber(["fake-service-role-key", "redis://:fakepassword@redis.example:6379/0", "short"])
    event = {
        "request": {"headers": {"authorization": "Bearer forged.token", "Cookie": "session=fake",
                                "Stripe-Signature": "t=1,v1=00", "User-Agent": "Stripe/1.0"}},
        "breadcrumbs": {"values": [{"message": "redis at redis://:fakepassword@redis.example:6379/0 failed"},
                                   {"message": "calling with fake-service-role-key; header Bearer forged.token"}]},
    }
    scrubbed = scrubber.event(event)
    assert scrubbed["request"]["headers"] == {"authorization": REDACTED, "Cookie": REDACTED,
                                              "Stripe-Signature": REDACTED, "User-Agent": "Stripe/1.0"}
    text = str(scrubbed)
    assert "fakepassword" not in text and "fake-service-role-key" not in text and "forged" not in text


def test_what_is_not_secret_is_left_for_reading():
    scrubber = Scrubber(["short"])  # too short to be searched for: it would match everywhere
    text = ("ZeroDivisionError in app.services.webhook_handlers at werkzeug.exceptions.NotFound, short,"
            " customer cus_FakeCustomer01, event evt_test_0123, webhook_secrets, price_1FakePrice")
    assert scrubber.text(text) == text
