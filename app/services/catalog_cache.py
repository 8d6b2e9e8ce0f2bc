"""The catalog cache: Stripe reads kept in cachelib (in-process, or Redis shared by instances).

Entries are keyed by a catalog *version*; a product.* or price.* webhook bumps the version,
so every reader, in every worker and instance, misses at once and refetches. A second,
long-lived copy of each entry is kept to answer from when Stripe fails ("stale").

The version lives where the entries do: in Redis (one INCR) when Redis is configured, else
in a small file whose identity changes on every bump, which every worker on the machine sees
with one stat() per read.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
import uuid
from pathlib import Path
from typing import Any, Callable, Protocol

from cachelib import BaseCache, RedisCache, SimpleCache

from app.services.errors import UpstreamError

log = logging.getLogger(__name__)

HIT, MISS, STALE = "HIT", "MISS", "STALE"
VERSION_KEY = "catalog:version"


class CatalogVersion(Protocol):
    def current(self) -> str: ...
    def bump(self) -> None: ...


class FileVersion:
    """A file under the instance folder: replaced on each bump, so its inode and mtime change."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def current(self) -> str:
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return "0"
        return f"{stat.st_ino}.{stat.st_mtime_ns}"

    def bump(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=self.path.parent, prefix=".catalog-version-")
        with os.fdopen(fd, "w") as file:
            file.write(uuid.uuid4().hex)
        os.replace(temp, self.path)  # a new inode: readers see a new version even within one mtime tick


class RedisVersion:
    """A counter in Redis, shared by every instance."""

    def __init__(self, cache: RedisCache):
        self.cache = cache

    def current(self) -> str:
        return str(self.cache.get(VERSION_KEY) or 0)

    def bump(self) -> None:
        self.cache.inc(VERSION_KEY)


class CatalogCache:
    """get_or_load(key, loader) → (value, HIT | MISS | STALE); invalidate() drops every entry."""

    def __init__(self, backend: BaseCache, version: CatalogVersion, *, ttl: int = 300, stale_ttl: int = 86400):
        self.backend, self.version = backend, version
        self.ttl, self.stale_ttl = ttl, stale_ttl
        self._locks: dict[str, list] = {}  # key -> [lock, holders and waiters]
        self._locks_guard = threading.Lock()

    @classmethod
    def build(cls, *, redis_url: str | None, instance_path: str, ttl: int, stale_ttl: int) -> "CatalogCache":
        if redis_url:
            import redis

            client = redis.Redis.from_url(redis_url, socket_timeout=0.5, socket_connect_timeout=0.5)
            backend = RedisCache(client, key_prefix="tatame:", default_timeout=ttl)
            return cls(backend, RedisVersion(backend), ttl=ttl, stale_ttl=stale_ttl)
        backend = SimpleCache(threshold=2000, default_timeout=ttl)
        backend.serializer = _InProcess()
        return cls(backend, FileVersion(Path(instance_path) / "catalog-version"), ttl=ttl, stale_ttl=stale_ttl)

    @property
    def enabled(self) -> bool:
        return self.ttl > 0

    def get_or_load(self, key: Any, loader: Callable[[], Any]) -> tuple[Any, str]:
        """The cached value for `key`, or `loader()` (one call per miss per process, however many wait)."""
        if not self.enabled:
            return loader(), MISS
        name = json.dumps(key, sort_keys=True, separators=(",", ":"))
        fresh_key = f"catalog:{self._safe(self.version.current, '0')}:{name}"
        value = self._safe(lambda: self.backend.get(fresh_key))
        if value is not None:
            return value, HIT
        with self._lock(fresh_key):
            value = self._safe(lambda: self.backend.get(fresh_key))
            if value is not None:
                return value, HIT
            try:
                value = loader()
            except UpstreamError:
                stale = self._safe(lambda: self.backend.get(f"catalog:stale:{name}"))
                if stale is None:
                    raise
                log.warning("Stripe failed; serving a stale catalog copy")
                return stale, STALE
            self._safe(lambda: self.backend.set(fresh_key, value, timeout=self.ttl))
            self._safe(lambda: self.backend.set(f"catalog:stale:{name}", value, timeout=self.stale_ttl))
            return value, MISS

    def invalidate(self) -> None:
        """Every reader, in every worker sharing the version, misses from now on."""
        self.version.bump()

    def _lock(self, key: str) -> "_KeyLock":
        return _KeyLock(self, key)

    @staticmethod
    def _safe(call: Callable[[], Any], default: Any = None) -> Any:
        # A cache that cannot answer is a miss, never an error: Stripe is still there.
        try:
            return call()
        except Exception as exc:  # noqa: BLE001 - redis raises many types; all mean "no cache now"
            log.warning("catalog cache unavailable: %s", type(exc).__name__)
            return default


class _InProcess:
    """SimpleCache's serializer, minus the pickling: in one process the objects can be shared as they
    are (nothing mutates a cached answer), which saves a pickle round trip on every hit."""

    @staticmethod
    def dumps(value: Any) -> Any:
        return value

    @staticmethod
    def loads(value: Any) -> Any:
        return value


class _KeyLock:
    """One lock per key while someone loads or waits for it; forgotten when nobody does."""

    def __init__(self, cache: CatalogCache, key: str):
        self.cache, self.key = cache, key

    def __enter__(self) -> None:
        with self.cache._locks_guard:
            entry = self.cache._locks.setdefault(self.key, [threading.Lock(), 0])
            entry[1] += 1
        entry[0].acquire()
        self.entry = entry

    def __exit__(self, *exc) -> None:
        self.entry[0].release()
        with self.cache._locks_guard:
            self.entry[1] -= 1
            if self.entry[1] == 0:
                self.cache._locks.pop(self.key, None)
