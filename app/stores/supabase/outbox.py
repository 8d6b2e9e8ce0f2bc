"""The Clerk outbox on Supabase: reads over PostgREST, every write through a tatame_* function (one statement each)."""

from __future__ import annotations

from typing import Any

from ..base import OutboxEntry
from .client import SupabaseClient

OUTBOX_TABLE = "stripe_clerk_outbox"
OUTBOX_COLUMNS = ("clerk_user_id,state,stamp,changed_at,attempts,next_attempt_at,sent_stamp,sent_at,last_error,"
                  "lease_token,lease_until")


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def _entry(row: dict[str, Any]) -> OutboxEntry:
    if not isinstance(row["state"], dict):
        raise TypeError("state is not an object")
    return OutboxEntry(clerk_user_id=row["clerk_user_id"], state=row["state"], stamp=int(row["stamp"]),
                       changed_at=float(row["changed_at"]), attempts=int(row["attempts"]),
                       next_attempt_at=float(row["next_attempt_at"]),
                       sent_stamp=None if row["sent_stamp"] is None else int(row["sent_stamp"]),
                       sent_at=_number(row["sent_at"]), last_error=row["last_error"], lease_token=row["lease_token"],
                       lease_until=_number(row["lease_until"]))


class Outbox(SupabaseClient):
    """The Store's outbox methods."""

    def save_outbox(self, clerk_user_id: str, state: dict, stamp: int, changed_at: float) -> bool:
        """Stage the state unless a greater stamp is staged (see Store.save_outbox)."""
        return self._call_flag("tatame_save_outbox", {"p_clerk_user_id": clerk_user_id, "p_state": state,
                                                      "p_stamp": stamp, "p_changed_at": changed_at})

    def claim_outbox(self, now: float, token: str, lease_seconds: float, limit: int,
                     waiting_too: bool = False) -> list[OutboxEntry]:
        """Lease the due rows, smallest stamp first (see Store.claim_outbox)."""
        data = self._rpc("tatame_claim_outbox", {"p_now": now, "p_token": token, "p_lease_seconds": lease_seconds,
                                                 "p_limit": limit, "p_waiting_too": waiting_too})
        if not isinstance(data, list):
            raise self._unexpected("tatame_claim_outbox", data)
        rows = [self._parse("outbox", _entry, self._row("tatame_claim_outbox", row)) for row in data]
        return sorted(rows, key=lambda entry: entry.stamp)

    def mark_outbox_sent(self, clerk_user_id: str, token: str, stamp: int, now: float) -> bool:
        """Record the state of `stamp` as accepted and free the lease, if ours (see Store.mark_outbox_sent)."""
        return self._call_flag("tatame_mark_outbox_sent", {"p_clerk_user_id": clerk_user_id, "p_token": token,
                                                           "p_stamp": stamp, "p_now": now})

    def mark_outbox_failed(self, clerk_user_id: str, token: str, error: str, next_attempt_at: float) -> bool:
        """Count the failure, wait until `next_attempt_at`, free the lease, if ours (see Store.mark_outbox_failed)."""
        return self._call_flag("tatame_mark_outbox_failed", {"p_clerk_user_id": clerk_user_id, "p_token": token,
                                                             "p_error": error, "p_next_attempt_at": next_attempt_at})

    def get_outbox(self, clerk_user_id: str) -> OutboxEntry | None:
        """The user's outbox row, or None."""
        row = self._select_one(OUTBOX_TABLE, OUTBOX_COLUMNS, "clerk_user_id", clerk_user_id)
        return None if row is None else self._parse("outbox", _entry, row)

    def count_outbox_pending(self) -> int:
        """How many users have a state Clerk has not accepted yet."""
        return self._call_int("tatame_count_outbox_pending", {})
