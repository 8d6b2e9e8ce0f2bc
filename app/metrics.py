"""The seed's monitoring points as Prometheus metrics (prometheus-client).

Under gunicorn every worker is its own process, so the metrics run in prometheus-client's
multiprocess mode: gunicorn.conf.py points PROMETHEUS_MULTIPROC_DIR at a fresh folder before the
app is imported, every worker writes its values there, and a scrape adds them up. Elsewhere (tests,
`flask` commands) they live in the process. Labels are bounded: route templates, operation names,
event types Stripe sends, outcomes — never raw paths, ids or user ids.
"""

from __future__ import annotations

import hmac
import os
import time
from contextlib import contextmanager
from typing import Iterator

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import multiprocess

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REQUESTS = Histogram("tatame_http_request_duration_seconds", "Requests by route template, method and status.",
                     ["route", "method", "status"], buckets=BUCKETS)
WEBHOOKS = Counter("tatame_webhook_deliveries_total", "Webhook deliveries by event type (Clerk's as clerk:<type>) and"
                   " outcome (processed, duplicate, in_progress, deferred, failed, rejected_<reason>).",
                   ["type", "outcome"])
HANDLER_SECONDS = Histogram("tatame_webhook_handler_duration_seconds", "Webhook handler run time by event type.",
                            ["type"], buckets=BUCKETS)
STRIPE_CALLS = Counter("tatame_stripe_calls_total", "Stripe calls by operation and outcome.",
                       ["operation", "outcome"])
STRIPE_SECONDS = Histogram("tatame_stripe_call_duration_seconds", "Stripe call time by operation.",
                           ["operation"], buckets=BUCKETS)
CLERK_VERIFICATIONS = Counter("tatame_clerk_verifications_total", "Clerk token checks by outcome.", ["outcome"])
CLERK_KEY_FETCHES = Counter("tatame_clerk_key_set_fetches_total", "Fetches of Clerk's key set by outcome.",
                            ["outcome"])
STORE_SECONDS = Histogram("tatame_store_call_duration_seconds", "Store (SQLite or Supabase) calls by operation.",
                          ["operation"], buckets=BUCKETS)
CATALOG_CACHE = Counter("tatame_catalog_cache_total", "Catalog answers by source (HIT, MISS, STALE).", ["result"])
CREATED = Counter("tatame_created_total", "Objects made at Stripe: customer, checkout_session, subscription, "
                  "payment_intent.", ["kind"])
DUPLICATE_SUBSCRIPTIONS = Counter("tatame_duplicate_subscriptions_total", "Times a member was found holding two "
                                  "usable subscriptions (alert on any increase; runbook in docs/billing.md).")
CLERK_PUBLISHES = Counter("tatame_clerk_publishes_total", "Billing states sent to Clerk by outcome (sent, retry, "
                          "no_user).", ["outcome"])
CLERK_PUBLISH_LAG = Histogram("tatame_clerk_publish_lag_seconds", "Seconds from a billing state's change to Clerk "
                              "taking it.", buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600))
CLERK_OUTBOX_PENDING = Gauge("tatame_clerk_outbox_pending", "Users whose billing state Clerk has not taken yet (as "
                             "last counted by a sender).", multiprocess_mode="mostrecent")
RATE_LIMITED = Counter("tatame_rate_limited_total", "Requests refused by a rate limit, by scope.", ["scope"])


METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_request_series: dict[tuple, object] = {}  # (route, method, status) → its histogram child: bounded like the labels


def observe_request(route: str | None, method: str, status: int, seconds: float) -> None:
    """A request's duration, by route template (None: no route matched), method and status."""
    key = (route or "unmatched", method if method in METHODS else "other", status)  # any method name may come
    series = _request_series.get(key)
    if series is None:
        series = _request_series[key] = REQUESTS.labels(key[0], key[1], str(status))
    series.observe(seconds)


@contextmanager
def timed(histogram: Histogram, *labels: str) -> Iterator[None]:
    """Observe how long the block took."""
    started = time.perf_counter()
    try:
        yield
    finally:
        histogram.labels(*labels).observe(time.perf_counter() - started)


def scrape() -> tuple[bytes, str]:
    """The exposition text: every worker's values added up under gunicorn, this process's elsewhere."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST


def token_matches(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())
