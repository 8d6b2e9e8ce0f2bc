"""Request rate limits, on `limits` (in memory, or Redis shared by every instance)."""

from __future__ import annotations

import logging
import math
import time

from limits import parse_many, storage, strategies
from limits.errors import StorageError

from app.services.errors import RateLimited

log = logging.getLogger(__name__)


class RateLimiter:
    """Named scopes ("user", "webhook"), each with its limits, counted per key."""

    def __init__(self, scopes: dict[str, str], *, storage_uri: str = "memory://", enabled: bool = True):
        self.enabled = enabled
        self.scopes = {name: parse_many(text) for name, text in scopes.items()}
        # A slow Redis must not hold requests: short socket timeouts, then fail open (below).
        options = {"socket_timeout": 0.5, "socket_connect_timeout": 0.5} if storage_uri.startswith("redis") else {}
        self.storage = storage.storage_from_string(storage_uri, wrap_exceptions=True, **options)
        self._limiter = strategies.SlidingWindowCounterRateLimiter(self.storage)

    def hit(self, scope: str, key: str) -> None:
        """Count one request of `key` in `scope`; RateLimited when over any of the scope's limits."""
        if not self.enabled:
            return
        for limit in self.scopes[scope]:
            try:
                allowed = self._limiter.hit(limit, scope, key)
                reset = None if allowed else self._limiter.get_window_stats(limit, scope, key).reset_time
            except StorageError as exc:
                # The counters' store (Redis) is down: serve rather than refuse everyone.
                log.warning("rate-limit storage unavailable (%s); request let through", type(exc.storage_error).__name__)
                return
            if reset is not None:
                raise RateLimited(retry_after=max(1, math.ceil(reset - time.time())))

    def healthy(self) -> bool:
        """Whether the counters' store answers (always, in memory)."""
        try:
            return bool(self.storage.check())
        except Exception:  # noqa: BLE001 - any failure of a health probe means "not healthy"
            return False
