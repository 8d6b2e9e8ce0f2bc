"""The sandbox's Stripe (sandbox/stripe) for tests: what reached it, and `responses` callbacks over it.

`Observed` wraps a SandboxStripe and records each request; the `responses` adapter here and the HTTP
adapter in tests/servers.py both answer through it, so every test reads the same counters.
"""

from __future__ import annotations

import json
import re
import threading
import time
from typing import NamedTuple
from urllib.parse import urlsplit

import responses

from sandbox.stripe import SandboxStripe
from sandbox.stripe.forms import decode
from tests.conftest import STRIPE_API

DASHBOARD_KEY = "sk_test_dashboard_not_a_real_key"


class Call(NamedTuple):
    method: str
    path: str
    params: dict
    idempotency_key: str | None


class Observed:
    """A SandboxStripe plus what reached it: requests, creations, idempotency keys, searches; and its test hooks."""

    def __init__(self, fake: SandboxStripe | None = None, create_delay: float = 0.0):
        self.fake = fake or SandboxStripe()
        self.create_delay = create_delay  # seconds each customer creation takes, to widen races
        self.requests: list[Call] = []
        self._lock = threading.Lock()

    def handle(self, method: str, path: str, params, headers) -> tuple[int, dict]:
        """Record the request, then let the sandbox's Stripe answer it."""
        key = next((value for name, value in headers.items() if name.lower() == "idempotency-key"), None)
        with self._lock:
            self.requests.append(Call(method, path, decode(params), key))
        if method == "POST" and path == "/v1/customers":
            time.sleep(self.create_delay)
        return self.fake.handle(method, path, params, headers)

    @property
    def creations(self) -> int:
        """Customers Stripe actually made (replays and refusals make none)."""
        return self.fake.state.count("customer")

    @property
    def keys(self) -> list[str | None]:
        """The idempotency key of every customer creation request, repeats included."""
        return [c.idempotency_key for c in self.requests if (c.method, c.path) == ("POST", "/v1/customers")]

    @property
    def searches(self) -> int:
        return sum(1 for c in self.requests if (c.method, c.path) == ("GET", "/v1/customers/search"))

    @property
    def search_lags(self) -> bool:
        return self.fake.search_lags

    @search_lags.setter
    def search_lags(self, value: bool) -> None:
        self.fake.search_lags = value

    def __getattr__(self, name: str):
        """The sandbox's own hooks (complete_checkout_session, pay_invoice, events, ...), straight through."""
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.fake, name)

    def delete(self, customer_id: str) -> None:
        """Delete a customer as the dashboard would: through Stripe's API, unseen by the app."""
        status, body = self.fake.handle("DELETE", f"/v1/customers/{customer_id}", "",
                                        {"Authorization": f"Bearer {DASHBOARD_KEY}"})
        assert status == 200, body


def register(mock: responses.RequestsMock, observed: Observed, base: str = STRIPE_API) -> None:
    """Answer every request to `base` from the sandbox's Stripe, unless the test registered its own answer for it.

    `responses` would otherwise pick between two matching registrations by order and call count
    (the first match is popped after use), so a failure a test adds (500, 429, timeout) could lose
    to the sandbox's Stripe; this matcher makes the sandbox's Stripe step aside whenever another registration matches.
    """
    sandbox_answers: list = []

    def nobody_else(request):
        others = [r for r in mock.registered() if not any(r is s for s in sandbox_answers)]
        return not any(r.matches(request)[0] for r in others), "another registration answers this request"

    def callback(request):
        parts = urlsplit(request.url)
        params = request.body if request.method == "POST" else parts.query
        status, body = observed.handle(request.method, parts.path, params or "", dict(request.headers))
        return status, {"Request-Id": "req_sandbox_stripe"}, json.dumps(body)

    for method in (responses.GET, responses.POST, responses.DELETE):
        sandbox_answers.append(mock.add_callback(method, re.compile(re.escape(base) + r"/v1/.*"), callback=callback,
                                           match=[nobody_else]))
