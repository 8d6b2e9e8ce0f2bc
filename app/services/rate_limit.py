"""Request rate limits, on `limits` (in memory, or Redis shared by every instance)."""

from __future__ import annotations

import math
import time

from limits import parse_many, storage, strategies

from app.services.errors import RateLimited


class RateLimiter:
    """Named scopes ("user", "webhook"), each with its limits, counted per key."""

    def __init__(self, scopes: dict[str, str], *, storage_uri: str = "memory://", enabled: bool = True):
        self.enabled = enabled
        self.scopes = {name: parse_many(text) for name, text in scopes.items()}
        self._limiter = strategies.SlidingWindowCounterRateLimiter(storage.storage_from_string(storage_uri))

    def hit(self, scope: str, key: str) -> None:
        """Count one request of `key` in `scope`; RateLimited when over any of the scope's limits."""
        if not self.enabled:
            return
        for limit in self.scopes[scope]:
            if not self._limiter.hit(limit, scope, key):
                reset = self._limiter.get_window_stats(limit, scope, key).reset_time
                raise RateLimited("Too many requests; slow down.", retry_after=max(1, math.ceil(reset - time.time())))
