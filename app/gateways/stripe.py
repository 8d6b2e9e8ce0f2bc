"""The billing gateway: the few Stripe calls we make, through the official StripeClient.

Stripe's errors become domain errors here, so services and views never see the SDK's
exception types: an unknown object is NotFound, everything else UpstreamError with a
safe message (the SDK's message is logged, never sent to clients).
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Iterator

import stripe

from app.services.errors import IdempotencyConflict, NotFound, UpstreamError, ValidationFailed

log = logging.getLogger(__name__)


def build_stripe_client(
    api_key: str, *, api_version: str, timeout: float, max_retries: int, api_base: str | None = None,
    http_client: stripe.HTTPClient | None = None,
) -> stripe.StripeClient:
    """A StripeClient with a pinned API version, bounded timeouts and a few network retries."""
    return stripe.StripeClient(
        api_key,
        stripe_version=api_version,
        max_network_retries=max_retries,
        base_addresses={"api": api_base} if api_base else None,
        # requests keeps one pooled session per thread: connections to Stripe are reused.
        http_client=http_client or stripe.RequestsClient(timeout=timeout),
    )


@contextmanager
def _stripe_errors(what: str) -> Iterator[None]:
    try:
        yield
    except stripe.IdempotencyError:
        # The key was used with other parameters, or is in use right now: the first request's change stands.
        raise IdempotencyConflict() from None
    except stripe.InvalidRequestError as exc:
        if exc.code == "resource_missing" and exc.param == "starting_after":
            raise ValidationFailed(details={"starting_after": ["No such object."]}) from None
        if exc.code == "resource_missing" or exc.http_status == 404:
            raise NotFound(f"No such {what}.") from None
        log.error("Stripe rejected a request for %s: %s (%s)", what, exc.code, exc.user_message)
        raise UpstreamError("The payment service rejected the request.") from None
    except stripe.StripeError as exc:
        log.error("Stripe call for %s failed: %s status=%s code=%s", what, type(exc).__name__,
                  exc.http_status, exc.code)
        raise UpstreamError() from None


class StripeGateway:
    """Products, prices, customers and billing on a real Stripe account (or anything speaking its API)."""

    name = "stripe"

    def __init__(self, client: stripe.StripeClient):
        self.client = client

    def list_products(self, params: dict) -> dict:
        with _stripe_errors("product"):
            return self.client.v1.products.list(params={**params, "expand": ["data.default_price"]}).to_dict()

    def get_product(self, product_id: str) -> dict:
        with _stripe_errors("product"):
            return self.client.v1.products.retrieve(product_id, params={"expand": ["default_price"]}).to_dict()

    def list_prices(self, params: dict) -> dict:
        with _stripe_errors("price"):
            return self.client.v1.prices.list(params={**params, "expand": ["data.product"]}).to_dict()

    def get_price(self, price_id: str) -> dict:
        with _stripe_errors("price"):
            return self.client.v1.prices.retrieve(price_id, params={"expand": ["product"]}).to_dict()

    def create_customer(self, params: dict, idempotency_key: str) -> dict:
        with _stripe_errors("customer"):
            return self.client.v1.customers.create(
                params=params, options={"idempotency_key": idempotency_key}
            ).to_dict()

    def update_customer(self, customer_id: str, params: dict, idempotency_key: str | None = None) -> dict:
        options = {"idempotency_key": idempotency_key} if idempotency_key else None
        with _stripe_errors("customer"):
            return self.client.v1.customers.update(customer_id, params=params, options=options).to_dict()

    def find_customer(self, clerk_user_id: str) -> dict | None:
        """The oldest customer whose metadata names this Clerk user (Stripe's search: metadata, never email).

        Search is eventually consistent: callers confirm what it returns with get_customer."""
        quoted = clerk_user_id.replace("\\", "\\\\").replace("'", "\\'")
        with _stripe_errors("customer"):
            found = self.client.v1.customers.search(
                params={"query": f"metadata['clerk_user_id']:'{quoted}'", "limit": 10}
            ).to_dict()
        live = [c for c in found.get("data", []) if not c.get("deleted")]
        return min(live, key=lambda c: c.get("created", 0)) if live else None

    def get_customer(self, customer_id: str) -> dict | None:
        """The customer, or None when Stripe no longer has it (deleted or unknown)."""
        try:
            with _stripe_errors("customer"):
                customer = self.client.v1.customers.retrieve(customer_id).to_dict()
        except NotFound:
            return None
        return None if customer.get("deleted") else customer

    def delete_customer(self, customer_id: str) -> bool:
        """Delete the customer (Stripe cancels their live subscriptions at once and keeps its own records);
        False when Stripe no longer has it, so a repeated erasure goes on."""
        try:
            with _stripe_errors("customer"):
                self.client.v1.customers.delete(customer_id)
        except NotFound:
            return False
        return True

    def create_checkout_session(self, params: dict, idempotency_key: str) -> dict:
        with _stripe_errors("checkout session"):
            return self.client.v1.checkout.sessions.create(
                params=params, options={"idempotency_key": idempotency_key}
            ).to_dict()

    def get_checkout_session(self, session_id: str) -> dict:
        with _stripe_errors("checkout session"):
            return self.client.v1.checkout.sessions.retrieve(session_id).to_dict()


    def expire_checkout_session(self, session_id: str) -> dict:
        """Close an open session so it can no longer be paid (Stripe refuses one that is not open)."""
        with _stripe_errors("checkout session"):
            return self.client.v1.checkout.sessions.expire(session_id).to_dict()

    def list_checkout_sessions(self, params: dict) -> dict:
        """Sessions newest first: `customer`, `status` ("open", ...), `limit`, `starting_after`."""
        with _stripe_errors("checkout session"):
            return self.client.v1.checkout.sessions.list(params=params).to_dict()

    def create_portal_session(self, params: dict) -> dict:
        with _stripe_errors("portal session"):
            return self.client.v1.billing_portal.sessions.create(params=params).to_dict()

    def create_customer_session(self, params: dict) -> dict:
        with _stripe_errors("customer session"):
            return self.client.v1.customer_sessions.create(params=params).to_dict()

    def create_subscription(self, params: dict, idempotency_key: str) -> dict:
        with _stripe_errors("subscription"):
            return self.client.v1.subscriptions.create(
                params=params, options={"idempotency_key": idempotency_key}
            ).to_dict()

    def get_subscription(self, subscription_id: str, expand: list[str] | None = None) -> dict | None:
        """The subscription (canceled ones too: Stripe keeps them), or None when Stripe does not know it."""
        try:
            with _stripe_errors("subscription"):
                params = {"expand": expand} if expand else None
                return self.client.v1.subscriptions.retrieve(subscription_id, params=params).to_dict()
        except NotFound:
            return None

    def update_subscription(self, subscription_id: str, params: dict) -> dict:
        with _stripe_errors("subscription"):
            return self.client.v1.subscriptions.update(subscription_id, params=params).to_dict()

    def cancel_subscription(self, subscription_id: str, params: dict | None = None) -> dict:
        """Cancel at once (an unpaid subscription of ours that must not be paid any more)."""
        with _stripe_errors("subscription"):
            return self.client.v1.subscriptions.cancel(subscription_id, params=params).to_dict()

    def void_invoice(self, invoice_id: str) -> dict:
        """Void an open invoice so it can no longer be paid (Stripe refuses a paid one)."""
        with _stripe_errors("invoice"):
            return self.client.v1.invoices.void_invoice(invoice_id).to_dict()

    def list_subscriptions(self, params: dict) -> dict:
        with _stripe_errors("subscription"):
            return self.client.v1.subscriptions.list(params=params).to_dict()

    def create_payment_intent(self, params: dict, idempotency_key: str) -> dict:
        with _stripe_errors("payment intent"):
            return self.client.v1.payment_intents.create(
                params=params, options={"idempotency_key": idempotency_key}
            ).to_dict()

    def list_events(self, params: dict) -> dict:
        """Stripe's events, newest first: `types`, `created` ({"gte": ...}), `limit`, `starting_after`."""
        with _stripe_errors("event"):
            return self.client.v1.events.list(params=params).to_dict()

    def list_active_entitlements(self, customer_id: str) -> list[dict]:
        """Every active entitlement of the customer (`entitlements.active_entitlement`: id, feature, lookup_key);
        a customer Stripe no longer has is entitled to nothing."""
        params: dict = {"customer": customer_id, "limit": 100}
        found: list[dict] = []
        try:
            with _stripe_errors("customer"):
                while True:
                    listing = self.client.v1.entitlements.active_entitlements.list(params=params).to_dict()
                    found.extend(listing.get("data", []))
                    if not listing.get("has_more") or not listing.get("data"):
                        return found
                    params = {**params, "starting_after": listing["data"][-1]["id"]}
        except NotFound:
            return []

    # --- payment history ---------------------------------------------------------------------
    def get_invoice(self, invoice_id: str) -> dict | None:
        """The invoice (its first lines included), or None when Stripe does not know it."""
        try:
            with _stripe_errors("invoice"):
                return self.client.v1.invoices.retrieve(invoice_id).to_dict()
        except NotFound:
            return None

    def list_invoices(self, params: dict) -> dict:
        """Invoices newest first: `customer`, `subscription`, `status`, `limit`, `starting_after`."""
        with _stripe_errors("invoice"):
            return self.client.v1.invoices.list(params=params).to_dict()

    def get_payment_intent(self, intent_id: str) -> dict | None:
        """The PaymentIntent with `latest_charge` expanded (its receipt), or None when Stripe does not know it."""
        try:
            with _stripe_errors("payment intent"):
                return self.client.v1.payment_intents.retrieve(
                    intent_id, params={"expand": ["latest_charge"]}).to_dict()
        except NotFound:
            return None

    def list_payment_intents(self, params: dict) -> dict:
        """PaymentIntents newest first, each with `latest_charge` expanded: `customer`, `limit`, `starting_after`."""
        with _stripe_errors("payment intent"):
            return self.client.v1.payment_intents.list(
                params={**params, "expand": ["data.latest_charge"]}).to_dict()
