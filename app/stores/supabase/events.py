"""Webhook events on Supabase: reads over PostgREST, claims through the tatame_*_event functions."""

from __future__ import annotations

from typing import Any

from ..base import MAX_ERROR_LENGTH, ClaimOutcome, EventClaim, WebhookEvent
from .client import SupabaseClient, timestamp

EVENT_TABLE = "stripe_webhook_events"
EVENT_COLUMNS = (
    "stripe_event_id,event_type,status,attempts,last_error,claim_token,lease_expires_at,"
    "processed_at,created_at,updated_at"
)


def _event(row: dict[str, Any]) -> WebhookEvent:
    return WebhookEvent(
        stripe_event_id=row["stripe_event_id"],
        event_type=row["event_type"],
        status=row["status"],
        attempts=int(row["attempts"]),
        last_error=row["last_error"],
        claim_token=row["claim_token"],
        lease_expires_at=timestamp(row["lease_expires_at"]),
        processed_at=timestamp(row["processed_at"]),
        created_at=timestamp(row.get("created_at")),
        updated_at=timestamp(row.get("updated_at")),
    )


def _claim(row: dict[str, Any]) -> EventClaim:
    return EventClaim(ClaimOutcome(row["outcome"]), _event(row))


class WebhookEvents(SupabaseClient):
    """The Store's webhook event methods."""

    def get_event(self, event_id) -> WebhookEvent | None:
        """The event's row, or None."""
        row = self._select_one(EVENT_TABLE, EVENT_COLUMNS, "stripe_event_id", event_id)
        return None if row is None else self._parse("event", _event, row)

    def claim_event(self, event_id, event_type, token, lease_seconds) -> EventClaim:
        """Claim an event for processing (see Store.claim_event)."""
        params = {
            "p_event_id": event_id,
            "p_event_type": event_type,
            "p_token": token,
            "p_lease_seconds": float(lease_seconds),
        }
        return self._claim("tatame_claim_event", params, _claim)

    def mark_event_processed(self, event_id, token) -> bool:
        """Record success if `token` still owns the claim."""
        return self._call_flag("tatame_mark_event_processed", {"p_event_id": event_id, "p_token": token})

    def mark_event_failed(self, event_id, token, error) -> bool:
        """Record failure (last_error) and free the claim for a retry, if `token` still owns it."""
        error = error[:MAX_ERROR_LENGTH].replace("\x00", "\ufffd")  # PostgreSQL text cannot hold NUL
        return self._call_flag("tatame_mark_event_failed", {"p_event_id": event_id, "p_token": token, "p_error": error})
