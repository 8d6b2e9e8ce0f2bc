"""Request rate limits: per instance in memory shared by its workers, or across instances in Redis."""

from __future__ import annotations

import logging
import math
import threading
import time

from limits import parse_many, storage, strategies
from limits.errors import StorageError

from app.metrics import RATE_LIMITED
from app.services.errors import RateLimited
from app.services.shared_counters import SharedWindowCounters

log = logging.getLogger(__name__)


class RateLimiter:
    """Named scopes ("user", "webhook"), each with its limits, counted per key (sliding window counters).

    Without Redis the counters are SharedWindowCounters, shared by every worker of the instance (the
    limiter must be built before gunicorn forks, as the app is: preload_app). Given the app's Redis
    client, `limits` keeps them in Redis, shared by every instance.
    """

    def __init__(self, scopes: dict[str, str], *, redis=None, enabled: bool = True,
                 counters: SharedWindowCounters | None = None):
        self.enabled = enabled
        self.scopes = {name: parse_many(text) for name, text in scopes.items()}
        self.storage = self._limiter = self.counters = None
        if redis is None:
            self.counters = counters or SharedWindowCounters()
        else:
            # The client's own connections (and their short timeouts; a slow Redis fails open, below).
            # `limits` takes a connection pool beside a URI, which then only names the client library.
            self.storage = storage.RedisStorage("redis://", connection_pool=redis.connection_pool,
                                                wrap_exceptions=True)
            self._limiter = strategies.SlidingWindowCounterRateLimiter(self.storage)

    def hit(self, scope: str, key: str) -> None:
        """Count one request of `key` in `scope`; RateLimited when over any of the scope's limits."""
        if not self.enabled:
            return
        for limit in self.scopes[scope]:
            if self.counters is not None:
                allowed, retry_after = self.counters.hit(f"{scope}\x00{key}\x00{limit}", limit.amount,
                                                         limit.get_expiry())
            else:
                try:
                    allowed = self._limiter.hit(limit, scope, key)
                    reset = None if allowed else self._limiter.get_window_stats(limit, scope, key).reset_time
                except StorageError as exc:
                    # The counters' store (Redis) is down: serve rather than refuse everyone.
                    log.warning("rate-limit storage unavailable (%s); request let through",
                                type(exc.storage_error).__name__)
                    return
                retry_after = 0 if allowed else max(1, math.ceil(reset - time.time()))
            if not allowed:
                RATE_LIMITED.labels(scope).inc()
                raise RateLimited(retry_after=retry_after)

    def healthy(self) -> bool:
        """Whether the counters' store answers (always, in memory)."""
        if self.storage is None:
            return True
        try:
            return bool(self.storage.check())
        except Exception:  # noqa: BLE001 - any failure of a health probe means "not healthy"
            return False


class InFlightLimit:
    """At most `per_key` requests of one key (a user) in flight at once in this process.

    Stripe calls share a few slots per process (BoundedGateway); without this, one member's burst of
    parallel purchases could take them all and answer other members 502. Past the bound the member's own
    request is refused at once (429, Retry-After 1); the count lives only as long as requests do, so a
    flood of distinct users leaves nothing behind."""

    def __init__(self, per_key: int, *, enabled: bool = True, scope: str = "stripe_in_flight"):
        self.per_key, self.enabled, self.scope = per_key, enabled, scope
        self._lock = threading.Lock()
        self._busy: dict[str, int] = {}

    def enter(self, key: str) -> None:
        if not self.enabled:
            return
        with self._lock:
            busy = self._busy.get(key, 0)
            if busy >= self.per_key:
                RATE_LIMITED.labels(self.scope).inc()
                raise RateLimited("Too many of your requests are in progress; wait for them to finish.",
                                  retry_after=1)
            self._busy[key] = busy + 1

    def leave(self, key: str) -> None:
        if not self.enabled:
            return
        with self._lock:
            busy = self._busy.pop(key, 0) - 1
            if busy > 0:
                self._busy[key] = busy
