"""A shared version: a number that every writer of some data bumps after writing, and every reader compares.

A reader that remembers what it read together with the version it saw before reading knows its copy is
still current while the version has not moved, at the cost of reading one number. Writers bump after
their write is committed, so a reader that sees the new version also sees the new rows. The catalog
cache (a product or price webhook) and the membership cache (a subscription written) use it.

- FileVersion: a small file mapped into memory, on one machine: every process (gunicorn's workers,
  a `flask stripe sync`) maps the same page, so a bump is seen at once and a read is a memory read.
- RedisVersion: a Redis counter, shared by several instances.
"""

from __future__ import annotations

import fcntl
import logging
import mmap
import os
import struct
import threading
import time
from pathlib import Path
from typing import Callable, Generic, Hashable, Protocol, TypeVar

log = logging.getLogger(__name__)
COUNTER = struct.Struct("<Q")


class SharedVersion(Protocol):
    def current(self) -> int: ...
    def bump(self) -> None: ...


_FILE_LOCKS: dict[str, threading.Lock] = {}


class FileVersion:
    """An 8-byte counter in `path`, mapped shared: the same number for every process that opens it."""

    def __init__(self, path: str | Path):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        if os.fstat(self._fd).st_size < COUNTER.size:
            os.ftruncate(self._fd, COUNTER.size)  # zeros; never shrinks a counter another process made
        self._memory = mmap.mmap(self._fd, COUNTER.size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        # lockf does not exclude this process's own threads, nor two objects for one file in one process.
        self._threads = _FILE_LOCKS.setdefault(os.path.realpath(path), threading.Lock())

    def current(self) -> int:
        return COUNTER.unpack_from(self._memory, 0)[0]

    def bump(self) -> None:
        with self._threads:
            fcntl.lockf(self._fd, fcntl.LOCK_EX)
            try:
                COUNTER.pack_into(self._memory, 0, self.current() + 1)
            finally:
                fcntl.lockf(self._fd, fcntl.LOCK_UN)


class RedisVersion:
    """A counter in Redis under `key`, shared by every instance."""

    def __init__(self, client, key: str):
        self.client, self.key = client, key

    def current(self) -> int:
        return int(self.client.get(self.key) or 0)

    def bump(self) -> None:
        self.client.incr(self.key)


K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class VersionedCache(Generic[K, V]):
    """Values read under a shared version, answered again until it moves (or `max_age` passes: a safety net for
    a bump that could not be made, say while Redis was down). Bounded: a flood of keys only refills it.
    Without a version, nothing is remembered and every read goes to `load`."""

    def __init__(self, version: SharedVersion | None, *, size: int = 10_000, max_age: float = 30.0):
        self.version, self.size, self.max_age = version, size, max_age
        self._values: dict[K, tuple[int, float, V]] = {}

    def get(self, key: K, load: Callable[[], V]) -> V:
        if self.version is None:
            return load()
        try:
            seen = self.version.current()  # before the read: a write after it moves the version
        except Exception as exc:  # noqa: BLE001 - Redis raises many types; all mean "cannot tell"
            log.warning("shared version unavailable (%s); read from the store", type(exc).__name__)
            return load()
        now = time.monotonic()
        found = self._values.get(key)
        if found is not None and found[0] == seen and now - found[1] < self.max_age:
            return found[2]
        value = load()
        if len(self._values) >= self.size:
            self._values.clear()
        self._values[key] = (seen, now, value)
        return value

    def changed(self) -> None:
        """After a write: every process's remembered values are old from now on."""
        if self.version is None:
            return
        try:
            self.version.bump()
        except Exception as exc:  # noqa: BLE001
            log.error("shared version not bumped (%s); other processes may answer from their copy for up to %ss",
                      type(exc).__name__, self.max_age)
