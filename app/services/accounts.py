"""Accounts kept true with Clerk: identity written to the Stripe customer, and a person's erasure.

Clerk is authoritative for who a member is. A user.updated writes the primary email (when verified)
and the full name to the user's Stripe customer, overwriting what is there; the store keeps the
`updated_at` of the last change applied per user, compared in the database, so an older delivery
never overwrites a newer one. A user.deleted (or `flask accounts forget`) erases the person: their
live subscriptions end at once (REFUND_PARAMS: the ACCOUNT_DELETION_REFUND policy), their Stripe
customers are deleted (Stripe keeps its own legal records), then every row of ours about them goes.
Stripe first, then the rows: an erasure cut short anywhere is finished by running it again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from app.gateways.base import BillingGateway
from app.services.errors import CustomerInProgress, NotFound, UpstreamError
from app.services.subscriptions import ENDED, SubscriptionSync
from app.stores.base import Store

log = logging.getLogger(__name__)

# How a deleted member's live subscriptions are canceled, by ACCOUNT_DELETION_REFUND.
REFUND_PARAMS = {
    "none": {"prorate": False, "invoice_now": False},
    # Stripe's proration: a final invoice credits the unused time of the period (docs/accounts.md).
    "prorate": {"prorate": True, "invoice_now": True},
}


@dataclass(frozen=True)
class Erasure:
    """What forgetting a user did."""

    customers_deleted: int
    subscriptions_canceled: int
    rows_removed: int


def identity(user: dict) -> dict:
    """The Stripe customer fields a Clerk user decides: the full name, and the primary email when verified."""
    name = " ".join(part.strip() for part in (user.get("first_name"), user.get("last_name")) if part and part.strip())
    fields = {"name": name}
    primary = user.get("primary_email_address_id")
    for address in user.get("email_addresses") or []:
        if address.get("id") == primary and (address.get("verification") or {}).get("status") == "verified":
            fields["email"] = address["email_address"]
    return fields


class AccountService:
    """Clerk's user events applied to Stripe and the store."""

    def __init__(self, store: Store, gateway: BillingGateway, subscriptions: SubscriptionSync, *,
                 refund: str = "none"):
        if refund not in REFUND_PARAMS:
            raise ValueError(f"unknown refund policy {refund!r}")
        self.store, self.gateway, self.subscriptions, self.refund = store, gateway, subscriptions, refund

    def sync_identity(self, user: dict) -> str:
        """Write the Clerk user's identity to their Stripe customer; what happened: "updated", "older" (a later
        change is applied already), "no_customer" or "customer_gone". CustomerInProgress while one is being made."""
        mapping = self.store.get_customer_mapping(user["id"])
        if mapping is None:
            return "no_customer"
        if not mapping.is_active:
            raise CustomerInProgress()  # 409: Svix delivers it again, once the creation is done
        if not self.store.advance_clerk_user(user["id"], user["updated_at"]):
            return "older"
        try:
            self.gateway.update_customer(mapping.stripe_customer_id, identity(user))
        except NotFound:
            return "customer_gone"  # deleted at Stripe: customer.deleted removes the mapping
        return "updated"

    def forget(self, clerk_user_id: str) -> Erasure:
        """Erase the user: live subscriptions canceled, Stripe customers deleted, every row of ours removed."""
        customers = self._customers_of(clerk_user_id)
        canceled = deleted = 0
        for customer_id in sorted(customers):
            if self.gateway.get_customer(customer_id) is None:
                continue  # gone already (an earlier attempt, the dashboard): Stripe ended its subscriptions
            canceled += self._end_subscriptions(customer_id)
            deleted += self.gateway.delete_customer(customer_id)
        removed = self.store.forget_user(clerk_user_id, tuple(customers))
        self.subscriptions.forgotten()
        log.info("user erased", extra={"clerk_user_id": clerk_user_id, "customers_deleted": deleted,
                                       "subscriptions_canceled": canceled, "rows_removed": removed})
        return Erasure(deleted, canceled, removed)

    def _customers_of(self, clerk_user_id: str) -> set[str]:
        """The user's Stripe customers: the mapping's, their subscriptions', and any Stripe's search names."""
        customers = {record.stripe_customer_id for record in self.store.list_subscriptions(clerk_user_id)}
        mapping = self.store.get_customer_mapping(clerk_user_id)
        if mapping is not None and mapping.stripe_customer_id:
            customers.add(mapping.stripe_customer_id)
        found = self.gateway.find_customer(clerk_user_id)
        if found is not None:
            customers.add(found["id"])
        return customers

    def _end_subscriptions(self, customer_id: str) -> int:
        """Cancel the customer's subscriptions that have not ended, by the refund policy; how many."""
        listing = self.gateway.list_subscriptions({"customer": customer_id, "limit": 100})
        canceled = 0
        for subscription in listing.get("data", []):
            if subscription.get("status") in ENDED:
                continue
            try:
                self.gateway.cancel_subscription(subscription["id"], {
                    **REFUND_PARAMS[self.refund], "cancellation_details": {"comment": "account deleted"}})
                canceled += 1
            except (NotFound, UpstreamError):
                current = self.gateway.get_subscription(subscription["id"])
                if current is not None and current.get("status") not in ENDED:
                    raise  # not ended by someone else in the meantime: fail, and be retried
        return canceled
