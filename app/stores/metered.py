"""Any Store, each call timed into tatame_store_call_duration_seconds by operation (the method's name)."""

from __future__ import annotations

import functools

from app.metrics import STORE_SECONDS, timed


class MeteredStore:
    """The store as it is, every method call observed; attributes pass through."""

    def __init__(self, store):
        self.store = store

    def __getattr__(self, name: str):
        attribute = getattr(self.store, name)
        if name.startswith("_") or not callable(attribute):
            return attribute

        @functools.wraps(attribute)
        def metered(*args, **kwargs):
            with timed(STORE_SECONDS, name):
                return attribute(*args, **kwargs)

        return metered
