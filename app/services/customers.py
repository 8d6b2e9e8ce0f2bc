"""One Clerk user, one Stripe customer: get-or-create, safe under concurrency.

The database settles who creates: `Store.claim_customer` lets exactly one request
own the creation (a pending row with a lease). The Stripe call carries an
idempotency key derived from the user id and the mapping's generation, so a worker
that takes over an abandoned claim gets the same customer back instead of a second
one. Everyone else waits for the owner to finish and then reads the mapping.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid

from app.gateways.base import BillingGateway
from app.metrics import CREATED
from app.services.errors import CustomerInProgress, IdempotencyConflict, UpstreamError
from app.stores.base import CustomerMapping, Store

log = logging.getLogger(__name__)


def idempotency_key(mapping: CustomerMapping) -> str:
    """The same for every attempt at one creation, different for every new one.

    A takeover of an abandoned claim keeps the row (same id, same generation) and so gets
    the customer the crashed worker may have made; a replacement bumps the generation; a
    mapping removed by customer.deleted and made again has a new row id.
    """
    if not mapping.id:
        raise ValueError("a customer mapping without a row id cannot name a creation")
    text = f"{mapping.clerk_user_id}\x00{mapping.id}\x00{mapping.generation}"
    return f"tatame-customer-{hashlib.sha256(text.encode()).hexdigest()}"


class CustomerService:
    """Gives each Clerk user exactly one Stripe customer."""

    def __init__(
        self,
        store: Store,
        gateway: BillingGateway,
        *,
        lease_seconds: float = 30.0,
        wait_seconds: float = 10.0,
        poll_seconds: float = 0.05,
    ):
        self.store, self.gateway = store, gateway
        self.lease_seconds, self.wait_seconds, self.poll_seconds = lease_seconds, wait_seconds, poll_seconds

    def get_or_create(self, clerk_user_id: str, *, email: str | None = None, name: str | None = None):
        """Return (customer, created): the user's Stripe customer, creating it the first time.

        `email` and `name` fill in a customer that has none; they never replace what Stripe has.
        """
        customer, created = self._get_or_create(clerk_user_id)
        for field, value in (("email", email), ("name", name)):
            if value and not customer.get(field):
                customer = self._fill_in(customer, field, value)
        return customer, created

    def _fill_in(self, customer: dict, field: str, value: str) -> dict:
        """Set a field Stripe has no value for, once: the first request to fill it wins, everywhere.

        The update carries an idempotency key named after the customer and the field, so of several
        requests that all saw the field empty (on any instance), Stripe applies only the first; the
        others are refused (another value under the same key) and read what stuck instead."""
        key = f"tatame-fill-{field}-{hashlib.sha256(customer['id'].encode()).hexdigest()}"
        try:
            return self.gateway.update_customer(customer["id"], {field: value}, idempotency_key=key)
        except IdempotencyConflict:
            return self.gateway.get_customer(customer["id"]) or customer

    def _get_or_create(self, clerk_user_id: str) -> tuple[dict, bool]:
        token = uuid.uuid4().hex
        deadline = time.monotonic() + self.wait_seconds
        while True:
            mapping = self.store.get_customer_mapping(clerk_user_id)
            if mapping is not None and mapping.is_active:
                customer = self.gateway.get_customer(mapping.stripe_customer_id)
                if customer is not None:
                    return customer, False
                log.warning("mapped Stripe customer %s is gone; replacing it", mapping.stripe_customer_id)
                claim = self.store.claim_customer(
                    clerk_user_id, token, self.lease_seconds, stale_customer_id=mapping.stripe_customer_id
                )
            else:
                claim = self.store.claim_customer(clerk_user_id, token, self.lease_seconds)
            if claim.owned:
                # A pending row seen before our claim was abandoned by a request that may have
                # created the customer already: look for it before creating one.
                takeover = mapping is not None and mapping.status == "pending"
                return self._create(claim.mapping, token, takeover)
            if not claim.mapping.is_active and time.monotonic() >= deadline:
                raise CustomerInProgress()
            if not claim.mapping.is_active:
                time.sleep(self.poll_seconds)

    def _find_live(self, clerk_user_id: str) -> dict | None:
        """A customer an abandoned attempt made, confirmed live; None when search cannot say.

        Search is a safety net for attempts older than Stripe's idempotency window, nothing more:
        when it fails the idempotent create still replays what a recent attempt made, and what it
        finds is confirmed by a retrieve, because its index may still list a deleted customer.
        """
        try:
            found = self.gateway.find_customer(clerk_user_id)
            return self.gateway.get_customer(found["id"]) if found else None
        except UpstreamError:
            log.warning("customer search failed; replaying the idempotent create instead")
            return None

    def _create(self, mapping: CustomerMapping, token: str, takeover: bool) -> tuple[dict, bool]:
        clerk_user_id = mapping.clerk_user_id
        try:
            customer = self._find_live(clerk_user_id) if takeover else None
            if customer is None:
                # The same parameters on every attempt: Stripe refuses an idempotency key reused
                # with others, and a takeover must be able to replay the first attempt exactly.
                customer = self.gateway.create_customer(
                    {"metadata": {"clerk_user_id": clerk_user_id}}, idempotency_key(mapping)
                )
        except BaseException:
            self.store.release_customer_claim(clerk_user_id, token)
            raise
        if self.store.complete_customer(clerk_user_id, token, customer["id"]):
            log.info("created Stripe customer %s for a user", customer["id"])
            CREATED.labels("customer").inc()
            return customer, True
        # Our lease ran out and another request took over; the idempotency key gave it this same customer.
        log.warning("customer claim lost before completion; %s was recorded by another request", customer["id"])
        return customer, False
