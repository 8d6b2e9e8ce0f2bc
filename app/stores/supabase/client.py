"""Supabase plumbing: the PostgREST client, error classification, and reading its answers.

Every write is one of the `tatame_*` SQL functions of migrations.sql, called over RPC: each
runs as one transaction with the row locked, and leases are judged by the database's clock,
so app servers with skewed clocks still agree. Reads are plain PostgREST selects.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Callable

import httpx
from postgrest.exceptions import APIError
from supabase import create_client
from supabase.lib.client_options import SyncClientOptions

from ..base import StoreUnavailable

# SQLSTATE classes meaning "the database cannot answer now": connection exception, transaction
# rollback (serialization failure, deadlock), insufficient resources, operator intervention
# (shutdown, statement timeout), system error.
_TRANSIENT_SQLSTATE_CLASSES = frozenset({"08", "40", "53", "57", "58"})


def is_unavailable(error: APIError) -> bool:
    """Whether a PostgREST error means the store cannot be used now, rather than a bad request."""
    code = str(error.code or "")
    if not code:  # not PostgREST's JSON: a gateway answered (e.g. Supabase's "Invalid API key")
        return True
    if len(code) == 3 and code.isdigit():  # a non-JSON error page: postgrest-py puts the status here
        return code >= "500" or code in {"401", "403", "408", "429"}
    if code.startswith(("PGRST0", "PGRST3")):  # cannot reach the database / our JWT is refused
        return True
    # 42501: permission denied, i.e. the key is not the service role's.
    return code[:2] in _TRANSIENT_SQLSTATE_CLASSES or code == "42501"


def timestamp(value: Any) -> datetime | None:
    """A PostgREST timestamp as an aware UTC datetime."""
    if value is None:
        return None
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:  # a `timestamp` column left over from the seed: stored as UTC
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


class SupabaseClient:
    """The connection to Supabase with the service role key, and the helpers every aggregate uses.

    `timeout` (seconds) bounds every request; it applies to the HTTP client built here. A caller
    that passes its own `http_client` (tests, shared pools) sets the timeout on that client.
    """

    PING_TABLE = "stripe_webhook_events"

    def __init__(
        self,
        url: str,
        service_role_key: str,
        *,
        timeout: float = 10.0,
        http_client: httpx.Client | None = None,
    ):
        self._key = service_role_key
        self._owns_http = http_client is None
        self._http = http_client if http_client is not None else httpx.Client(timeout=timeout)
        options = SyncClientOptions(
            httpx_client=self._http,
            postgrest_client_timeout=timeout,
            # postgrest-py would retry GETs with sleeps of 1, 2, 4 s: the caller (and the
            # readiness probe) should hear about an outage at once instead.
            postgrest_client_retry=False,
            auto_refresh_token=False,
            persist_session=False,
        )
        self._rest = create_client(url, service_role_key, options=options).postgrest

    def close(self) -> None:
        """Close the HTTP client if we made it."""
        if self._owns_http:
            self._http.close()

    def ping(self) -> None:
        """`GET /rest/v1/stripe_webhook_events?select=id&limit=1`: proves PostgREST, the database,
        the table and our key all answer, and reads at most one row."""
        query = self._rest.table(self.PING_TABLE).select("id").limit(1)
        data = self._execute("ping", query, every_error_unavailable=True)
        if not isinstance(data, list):
            raise self._unexpected("ping", data)

    # --- errors --------------------------------------------------------------
    def _error(self, message: str) -> StoreUnavailable:
        if self._key:  # whatever an upstream echoed, the key never leaves in a message
            message = message.replace(self._key, "[redacted]")
        return StoreUnavailable(message)

    def _unavailable(self, what: str, exc: Exception) -> StoreUnavailable:
        if isinstance(exc, APIError):
            detail = f"{exc.code or 'no code'}: {exc.message or 'no message'}"
        else:
            detail = str(exc) or "no detail"
        return self._error(f"Supabase {what} failed ({type(exc).__name__}: {detail[:300]})")

    def _unexpected(self, what: str, data: Any) -> StoreUnavailable:
        return self._error(f"Supabase {what}: unexpected answer of type {type(data).__name__}")

    # --- requests ------------------------------------------------------------
    def _execute(self, what: str, query: Any, *, every_error_unavailable: bool = False) -> Any:
        try:
            return query.execute().data
        except httpx.HTTPError as exc:  # connect, read, timeout, protocol, ...
            raise self._unavailable(what, exc) from exc
        except APIError as exc:
            if every_error_unavailable or is_unavailable(exc):
                raise self._unavailable(what, exc) from exc
            raise

    def _rpc(self, function: str, params: dict[str, Any]) -> Any:
        return self._execute(function, self._rest.rpc(function, params))

    def _select(self, table: str, columns: str, filters: dict[str, str]) -> list[dict[str, Any]]:
        """The rows where every column of `filters` equals its value."""
        query = self._rest.table(table).select(columns)
        for column, value in filters.items():
            query = query.eq(column, value)
        data = self._execute(f"select from {table}", query)
        if not isinstance(data, list):
            raise self._unexpected(f"select from {table}", data)
        return [self._row(f"select from {table}", row) for row in data]

    def _select_one(self, table: str, columns: str, column: str, value: str) -> dict[str, Any] | None:
        rows = self._select(table, columns, {column: value})
        return rows[0] if rows else None

    def _delete(self, table: str, column: str, value: str) -> int:
        """Delete the rows where `column` is `value`; how many went."""
        data = self._execute(f"delete from {table}", self._rest.table(table).delete().eq(column, value))
        if not isinstance(data, list):
            raise self._unexpected(f"delete from {table}", data)
        return len(data)

    # --- answers -------------------------------------------------------------
    def _row(self, what: str, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise self._unexpected(what, data)
        return data

    def _flag(self, what: str, data: Any) -> bool:
        if not isinstance(data, bool):
            raise self._unexpected(what, data)
        return data

    def _parse(self, what: str, parse: Callable[[dict[str, Any]], Any], row: dict[str, Any]) -> Any:
        try:
            return parse(row)
        except (KeyError, TypeError, ValueError) as exc:
            raise self._error(f"Supabase {what}: unreadable row ({type(exc).__name__}: {str(exc)[:300]})") from exc

    def _call_int(self, function: str, params: dict[str, Any]) -> int:
        """Call a function that answers an integer (a count, a stamp)."""
        data = self._rpc(function, params)
        if not isinstance(data, int) or isinstance(data, bool):
            raise self._unexpected(function, data)
        return data

    def _call_flag(self, function: str, params: dict[str, Any]) -> bool:
        """Call a function that answers true or false (did our claim still hold?)."""
        return self._flag(function, self._rpc(function, params))

    def _claim(self, function: str, params: dict[str, Any], parse: Callable[[dict[str, Any]], Any]) -> Any:
        """Call a claim function, which answers the row as jsonb plus its verdict, and parse that."""
        row = self._row(function, self._rpc(function, params))
        return self._parse(function, parse, row)
