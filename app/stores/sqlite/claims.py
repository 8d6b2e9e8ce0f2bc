"""The lease/claim state machine's shape on SQLite, written once for every aggregate that claims rows.

A claimable table has a unique key naming one row, a `status`, and the columns `id`,
`claim_token`, `lease_expires_at`, `created_at`, `updated_at`. Claiming a row is: insert it,
claimed by us, unless it exists; otherwise lock it (`BEGIN IMMEDIATE`), let the aggregate judge
it, and take it over (new token and lease) or leave it. Finishing or releasing a claim only
works for the token that holds it. What differs between aggregates is the judgement alone.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Mapping

from .database import Database, iso, new_id, now_text


@dataclass(frozen=True)
class ClaimTable:
    """A table whose rows are claimed with leases."""

    name: str
    key: tuple[str, ...]   # the unique key naming one row (an ON CONFLICT target)
    columns: str           # what a claim or a read returns
    claimed_status: str    # the row's status while a claim holds it

    @property
    def where(self) -> str:
        """The condition naming one row, with a named parameter per key column."""
        return " AND ".join(f"{column} = :{column}" for column in self.key)


@dataclass(frozen=True)
class Lease:
    """A claim's timing, read from the clock once the write lock is held."""

    now: str
    expires: str

    @classmethod
    def starting_now(cls, seconds: float) -> Lease:
        """A lease of `seconds` from now."""
        now = datetime.now(timezone.utc)
        return cls(iso(now), iso(now + timedelta(seconds=seconds)))

    def is_free(self, expires_at: str | None) -> bool:
        """Whether a lease ending at `expires_at` (None: never leased) has run out by now."""
        return (expires_at or "") <= self.now


@dataclass(frozen=True)
class Take:
    """A judgement: take the row over, changing `changes` (SQL assignments) besides the lease."""

    verdict: Any
    changes: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Keep:
    """A judgement: leave the row as it is."""

    verdict: Any


Judge = Callable[[sqlite3.Row, Lease], "Take | Keep"]


class Claims(Database):
    """Claim, read, finish and release rows of any ClaimTable."""

    def _select(self, conn: sqlite3.Connection, table: ClaimTable, key: Mapping[str, Any]) -> sqlite3.Row | None:
        return conn.execute(f"SELECT {table.columns} FROM {table.name} WHERE {table.where}", dict(key)).fetchone()

    def _read(self, table: ClaimTable, key: Mapping[str, Any]) -> sqlite3.Row | None:
        """The row named by `key`, or None."""
        with self._connection() as conn:
            return self._select(conn, table, key)

    def _claim(
        self,
        table: ClaimTable,
        key: Mapping[str, Any],
        new: Mapping[str, Any],
        token: str,
        lease_seconds: float,
        judge: Judge,
        inserted: Any,
    ) -> tuple[sqlite3.Row, Any]:
        """Insert a row claimed by `token` (verdict `inserted`), or let `judge` decide on the existing one.

        `new` holds the new row's own columns besides its key and the claim columns.
        Returns the row as it now stands and the verdict.
        """

        def values(lease: Lease) -> dict[str, Any]:
            return {**new, **key, "id": new_id(), "claim_token": token, "lease_expires_at": lease.expires,
                    "created_at": lease.now, "updated_at": lease.now}

        names = [*new, *key, "id", "claim_token", "lease_expires_at", "created_at", "updated_at"]
        insert_sql = f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({', '.join(':' + n for n in names)})"

        def insert(conn: sqlite3.Connection, lease: Lease) -> None:
            conn.execute(insert_sql, values(lease))

        # The common case, a new row, is one atomic statement: insert unless it exists. The statement is made
        # before the writer lock (writers of every process queue on it); the lease starts once we hold it.
        conflict_sql = f"{insert_sql} ON CONFLICT ({', '.join(table.key)}) DO NOTHING RETURNING {table.columns}"
        with self._write_lock, self._connection() as conn:
            rows = conn.execute(conflict_sql, values(Lease.starting_now(lease_seconds))).fetchall()
        if rows:
            return rows[0], inserted
        # It exists: read, judge and maybe take it over, in one write transaction.
        with self._write() as conn:
            lease = Lease.starting_now(lease_seconds)  # read the clock once we hold the lock
            row = self._select(conn, table, key)
            if row is None:  # deleted in between: claim it afresh
                insert(conn, lease)
                return self._select(conn, table, key), inserted
            judgement = judge(row, lease)
            if isinstance(judgement, Keep):
                return row, judgement.verdict
            changes = f"{judgement.changes}, " if judgement.changes else ""
            conn.execute(
                f"UPDATE {table.name} SET {changes}claim_token = :claim_token, lease_expires_at = :lease_expires_at,"
                f" updated_at = :updated_at WHERE {table.where}",
                {**judgement.params, **key, "claim_token": token, "lease_expires_at": lease.expires,
                 "updated_at": lease.now},
            )
            return self._select(conn, table, key), judgement.verdict

    def _update_claimed(
        self, table: ClaimTable, key: Mapping[str, Any], token: str, changes: str, params: Mapping[str, Any]
    ) -> bool:
        """Apply `changes` if `token` still holds the row's claim; whether it did."""
        cursor = self._write_one(
            f"UPDATE {table.name} SET {changes}, updated_at = :now"
            f" WHERE {table.where} AND claim_token = :token AND status = :claimed_status",
            {**params, **key, "now": now_text(), "token": token, "claimed_status": table.claimed_status},
        )
        return cursor.rowcount == 1

    def _finish(self, table: ClaimTable, key: Mapping[str, Any], token: str, changes: str,
                params: Mapping[str, Any] | None = None) -> bool:
        """Settle the claim held by `token` with `changes`, clearing token and lease; whether it was ours."""
        return self._update_claimed(table, key, token, f"{changes}, claim_token = NULL, lease_expires_at = NULL",
                                    params or {})

    def _release(self, table: ClaimTable, key: Mapping[str, Any], token: str) -> bool:
        """End the lease held by `token` at once, so the next claim may take the row; whether it was ours."""
        return self._update_claimed(table, key, token, "lease_expires_at = :now", {})
