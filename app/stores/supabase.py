"""The production store: Supabase (PostgreSQL behind PostgREST), through supabase-py.

Every write is one of the `tatame_*` SQL functions of migrations.sql, called over RPC: each
runs as one transaction with the row locked, and leases are judged by the database's clock,
so app servers with skewed clocks still agree. Reads are plain PostgREST selects.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import httpx
from postgrest.exceptions import APIError
from supabase import create_client
from supabase.lib.client_options import SyncClientOptions

from .base import (
    ClaimOutcome,
    CustomerClaim,
    CustomerMapping,
    EventClaim,
    StoreUnavailable,
    WebhookEvent,
)

CUSTOMER_TABLE = "stripe_customer_mapping"
EVENT_TABLE = "stripe_webhook_events"
CUSTOMER_COLUMNS = (
    "id,clerk_user_id,stripe_customer_id,status,generation,claim_token,lease_expires_at,created_at,updated_at"
)
EVENT_COLUMNS = (
    "stripe_event_id,event_type,status,attempts,last_error,claim_token,lease_expires_at,"
    "processed_at,created_at,updated_at"
)
MAX_ERROR_LENGTH = 2000

# SQLSTATE classes meaning "the database cannot answer now": connection exception, transaction
# rollback (serialization failure, deadlock), insufficient resources, operator intervention
# (shutdown, statement timeout), system error.
_TRANSIENT_SQLSTATE_CLASSES = frozenset({"08", "40", "53", "57", "58"})


def _is_unavailable(error: APIError) -> bool:
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


def _timestamp(value: Any) -> datetime | None:
    if value is None:
        return None
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:  # a `timestamp` column left over from the seed: stored as UTC
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def _mapping(row: dict[str, Any]) -> CustomerMapping:
    return CustomerMapping(
        id=str(row["id"]),
        clerk_user_id=row["clerk_user_id"],
        stripe_customer_id=row["stripe_customer_id"],
        status=row["status"],
        generation=int(row["generation"]),
        claim_token=row["claim_token"],
        lease_expires_at=_timestamp(row["lease_expires_at"]),
        created_at=_timestamp(row.get("created_at")),
        updated_at=_timestamp(row.get("updated_at")),
    )


def _event(row: dict[str, Any]) -> WebhookEvent:
    return WebhookEvent(
        stripe_event_id=row["stripe_event_id"],
        event_type=row["event_type"],
        status=row["status"],
        attempts=int(row["attempts"]),
        last_error=row["last_error"],
        claim_token=row["claim_token"],
        lease_expires_at=_timestamp(row["lease_expires_at"]),
        processed_at=_timestamp(row["processed_at"]),
        created_at=_timestamp(row.get("created_at")),
        updated_at=_timestamp(row.get("updated_at")),
    )


class SupabaseStore:
    """The Store interface on Supabase, with the service role key.

    `timeout` (seconds) bounds every request; it applies to the HTTP client built here. A caller
    that passes its own `http_client` (tests, shared pools) sets the timeout on that client.
    """

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
        if self._owns_http:
            self._http.close()

    # --- plumbing ------------------------------------------------------------
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

    def _execute(self, what: str, query: Any, *, every_error_unavailable: bool = False) -> Any:
        try:
            return query.execute().data
        except httpx.HTTPError as exc:  # connect, read, timeout, protocol, ...
            raise self._unavailable(what, exc) from exc
        except APIError as exc:
            if every_error_unavailable or _is_unavailable(exc):
                raise self._unavailable(what, exc) from exc
            raise

    def _rpc(self, function: str, params: dict[str, Any]) -> Any:
        return self._execute(function, self._rest.rpc(function, params))

    def _unexpected(self, what: str, data: Any) -> StoreUnavailable:
        return self._error(f"Supabase {what}: unexpected answer of type {type(data).__name__}")

    def _row(self, what: str, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise self._unexpected(what, data)
        return data

    def _flag(self, what: str, data: Any) -> bool:
        if not isinstance(data, bool):
            raise self._unexpected(what, data)
        return data

    def _parse(self, what: str, parse: Any, row: dict[str, Any]) -> Any:
        try:
            return parse(row)
        except (KeyError, TypeError, ValueError) as exc:
            raise self._error(f"Supabase {what}: unreadable row ({type(exc).__name__}: {str(exc)[:300]})") from exc

    def _select_one(self, table: str, columns: str, column: str, value: str) -> dict[str, Any] | None:
        data = self._execute(f"select from {table}", self._rest.table(table).select(columns).eq(column, value))
        if not isinstance(data, list):
            raise self._unexpected(f"select from {table}", data)
        return self._row(f"select from {table}", data[0]) if data else None

    # --- Store ---------------------------------------------------------------
    def ping(self) -> None:
        """`GET /rest/v1/stripe_webhook_events?select=id&limit=1`: proves PostgREST, the database,
        the table and our key all answer, and reads at most one row."""
        query = self._rest.table(EVENT_TABLE).select("id").limit(1)
        data = self._execute("ping", query, every_error_unavailable=True)
        if not isinstance(data, list):
            raise self._unexpected("ping", data)

    def get_customer_mapping(self, clerk_user_id: str) -> CustomerMapping | None:
        row = self._select_one(CUSTOMER_TABLE, CUSTOMER_COLUMNS, "clerk_user_id", clerk_user_id)
        return None if row is None else self._parse("mapping", _mapping, row)

    def claim_customer(self, clerk_user_id, token, lease_seconds, stale_customer_id=None) -> CustomerClaim:
        params = {
            "p_clerk_user_id": clerk_user_id,
            "p_token": token,
            "p_lease_seconds": float(lease_seconds),
            "p_stale_customer_id": stale_customer_id,
        }
        row = self._row("tatame_claim_customer", self._rpc("tatame_claim_customer", params))
        mapping = self._parse("tatame_claim_customer", _mapping, row)
        return CustomerClaim(mapping, owned=row.get("owned") is True)

    def complete_customer(self, clerk_user_id, token, stripe_customer_id) -> bool:
        params = {"p_clerk_user_id": clerk_user_id, "p_token": token, "p_stripe_customer_id": stripe_customer_id}
        return self._flag("tatame_complete_customer", self._rpc("tatame_complete_customer", params))

    def release_customer_claim(self, clerk_user_id, token) -> None:
        self._rpc("tatame_release_customer_claim", {"p_clerk_user_id": clerk_user_id, "p_token": token})

    def delete_customer_mapping(self, stripe_customer_id) -> int:
        query = self._rest.table(CUSTOMER_TABLE).delete().eq("stripe_customer_id", stripe_customer_id)
        data = self._execute(f"delete from {CUSTOMER_TABLE}", query)
        if not isinstance(data, list):
            raise self._unexpected(f"delete from {CUSTOMER_TABLE}", data)
        return len(data)

    def claim_event(self, event_id, event_type, token, lease_seconds) -> EventClaim:
        params = {
            "p_event_id": event_id,
            "p_event_type": event_type,
            "p_token": token,
            "p_lease_seconds": float(lease_seconds),
        }
        row = self._row("tatame_claim_event", self._rpc("tatame_claim_event", params))
        event = self._parse("tatame_claim_event", _event, row)
        outcome = self._parse("tatame_claim_event", lambda r: ClaimOutcome(r["outcome"]), row)
        return EventClaim(outcome, event)

    def mark_event_processed(self, event_id, token) -> bool:
        params = {"p_event_id": event_id, "p_token": token}
        return self._flag("tatame_mark_event_processed", self._rpc("tatame_mark_event_processed", params))

    def mark_event_failed(self, event_id, token, error) -> bool:
        # PostgreSQL text cannot hold NUL characters.
        error = error[:MAX_ERROR_LENGTH].replace("\x00", "\ufffd")
        params = {"p_event_id": event_id, "p_token": token, "p_error": error}
        return self._flag("tatame_mark_event_failed", self._rpc("tatame_mark_event_failed", params))

    def get_event(self, event_id) -> WebhookEvent | None:
        row = self._select_one(EVENT_TABLE, EVENT_COLUMNS, "stripe_event_id", event_id)
        return None if row is None else self._parse("event", _event, row)
