"""Our signature check accepts what Stripe's own SDK signs, and nothing else."""

import time

import pytest
import stripe

from app.services.errors import InvalidSignature, MissingSignature
from app.services.webhook_signature import sign_header, verify_signature

SECRET = "whsec_fake_secret_for_tests_only"
BODY = b'{"id": "evt_1", "object": "event"}'


def sdk_header(payload: bytes, secret: str, timestamp: int) -> str:
    signature = stripe.WebhookSignature._compute_signature(f"{timestamp}.{payload.decode()}", secret)
    return f"t={timestamp},v1={signature}"


def test_accepts_what_the_sdk_signs():
    now = int(time.time())
    assert verify_signature(BODY, sdk_header(BODY, SECRET, now), (SECRET,), 300) == now


def test_sdk_accepts_what_we_sign():
    header = sign_header(BODY, SECRET)
    assert stripe.WebhookSignature.verify_header(BODY.decode(), header, SECRET, tolerance=300)


def test_any_of_several_signatures_and_secrets():
    now = int(time.time())
    header = f"t={now},v1=deadbeef,v1={sign_header(BODY, SECRET, now).split('v1=')[1]}"
    assert verify_signature(BODY, header, ("whsec_other", SECRET), 300)


@pytest.mark.parametrize("header", [None, "", "   "])
def test_missing(header):
    with pytest.raises(MissingSignature):
        verify_signature(BODY, header, (SECRET,), 300)


@pytest.mark.parametrize(
    "header",
    ["t=abc,v1=00", "v1=00", "t=1", "t=,v1=", "x" * 5000, "t=99999999999999999999,v1=00",
     "t=1700000000,v0=" + "0" * 64, "t=\u00b2,v1=" + "0" * 64, "t=1700000000,v1=\u00e9" + "0" * 63,
     "t=\u0661\u0667,v1=" + "0" * 64, "t=1700000000,v1=" + "Z" * 64],
)
def test_malformed(header):
    with pytest.raises(InvalidSignature):
        verify_signature(BODY, header, (SECRET,), 300)


def test_no_configured_secret_refuses_everything():
    with pytest.raises(InvalidSignature):
        verify_signature(BODY, sign_header(BODY, SECRET), (), 300)


def test_tolerance_both_ways():
    now = 1_800_000_000
    for skew in (-301, 301):
        with pytest.raises(InvalidSignature):
            verify_signature(BODY, sign_header(BODY, SECRET, now + skew), (SECRET,), 300, now=now)
    assert verify_signature(BODY, sign_header(BODY, SECRET, now - 299), (SECRET,), 300, now=now)


def test_non_utf8_body_is_just_a_bad_signature():
    with pytest.raises(InvalidSignature):
        verify_signature(b"\xff\xfe", sign_header(b"other", SECRET), (SECRET,), 300)
