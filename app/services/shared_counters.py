"""Sliding-window request counters in memory shared by every worker process of one instance.

`limits`' in-memory storage lives in one process, so with three gunicorn workers a user got
three times the documented limit. These counters live in an anonymous shared mapping made
before gunicorn forks its workers (the app is built in the master: preload_app), guarded by a
POSIX record lock on a file made at the same time (the kernel releases it when its holder dies,
so a worker killed mid-count cannot freeze the others) and, within a process, a thread lock;
every worker then counts in the same slots. Across instances, Redis
(REDIS_URL) does the same job.

The table is fixed-size (open addressing over `slots` entries): a key that finds no free slot
takes over the one whose window is oldest, so a flood of distinct keys can only make other
keys' counts start afresh, never make the table grow.
"""

from __future__ import annotations

import fcntl
import hashlib
import math
import mmap
import struct
import tempfile
import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator

SLOT = struct.Struct("<QqII")  # key hash (0: free), window number, previous window's count, this window's
PROBES = 8


class SharedWindowCounters:
    """hit(key, limit, window) → (allowed, retry_after seconds), counted across forked processes."""

    def __init__(self, slots: int = 1 << 16, clock: Callable[[], float] = time.time):
        self.slots, self.clock = slots, clock
        self._memory = mmap.mmap(-1, slots * SLOT.size)  # anonymous and MAP_SHARED: children share it
        self._lock_file = tempfile.TemporaryFile()  # its fd is inherited; lockf locks belong to each process
        self._threads = threading.Lock()  # lockf does not exclude threads (or greenlets) of one process

    def hit(self, key: str, limit: int, window: int) -> tuple[bool, int]:
        """Count one request of `key` unless that would exceed `limit` per `window` seconds."""
        digest = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little") or 1
        now = self.clock()
        current, elapsed = divmod(now, window)
        current, weight = int(current), 1 - elapsed / window  # how much of the previous window still counts
        with self._locked():
            offset, (owner, number, previous, count) = self._slot(digest, current)
            if owner != digest or number < current - 1:
                previous, count = 0, 0
            elif number == current - 1:
                previous, count = count, 0
            estimate = previous * weight + count
            allowed = estimate + 1 <= limit
            if allowed:
                count += 1
            SLOT.pack_into(self._memory, offset, digest, current, previous, count)
        return allowed, 0 if allowed else _retry_after(previous, count, limit, weight, window)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with self._threads:
            fcntl.lockf(self._lock_file, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.lockf(self._lock_file, fcntl.LOCK_UN)

    def _slot(self, digest: int, current: int) -> tuple[int, tuple]:
        """The key's slot if it has one; else a free or expired one; else the one idle longest."""
        start = digest % self.slots
        chosen = None
        for probe in range(PROBES):
            offset = ((start + probe) % self.slots) * SLOT.size
            entry = SLOT.unpack_from(self._memory, offset)
            if entry[0] == digest:
                return offset, entry
            if chosen is None or entry[1] < chosen[1][1]:
                chosen = (offset, entry)
        return chosen


def _retry_after(previous: int, count: int, limit: int, weight: float, window: int) -> int:
    """Seconds until one more request would fit, as the sliding window counter estimates it."""
    if count + 1 <= limit and previous:
        # Wait for enough of the previous window to slide out.
        needed = (limit - 1 - count) / previous  # the weight at which one more fits
        return max(1, math.ceil((weight - needed) * window))
    # This window is full on its own: wait for the next, then for its share of this one to slide out.
    remaining = weight * window
    needed = (limit - 1) / count if count else 1
    return max(1, math.ceil(remaining + (1 - needed) * window))
