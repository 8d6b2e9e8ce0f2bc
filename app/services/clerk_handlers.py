"""Which Clerk events we handle, and how: one small function per event type (Clerk sends them through Svix).

`CLERK_HANDLERS` is the one place that answers "which Clerk events do we handle?". A handler gets
the event (a plain dict, its shape checked by app/services/clerk_webhooks.py, its `id` the delivery's
`clerk:<svix-id>`) and the AccountService;
it raises to have the delivery recorded as failed and retried by Svix.
"""

from __future__ import annotations

import logging
from typing import Callable

from app.services.accounts import AccountService

log = logging.getLogger("app.webhooks")

ClerkHandler = Callable[[dict, AccountService], None]
CLERK_HANDLERS: dict[str, ClerkHandler] = {}


def handles(*event_types: str) -> Callable[[ClerkHandler], ClerkHandler]:
    def register(handler: ClerkHandler) -> ClerkHandler:
        for event_type in event_types:
            if event_type in CLERK_HANDLERS:
                raise ValueError(f"two handlers for {event_type}")
            CLERK_HANDLERS[event_type] = handler
        return handler

    return register


def _seen(event: dict, **fields) -> None:
    """The structured line every handled event leaves behind (`event_id` is clerk:<svix-id>)."""
    log.info("clerk event handled", extra={"event_id": event["id"], "event_type": event["type"],
                                           "clerk_user_id": event["data"]["id"], **fields})


@handles("user.created", "user.updated")
def user_changed(event: dict, accounts: AccountService) -> None:
    """Clerk is authoritative for identity: the primary verified email and the full name go to the Stripe customer
    (a user.created finds one only when the app made it first)."""
    _seen(event, outcome=accounts.sync_identity(event["data"]))


@handles("user.deleted")
def user_deleted(event: dict, accounts: AccountService) -> None:
    """The person's data leaves us: subscriptions ended, Stripe customer deleted, our rows removed."""
    erasure = accounts.forget(event["data"]["id"])
    _seen(event, customers_deleted=erasure.customers_deleted, rows_removed=erasure.rows_removed)
