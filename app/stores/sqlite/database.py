"""SQLite plumbing: one connection per process, write transactions, and the schema-version runner.

Each process opens one connection, in WAL mode with a busy timeout, and its threads take turns on
it. Writers queue on a lock of this process and then on a lock of the file shared by every process
(WriterLock). Writes that read before they decide run inside `BEGIN IMMEDIATE`, which takes SQLite's
single write lock before the read, so they cannot interleave with another process's.
"""

from __future__ import annotations

import errno
import fcntl
import os
import sqlite3
import threading
import time
import uuid
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator, NamedTuple

from ..base import StoreUnavailable


class Migration(NamedTuple):
    """One numbered step of the schema; once released, its statements never change."""

    number: int
    summary: str
    statements: tuple[str, ...]


def iso(moment: datetime | None) -> str | None:
    """A timestamp as stored: one fixed-width UTC format, so that text comparison orders like time."""
    return None if moment is None else moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def now_text() -> str:
    """The current time as stored."""
    return iso(datetime.now(timezone.utc))


def parse(text: str | None) -> datetime | None:
    """A stored timestamp back as an aware UTC datetime."""
    return None if text is None else datetime.fromisoformat(text)  # "...Z" → aware UTC


def newer_record_upsert(table: str, key: str, fields: tuple[str, ...]) -> str:
    """The guarded write of a record read from Stripe: insert it, or replace `fields` of the stored one only
    when it carries a newer `stamp` (an older read never overwrites a newer one). A read that cannot name the
    user (mapping gone, no metadata) does not forget who it was. Returns the row's id when it was written."""
    return (
        f"INSERT INTO {table} (id, {key}, clerk_user_id, {', '.join(fields)}, created_at, updated_at)"
        f" VALUES (:id, :{key}, :clerk_user_id, {', '.join(':' + f for f in fields)}, :now, :now)"
        f" ON CONFLICT ({key}) DO UPDATE SET "
        + ", ".join(f"{f} = excluded.{f}" for f in fields)
        + f", clerk_user_id = coalesce(excluded.clerk_user_id, {table}.clerk_user_id), updated_at = excluded.updated_at"
        f" WHERE {table}.stamp < excluded.stamp RETURNING id"
    )


def new_id() -> str:
    """A fresh row id."""
    return str(uuid.uuid4())


YIELDS_BEFORE_BLOCKING = 20


class WriterLock:
    """Who writes next: this process's threads queue on a mutex, then processes on a lock of the file.

    SQLite settles writers between processes too, but its busy handler waits by sleeping in growing
    steps (1, 2, 5, 10 ms...), and under gevent such a sleep stops every greenlet of the worker. A
    lockf() waiter is woken by the kernel the moment the holder is done, in microseconds.
    """

    def __init__(self, path: str):
        self._mutex = threading.Lock()
        self._path = f"{path}.writer-lock"
        self._fd: int | None = None
        self._pid: int | None = None

    def __enter__(self):
        self._mutex.acquire()
        try:
            if self._pid != os.getpid():  # POSIX record locks belong to a process: one descriptor per process
                self._fd, self._pid = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600), os.getpid()
            self._lock_file()
        except BaseException:
            self._mutex.release()
            raise
        return self

    def _lock_file(self) -> None:
        # Held by another process: first let this process's other requests run (under gevent a blocking
        # wait would stop them all), then, if it is still held, wait for the kernel to hand it over.
        for _ in range(YIELDS_BEFORE_BLOCKING):
            try:
                fcntl.lockf(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except OSError as exc:
                if exc.errno not in (errno.EACCES, errno.EAGAIN):
                    raise
            time.sleep(0)  # gevent: a switch to the worker's other greenlets; threads: the GIL passes on
        fcntl.lockf(self._fd, fcntl.LOCK_EX)

    def __exit__(self, *exc_info) -> None:
        try:
            fcntl.lockf(self._fd, fcntl.LOCK_UN)
        finally:
            self._mutex.release()


class Database:
    """Connections, transactions and schema versions; the aggregates' mixins build on it.

    `MIGRATIONS` (set by the composed store) is the ordered schema history: the file's
    `PRAGMA user_version` says how many steps it has had, and opening it runs the rest.
    """

    MIGRATIONS: tuple[Migration, ...] = ()

    def __init__(self, path: str, busy_timeout_ms: int = 10_000):
        self.path = path
        self.busy_timeout_ms = busy_timeout_ms
        self._conn: sqlite3.Connection | None = None
        self._conn_pid: int | None = None
        self._conn_lock = threading.RLock()
        if path == ":memory:":
            raise ValueError("SQLiteStore needs a file: each process opens its own connection")
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._write_lock = WriterLock(path) if path else threading.Lock()
        self._migrate()

    # --- connections -------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path,
            timeout=self.busy_timeout_ms / 1000,
            isolation_level=None,  # we issue BEGIN ourselves
            check_same_thread=False,  # one connection per process, used under _conn_lock
        )
        try:
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
            self._use_wal(conn)
            conn.execute("PRAGMA synchronous = NORMAL")
        except BaseException:
            conn.close()
            raise
        return conn

    def _use_wal(self, conn: sqlite3.Connection) -> None:
        # Turning a new file to WAL needs an exclusive lock, and SQLite answers "locked" at once,
        # without its busy handler, while another process opening the same new file holds one.
        deadline = time.monotonic() + self.busy_timeout_ms / 1000
        while True:
            try:
                conn.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() >= deadline:
                    raise
                time.sleep(0.005)

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        """This process's one connection, for one thread (or greenlet) at a time.

        One per process, not one per thread: under gevent every connection is a greenlet, and each
        SQLite connection throws its page cache away whenever another one has written, so a connection
        per greenlet re-read the same pages on almost every query (and held its own cache in memory).
        SQLite runs one statement at a time per file anyway, and never yields to another greenlet.
        """
        with self._conn_lock:
            pid = os.getpid()
            if self._conn is None or self._conn_pid != pid:  # a connection opened before a fork is the parent's
                try:
                    self._conn, self._conn_pid = self._connect(), pid
                except sqlite3.Error as exc:
                    raise StoreUnavailable(f"cannot open SQLite database: {exc}") from exc
            try:
                yield self._conn
            except sqlite3.OperationalError as exc:
                raise StoreUnavailable(f"SQLite error: {exc}") from exc

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that holds SQLite's write lock from its first statement.

        Threads of one process queue on a mutex first: SQLite's own busy handler waits by
        sleeping in growing steps (up to 100 ms), which under load turns into long tails.
        Between processes, SQLite's lock (and busy timeout) still settles who writes.
        """
        with self._write_lock, self._connection() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                # SQLite may have rolled back already (disk full, say): never leave the
                # process's connection inside a transaction, and never hide the first error.
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def _write_one(self, sql: str, params: tuple | dict) -> sqlite3.Cursor:
        """One statement, atomic on its own (autocommit), queued behind this process's writers."""
        with self._write_lock, self._connection() as conn:
            cursor = conn.execute(sql, params)
            cursor.fetchall()  # step a RETURNING statement to its end, so that it commits now
            return cursor

    def close(self) -> None:
        """Close this process's connection (the next use opens another)."""
        with self._conn_lock:
            if self._conn is not None and self._conn_pid == os.getpid():
                self._conn.close()
            self._conn = None

    def ping(self) -> None:
        """Raise StoreUnavailable unless the file answers a trivial query."""
        with self._connection() as conn:
            conn.execute("SELECT 1").fetchone()

    # --- schema versions ---------------------------------------------------
    def _migrate(self) -> None:
        """Bring the file to the latest schema version, or refuse a file newer than this code."""
        latest = len(self.MIGRATIONS)
        numbers = [migration.number for migration in self.MIGRATIONS]
        if numbers != list(range(1, latest + 1)):
            raise RuntimeError(f"SQLite migrations must be numbered 1..{latest} in order, not {numbers}")
        # The write lock comes before the version is read: of several processes opening a file
        # at once, one migrates and the others then find the work done.
        with self._write() as conn:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > latest:
                raise RuntimeError(
                    f"SQLite file {self.path} is at schema version {version}, newer than this code's"
                    f" {latest}: run newer code, or point SQLITE_PATH at another file"
                )
            for migration in self.MIGRATIONS[version:]:
                for statement in migration.statements:
                    conn.execute(statement)
            if version != latest:
                conn.execute(f"PRAGMA user_version = {latest}")  # in the transaction: all or nothing
