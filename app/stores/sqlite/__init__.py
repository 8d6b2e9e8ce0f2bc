"""The embedded store: SQLite in WAL mode, safe across gunicorn workers and threads.

One module per aggregate (customers, events, subscriptions, purchases, payments), built on the shared
claim machinery (claims.py) and plumbing (database.py). A new aggregate is a new module, one
more base class below, and one more migration appended to MIGRATIONS.
"""

from __future__ import annotations

from . import accounts, customers, events, features, outbox, payments, purchases, subscriptions
from .database import Migration

# The schema's history, oldest first; a file's `PRAGMA user_version` counts the steps it has had.
# Migration 1 is the schema from before versions were kept, all IF NOT EXISTS, so a file made
# then (tables present, user_version 0) passes through it unharmed.
MIGRATIONS = (
    Migration(1, "customer mappings and webhook events", customers.CREATE + events.CREATE),
    Migration(2, "subscriptions, the stamp counter, purchase claims", subscriptions.CREATE + purchases.CREATE),
    Migration(3, "webhook events without the indexes nothing reads", events.DROP_UNREAD_INDEXES),
    Migration(4, "payment history: invoices and one-time payments", payments.CREATE),
    Migration(5, "the last Clerk change applied per user", accounts.CREATE),
    Migration(6, "features: each Stripe customer's active entitlements", features.CREATE),
    Migration(7, "the Clerk outbox: each user's billing state to publish", outbox.CREATE),
)


class SQLiteStore(customers.CustomerMappings, events.WebhookEvents, subscriptions.Subscriptions,
                  purchases.PurchaseClaims, payments.Payments, accounts.Accounts, features.Features, outbox.Outbox):
    """The Store interface on a local SQLite file."""

    MIGRATIONS = MIGRATIONS


__all__ = ["SQLiteStore", "MIGRATIONS"]
