"""Stripe webhook signatures (`Stripe-Signature: t=...,v1=...`), checked over the raw bytes.

Ours rather than the SDK's `WebhookSignature.verify_header` because we check several
secrets at once (rotation), refuse timestamps too far in the future as well as the
past, and never decode the body before it is verified (a non-UTF-8 body is just a bad
signature, not an exception). The tests prove that what the SDK signs, we accept.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time

from app.services.errors import InvalidSignature, MissingSignature

SCHEME = "v1"
MAX_HEADER_LENGTH = 4096
TIMESTAMP = re.compile(r"[0-9]{1,12}")    # str.isdigit() would take "²", which int() refuses
SIGNATURE = re.compile(r"[0-9a-f]{64}")   # compare_digest refuses non-ASCII: only hex gets that far


def compute_signature(payload: bytes, timestamp: int, secret: str) -> str:
    signed = str(timestamp).encode() + b"." + payload
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def sign_header(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """A Stripe-Signature header for `payload`, as Stripe would send it (used by tooling and tests)."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    return f"t={timestamp},{SCHEME}={compute_signature(payload, timestamp, secret)}"


def verify_signature(
    payload: bytes, header: str | None, secrets: tuple[str, ...], tolerance: int, now: float | None = None
) -> int:
    """Raise unless `header` signs `payload` with one of `secrets` within `tolerance`; returns the timestamp."""
    if not header or not header.strip():
        raise MissingSignature()
    invalid = InvalidSignature()
    if len(header) > MAX_HEADER_LENGTH or not secrets:
        raise invalid
    timestamp: int | None = None
    signatures: list[str] = []
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t" and TIMESTAMP.fullmatch(value):
            timestamp = int(value)
        elif key == SCHEME and SIGNATURE.fullmatch(value):
            signatures.append(value)
    if timestamp is None or not signatures:
        raise invalid
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance:
        raise invalid
    expected = [compute_signature(payload, timestamp, secret) for secret in secrets]
    if not any(hmac.compare_digest(e, s) for e in expected for s in signatures):
        raise invalid
    return timestamp
