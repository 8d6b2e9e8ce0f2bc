"""Generations: a number that every writer of some data bumps after writing, and every reader compares.

A reader that remembers what it read together with the generation it saw before reading knows its copy
is still current while the generation has not moved, at the cost of reading one number. Writers bump
after their write is committed, so a reader that sees the new generation also sees the new rows.

- FileGeneration: a small file mapped into memory, for data in the embedded SQLite file: every process
  on the machine (gunicorn's workers, `flask stripe sync`) maps the same page, so a bump is seen at once
  and a read is a memory read.
- RedisGeneration: a Redis counter, for data shared by several instances.
"""

from __future__ import annotations

import fcntl
import logging
import mmap
import os
import struct
import threading
import time
from typing import Callable, Generic, Hashable, Protocol, TypeVar

log = logging.getLogger(__name__)
COUNTER = struct.Struct("<Q")


class Generation(Protocol):
    def current(self) -> int: ...
    def bump(self) -> None: ...


_FILE_LOCKS: dict[str, threading.Lock] = {}


class FileGeneration:
    """An 8-byte counter in `path`, mapped shared: the same number for every process that opens it."""

    def __init__(self, path: str):
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


class RedisGeneration:
    """A counter in Redis under `key`, shared by every instance."""

    def __init__(self, client, key: str):
        self.client, self.key = client, key

    def current(self) -> int:
        return int(self.client.get(self.key) or 0)

    def bump(self) -> None:
        self.client.incr(self.key)


K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class GenerationCache(Generic[K, V]):
    """Values read under a generation, answered again until it moves (or `max_age` passes: a safety net for
    a bump that could not be made, say while Redis was down). Bounded: a flood of keys only refills it.
    Without a generation, nothing is remembered and every read goes to `load`."""

    def __init__(self, generation: Generation | None, *, size: int = 10_000, max_age: float = 30.0):
        self.generation, self.size, self.max_age = generation, size, max_age
        self._values: dict[K, tuple[int, float, V]] = {}

    def get(self, key: K, load: Callable[[], V]) -> V:
        if self.generation is None:
            return load()
        try:
            seen = self.generation.current()  # before the read: a write after it moves the generation
        except Exception as exc:  # noqa: BLE001 - Redis raises many types; all mean "cannot tell"
            log.warning("generation unavailable (%s); read from the store", type(exc).__name__)
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
        if self.generation is None:
            return
        try:
            self.generation.bump()
        except Exception as exc:  # noqa: BLE001
            log.error("generation not bumped (%s); other processes may answer from their copy for up to %ss",
                      type(exc).__name__, self.max_age)
