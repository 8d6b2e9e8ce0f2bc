"""The sandbox's Stripe as the stripe SDK's HTTP client: the production gateway code, with no network."""

from __future__ import annotations

import io
import json
import uuid
from typing import Any, Mapping
from urllib.parse import urlsplit

import stripe

from app.gateways.stripe import StripeGateway, build_stripe_client

# The sandbox's Stripe takes test-mode keys only; this one says what it is.
SANDBOX_KEY = "sk_test_sandbox_not_a_real_key"


def sandbox_gateway(sandbox_stripe, api_version: str) -> StripeGateway:
    """The production StripeGateway whose SDK talks to `sandbox_stripe` in process (anything with SandboxStripe's
    `handle`)."""
    # No network: no timeout applies, and nothing is worth retrying.
    client = build_stripe_client(SANDBOX_KEY, api_version=api_version, timeout=0, max_retries=0,
                                 http_client=InProcessHTTPClient(sandbox_stripe))
    return StripeGateway(client)


class InProcessHTTPClient(stripe.HTTPClient):
    """Hands each request the SDK would send over HTTP to a SandboxStripe's `handle`, and its answer back."""

    name = "in-process"

    def __init__(self, sandbox_stripe):
        super().__init__()
        self.sandbox_stripe = sandbox_stripe

    def request(self, method: str, url: str, headers: Mapping[str, str] | None, post_data: Any = None,
                *, _usage=None) -> tuple[str, int, Mapping[str, str]]:
        """(body, status, headers), as the SDK expects from an HTTP client."""
        parts = urlsplit(url)
        params = post_data if method.lower() == "post" else parts.query
        status, body = self.sandbox_stripe.handle(method.upper(), parts.path, params, dict(headers or {}))
        return json.dumps(body), status, {"Content-Type": "application/json", "Request-Id": f"req_{uuid.uuid4().hex}"}

    def request_stream(self, method: str, url: str, headers: Mapping[str, str] | None, post_data: Any = None,
                       *, _usage=None) -> tuple[Any, int, Mapping[str, str]]:
        """The same answer as a byte stream (the SDK streams only for files and reports)."""
        body, status, headers = self.request(method, url, headers, post_data)
        return io.BytesIO(body.encode()), status, headers

    def close(self) -> None:
        """Nothing to close: no connection was opened."""
