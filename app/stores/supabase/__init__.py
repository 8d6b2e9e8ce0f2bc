"""The production store: Supabase (PostgreSQL behind PostgREST), through supabase-py.

One module per aggregate (customers, events, subscriptions, purchases, payments) on the shared plumbing
(client.py); the SQL they call lives in migrations.sql. A new aggregate is a new module and one
more base class below.
"""

from __future__ import annotations

from .accounts import Accounts
from .client import SupabaseClient
from .customers import CUSTOMER_COLUMNS, CUSTOMER_TABLE, CustomerMappings
from .events import EVENT_COLUMNS, EVENT_TABLE, WebhookEvents
from .features import FEATURES_COLUMNS, FEATURES_TABLE, Features
from .outbox import OUTBOX_COLUMNS, OUTBOX_TABLE, Outbox
from .payments import PAYMENT_COLUMNS, PAYMENT_TABLE, Payments
from .purchases import PURCHASE_COLUMNS, PURCHASE_TABLE, PurchaseClaims
from .subscriptions import SUBSCRIPTION_COLUMNS, SUBSCRIPTION_TABLE, Subscriptions


class SupabaseStore(CustomerMappings, WebhookEvents, Subscriptions, PurchaseClaims, Payments, Accounts, Features,
                    Outbox):
    """The Store interface on Supabase, with the service role key."""


__all__ = [
    "SupabaseStore", "SupabaseClient", "CUSTOMER_COLUMNS", "CUSTOMER_TABLE", "EVENT_COLUMNS", "EVENT_TABLE",
    "FEATURES_COLUMNS", "FEATURES_TABLE", "OUTBOX_COLUMNS", "OUTBOX_TABLE", "PAYMENT_COLUMNS", "PAYMENT_TABLE",
    "PURCHASE_COLUMNS", "PURCHASE_TABLE", "SUBSCRIPTION_COLUMNS", "SUBSCRIPTION_TABLE",
]
