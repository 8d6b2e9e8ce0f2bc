"""The JSON logs scrub what looks like a secret, not only the configured values (as the error reports do)."""

import json
import logging

from app.logs import JsonFormatter


def format_line(message, name="app.services.billing", secrets=()):
    record = logging.makeLogRecord({"name": name, "levelname": "ERROR", "msg": message})
    return json.loads(JsonFormatter(list(secrets)).format(record))["message"]


def test_secrets_quoted_in_a_message_are_redacted():
    line = format_line("Stripe said: pi_3abc_secret_XyZ123 for https://checkout.stripe.com/c/pay/cs_test_a1b2 "
                       "with Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyXzEifQ.c2lnbmF0dXJlc2lnbmF0dXJl "
                       "and whsec_fake_secret_for_tests_only, cuss_secret_abc")
    for secret in ("pi_3abc_secret_XyZ123", "checkout.stripe.com", "cs_test_a1b2", "eyJhbGci", "whsec_fake",
                   "cuss_secret_abc"):
        assert secret not in line, secret
    assert "Stripe said" in line


def test_configured_values_are_redacted_everywhere_and_plain_text_stays():
    assert format_line("key sk_configured_value_1 here", secrets=["sk_configured_value_1"]) == "key [redacted] here"
    assert format_line("GET /stripe/products 200") == "GET /stripe/products 200"
