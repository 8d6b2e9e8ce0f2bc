"""A cap on concurrent Stripe calls per process, so a slow or hanging Stripe cannot soak up the server.

Every gateway call takes a slot for as long as Stripe takes (up to its timeout and retries);
when every slot is taken, a call waits a moment for one (a burst of quick calls is absorbed)
and then fails with UpstreamBusy (502 with Retry-After) instead of queueing behind a slow Stripe: requests that need Stripe fail fast, and the rest — health, readiness,
webhooks that need no Stripe call, catalog answers from the cache — keep their speed.
"""

from __future__ import annotations

import functools
import threading
import time

from app.gateways.base import BillingGateway
from app.metrics import STRIPE_CALLS, STRIPE_SECONDS
from app.services.errors import NotFound, UpstreamBusy


class BoundedGateway:
    """Any BillingGateway, at most `limit` calls in flight at once in this process."""

    def __init__(self, gateway: BillingGateway, limit: int, wait: float = 0.25):
        self.gateway, self.limit, self.wait = gateway, limit, wait
        self.name = gateway.name
        self._slots = threading.BoundedSemaphore(limit)

    def __getattr__(self, name: str):
        attribute = getattr(self.gateway, name)
        if name.startswith("_") or not callable(attribute):
            return attribute

        @functools.wraps(attribute)
        def bounded(*args, **kwargs):
            if not self._slots.acquire(timeout=self.wait):
                STRIPE_CALLS.labels(name, "busy").inc()
                raise UpstreamBusy()
            outcome, started = "error", time.perf_counter()
            try:
                answer = attribute(*args, **kwargs)
                outcome = "ok"
                return answer
            except NotFound:
                outcome = "not_found"
                raise
            finally:
                self._slots.release()
                STRIPE_CALLS.labels(name, outcome).inc()
                STRIPE_SECONDS.labels(name).observe(time.perf_counter() - started)

        self.__dict__[name] = bounded  # made once per method: found directly from now on
        return bounded
