"""The catalog cache: Stripe reads kept in cachelib (in-process, or Redis shared by instances).

Entries are keyed by a catalog *version*; a product.* or price.* webhook bumps the version,
so every reader, in every worker and instance, misses at once and refetches. A second,
long-lived copy of each entry is kept to answer from when Stripe fails ("stale").

The version is a shared version (app/services/shared_version.py) kept where the entries are:
in Redis when Redis is configured, else in a small file every worker on the machine maps.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any, Callable

from cachelib import BaseCache, RedisCache, SimpleCache

from app.services.errors import UpstreamError
from app.services.shared_version import FileVersion, RedisVersion, SharedVersion

log = logging.getLogger(__name__)

HIT, MISS, STALE = "HIT", "MISS", "STALE"
FAILURE_MEMO_SECONDS = 5    # after Stripe fails on a key, answer from the stale copy this long
LEADER_WAIT_SECONDS = 30    # longer than one Stripe call with its retries


class CatalogCache:
    """get_or_load(key, loader) → (value, HIT | MISS | STALE); invalidate() drops every entry."""

    def __init__(self, backend: BaseCache, version: SharedVersion, *, ttl: int = 300, stale_ttl: int = 86400,
                 stale_backend: BaseCache | None = None):
        self.backend, self.version = backend, version
        # In memory the stale copies get a store of their own: sharing one size cap, long-lived
        # stale copies would push out the fresh ones.
        self.stale = stale_backend or backend
        self.ttl, self.stale_ttl = ttl, stale_ttl
        self._inflight: dict[str, Future] = {}  # key -> the one load under way for it in this process
        self._guard = threading.Lock()

    @classmethod
    def build(cls, *, redis, instance_path: str, ttl: int, stale_ttl: int) -> "CatalogCache":
        """In the Redis client's server when there is one (shared by instances), else in this process."""
        if redis is not None:
            return cls(RedisCache(redis, key_prefix="tatame:", default_timeout=ttl),
                       RedisVersion(redis, "tatame:catalog:version"), ttl=ttl, stale_ttl=stale_ttl)
        fresh, stale = SimpleCache(threshold=2000, default_timeout=ttl), SimpleCache(threshold=2000)
        fresh.serializer = stale.serializer = _InProcess()
        return cls(fresh, FileVersion(Path(instance_path) / "catalog.version"), ttl=ttl, stale_ttl=stale_ttl,
                   stale_backend=stale)

    @property
    def enabled(self) -> bool:
        return self.ttl > 0

    def get_or_load(self, key: Any, loader: Callable[[], Any]) -> tuple[Any, str]:
        """The cached value for `key`, or `loader()`: one call per miss per process, however many wait."""
        if not self.enabled:
            return loader(), MISS
        version = None
        name = _name(key)
        try:  # the hit, on every cached read: no closures, one version read and one lookup
            version = self.version.current()
            fresh_key = f"catalog:{version}:{name}"
            value = self.backend.get(fresh_key)
        except Exception as exc:  # noqa: BLE001 - as in _safe: a cache that cannot answer is a miss
            log.warning("catalog cache unavailable: %s", type(exc).__name__)
            if version is None:  # which entries are current is unknown: trust none
                return loader(), MISS
            value = None
        if value is not None:
            return value, HIT
        if self._safe(lambda: self.backend.get(f"catalog:failed:{name}")):
            # Stripe failed on this a moment ago: do not queue every request behind another attempt.
            return self._stale_or_raise(name, UpstreamError())
        with self._guard:
            leader = self._inflight.get(fresh_key)
            if leader is None:
                future = self._inflight[fresh_key] = Future()
        if leader is not None:
            try:
                return leader.result(timeout=LEADER_WAIT_SECONDS), HIT  # loaded for us
            except UpstreamError as exc:
                return self._stale_or_raise(name, exc)
            except FutureTimeout:
                return self._stale_or_raise(name, UpstreamError())
        try:
            value = loader()
        except BaseException as exc:
            future.set_exception(exc)
            if not isinstance(exc, UpstreamError):
                raise
            self._safe(lambda: self.backend.set(f"catalog:failed:{name}", True, timeout=FAILURE_MEMO_SECONDS))
            return self._stale_or_raise(name, exc)
        else:
            future.set_result(value)
            self._safe(lambda: self.backend.set(fresh_key, value, timeout=self.ttl))
            if self.stale_ttl:
                self._safe(lambda: self.stale.set(f"catalog:stale:{name}", value, timeout=self.stale_ttl))
            return value, MISS
        finally:
            with self._guard:
                self._inflight.pop(fresh_key, None)

    def invalidate(self) -> None:
        """Every reader, in every worker sharing the version, misses from now on."""
        self.version.bump()

    def _stale_or_raise(self, name: str, error: UpstreamError) -> tuple[Any, str]:
        stale = self._safe(lambda: self.stale.get(f"catalog:stale:{name}")) if self.stale_ttl else None
        if stale is None:
            raise error
        log.warning("Stripe failed; serving a stale catalog copy")
        return stale, STALE

    @staticmethod
    def _safe(call: Callable[[], Any], default: Any = None) -> Any:
        # A cache that cannot answer is a miss, never an error: Stripe is still there.
        try:
            return call()
        except Exception as exc:  # noqa: BLE001 - redis raises many types; all mean "no cache now"
            log.warning("catalog cache unavailable: %s", type(exc).__name__)
            return default


def _name(key: Any) -> str:
    """The key as text (the same in every process and instance); the catalog's few keys are remembered."""
    if isinstance(key, (list, tuple)):
        try:
            return _names(tuple(key))
        except TypeError:  # a key with unhashable parts
            pass
    return json.dumps(key, sort_keys=True, separators=(",", ":"))


@functools.lru_cache(maxsize=1024)
def _names(key: tuple) -> str:
    return json.dumps(list(key), sort_keys=True, separators=(",", ":"))


class _InProcess:
    """SimpleCache's serializer, minus the pickling: in one process the objects can be shared as they
    are (nothing mutates a cached answer), which saves a pickle round trip on every hit."""

    @staticmethod
    def dumps(value: Any) -> Any:
        return value

    @staticmethod
    def loads(value: Any) -> Any:
        return value
