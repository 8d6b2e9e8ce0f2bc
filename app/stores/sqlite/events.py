"""Webhook events on SQLite: each Stripe event claimed, processed once, retried after failure."""

from __future__ import annotations

import sqlite3

from ..base import MAX_ERROR_LENGTH, ClaimOutcome, EventClaim, WebhookEvent
from .claims import ClaimTable, Claims, Keep, Lease, Take
from .database import parse

# Migration 1's statements for this table. Released: change the table by appending a migration.
CREATE = (
    """CREATE TABLE IF NOT EXISTS stripe_webhook_events (
    id               TEXT PRIMARY KEY,
    stripe_event_id  TEXT NOT NULL UNIQUE,
    event_type       TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('processing', 'processed', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT,
    claim_token      TEXT,
    lease_expires_at TEXT,
    processed_at     TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
)""",
    "CREATE INDEX IF NOT EXISTS idx_stripe_webhook_events_event_type ON stripe_webhook_events (event_type)",
    "CREATE INDEX IF NOT EXISTS idx_stripe_webhook_events_status ON stripe_webhook_events (status)",
)

# Migration 3: every event costs two writes (the claim, then the outcome), and each index is one more
# B-tree page per write, inside the one-writer-at-a-time section that caps webhook throughput. Nothing here reads by type or status; Postgres keeps them for operators' queries.
DROP_UNREAD_INDEXES = (
    "DROP INDEX IF EXISTS idx_stripe_webhook_events_event_type",
    "DROP INDEX IF EXISTS idx_stripe_webhook_events_status",
)

EVENTS = ClaimTable(
    name="stripe_webhook_events",
    key=("stripe_event_id",),
    columns="stripe_event_id, event_type, status, attempts, last_error, claim_token, lease_expires_at,"
            " processed_at, created_at, updated_at",
    claimed_status="processing",
)


def _event(row: sqlite3.Row | None) -> WebhookEvent | None:
    if row is None:
        return None
    return WebhookEvent(
        stripe_event_id=row["stripe_event_id"],
        event_type=row["event_type"],
        status=row["status"],
        attempts=row["attempts"],
        last_error=row["last_error"],
        claim_token=row["claim_token"],
        lease_expires_at=parse(row["lease_expires_at"]),
        processed_at=parse(row["processed_at"]),
        created_at=parse(row["created_at"]),
        updated_at=parse(row["updated_at"]),
    )


def _judge(row: sqlite3.Row, lease: Lease) -> Take | Keep:
    if row["status"] == "processed":
        return Keep(ClaimOutcome.PROCESSED)
    if row["status"] == "processing" and not lease.is_free(row["lease_expires_at"]):
        return Keep(ClaimOutcome.IN_PROGRESS)
    return Take(ClaimOutcome.CLAIMED, "status = 'processing', attempts = attempts + 1")  # failed, or abandoned


class WebhookEvents(Claims):
    """The Store's webhook event methods."""

    def get_event(self, event_id) -> WebhookEvent | None:
        """The event's row, or None."""
        return _event(self._read(EVENTS, {"stripe_event_id": event_id}))

    def claim_event(self, event_id, event_type, token, lease_seconds) -> EventClaim:
        """Claim an event for processing (see Store.claim_event)."""
        row, outcome = self._claim(
            EVENTS, {"stripe_event_id": event_id}, {"event_type": event_type, "status": "processing", "attempts": 1},
            token, lease_seconds, _judge, inserted=ClaimOutcome.CLAIMED,
        )
        return EventClaim(outcome, _event(row))

    def mark_event_processed(self, event_id, token) -> bool:
        """Record success if `token` still owns the claim."""
        return self._finish(EVENTS, {"stripe_event_id": event_id}, token,
                            "status = 'processed', processed_at = :now, last_error = NULL")

    def mark_event_failed(self, event_id, token, error) -> bool:
        """Record failure (last_error) and free the claim for a retry, if `token` still owns it."""
        return self._finish(EVENTS, {"stripe_event_id": event_id}, token,
                            "status = 'failed', last_error = :error", {"error": error[:MAX_ERROR_LENGTH]})
