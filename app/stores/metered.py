"""Any Store, each call timed into tatame_store_call_duration_seconds by operation (the method's name)."""

from __future__ import annotations

import functools
import time

from app.metrics import STORE_SECONDS


class MeteredStore:
    """The store as it is, every method call observed; attributes pass through."""

    def __init__(self, store):
        self.store = store

    def __getattr__(self, name: str):
        attribute = getattr(self.store, name)
        if name.startswith("_") or not callable(attribute):
            return attribute

        series = STORE_SECONDS.labels(name)

        @functools.wraps(attribute)
        def metered(*args, **kwargs):
            started = time.perf_counter()
            try:
                return attribute(*args, **kwargs)
            finally:
                series.observe(time.perf_counter() - started)

        self.__dict__[name] = metered  # made once per method: found directly from now on
        return metered
