"""SQLite plumbing: per-thread connections, write transactions, and the schema-version runner.

Each thread of each process gets its own connection, in WAL mode with a busy timeout. Writes
that read before they decide run inside `BEGIN IMMEDIATE`, which takes SQLite's single write
lock before the read, so they cannot interleave with another process's.
"""

from __future__ import annotations

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


def new_id() -> str:
    """A fresh row id."""
    return str(uuid.uuid4())


class Database:
    """Connections, transactions and schema versions; the aggregates' mixins build on it.

    `MIGRATIONS` (set by the composed store) is the ordered schema history: the file's
    `PRAGMA user_version` says how many steps it has had, and opening it runs the rest.
    """

    MIGRATIONS: tuple[Migration, ...] = ()

    def __init__(self, path: str, busy_timeout_ms: int = 10_000):
        self.path = path
        self.busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        self._write_lock = threading.Lock()
        if path == ":memory:":
            raise ValueError("SQLiteStore needs a file: each thread opens its own connection")
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._migrate()

    # --- connections -------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path,
            timeout=self.busy_timeout_ms / 1000,
            isolation_level=None,  # we issue BEGIN ourselves
            check_same_thread=True,
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
        # A connection opened before a fork belongs to the parent: reopen per process.
        pid = os.getpid()
        conn = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "pid", None) != pid:
            try:
                conn = self._connect()
            except sqlite3.Error as exc:
                raise StoreUnavailable(f"cannot open SQLite database: {exc}") from exc
            self._local.conn, self._local.pid = conn, pid
        try:
            yield conn
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
                # thread's connection inside a transaction, and never hide the first error.
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
        """Close this thread's connection."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

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
