"""Taking money: web checkout, the mobile payment sheet, the portal, cancel and resume (BILLING.md).

The customer is always the caller's own (CustomerService); a body never names one. Purchases
are settled in the database like customers are: one open checkout session, and one incomplete
payment-sheet subscription, per user and price (`Store.claim_purchase`), created under a Stripe
idempotency key derived from the claim, so 20 parallel taps on several instances reach Stripe once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Callable

from app.gateways.base import BillingGateway, expandable_id
from app.metrics import CREATED
from app.services.catalog import CatalogService
from app.services.customers import CustomerService
from app.services.errors import NotFound, PurchaseInProgress, SubscriptionExists, UpstreamError, ValidationFailed
from app.services.redirects import RedirectPolicy
from app.services.subscriptions import LIVE, SubscriptionSync, public
from app.stores.base import PurchaseClaim, Store

log = logging.getLogger(__name__)
CHECKOUT, PAYMENT_SHEET = "checkout", "payment_sheet"
# Every recurring purchase of a user, by either path, shares one claim row: its result is the open checkout
# session (cs_...) or the incomplete payment-sheet subscription (sub_...). So two recurring purchases can
# never be prepared at once, for two prices or by two paths, and the one prepared is the one handed out.
RECURRING_CLAIM = (CHECKOUT, "recurring")
REUSE_MARGIN_SECONDS = 300      # an open session closer than this to expiring is not handed out again
DOUBLE_TAP_SECONDS = 60         # a one-time payment sheet asked again within this gets the same PaymentIntent
SUBSCRIPTION_EXPAND = ["latest_invoice.confirmation_secret", "pending_setup_intent"]


@dataclass(frozen=True)
class BillingSettings:
    success_url: str | None
    cancel_url: str | None
    return_url: str | None
    trial_days: int = 0
    publishable_key: str | None = None
    lease_seconds: float = 30.0
    wait_seconds: float = 10.0
    poll_seconds: float = 0.05


class BillingService:
    """What a signed-in member can do with money; every method takes the caller's Clerk user id."""

    def __init__(self, store: Store, gateway: BillingGateway, *, customers: CustomerService,
                 catalog: CatalogService, subscriptions: SubscriptionSync, redirects: RedirectPolicy,
                 settings: BillingSettings):
        self.store, self.gateway, self.customers, self.catalog = store, gateway, customers, catalog
        self.subscriptions, self.redirects, self.settings = subscriptions, redirects, settings

    # --- membership ----------------------------------------------------------------------------
    def membership(self, clerk_user_id: str) -> dict:
        """Answered from the database only: the apps ask on every launch."""
        current = self.subscriptions.current(clerk_user_id)
        return {"status": current.status if current else "none",
                "access": bool(current) and self.subscriptions.grants_access(current.status),
                "subscription": public(current)}

    # --- web checkout --------------------------------------------------------------------------
    def start_checkout(self, clerk_user_id: str, price_id: str, success_url: str | None = None,
                       cancel_url: str | None = None) -> tuple[dict, bool]:
        """An open Stripe Checkout session for the price: created, or the open one of a double tap."""
        price = self._purchasable(price_id)
        success = self.redirects.check("success_url", success_url or self.settings.success_url or "")
        cancel = self.redirects.check("cancel_url", cancel_url or self.settings.cancel_url or "")
        customer, _ = self.customers.get_or_create(clerk_user_id)
        recurring = price.get("type") == "recurring"

        def reuse(claim: PurchaseClaim) -> dict | None:
            if not (claim.result_id or "").startswith("cs_"):
                return None  # a payment-sheet subscription: create() refuses while it is live
            try:
                session = self.gateway.get_checkout_session(claim.result_id)
            except NotFound:
                return None
            if session.get("status") != "open":
                return None
            fresh = (claim.result_expires_at or 0) >= time.time() + REUSE_MARGIN_SECONDS
            if not fresh or (session.get("metadata") or {}).get("price_id") != price_id:
                self._expire(session["id"])  # never two payable sessions: the old one closes first
                return None
            if recurring:
                self._refuse_if_subscribed(clerk_user_id, customer["id"])
            return session
        def create(key: Callable[[dict], str]) -> tuple[dict, str, int | None]:
            params = {"customer": customer["id"], "mode": "subscription" if recurring else "payment",
                      "line_items": [{"price": price_id, "quantity": 1}],
                      "success_url": _with_session_id(success), "cancel_url": cancel,
                      "client_reference_id": clerk_user_id,
                      "metadata": {"clerk_user_id": clerk_user_id, "price_id": price_id}}
            if recurring:
                self._refuse_if_subscribed(clerk_user_id, customer["id"])
                params["subscription_data"] = {"metadata": {"clerk_user_id": clerk_user_id},
                                               **self._trial(clerk_user_id, customer["id"])}
            else:
                params["payment_intent_data"] = {"metadata": {"clerk_user_id": clerk_user_id, "price_id": price_id}}
            session = self.gateway.create_checkout_session(params, key(params))
            return session, session["id"], session.get("expires_at")

        kind, key = RECURRING_CLAIM if recurring else (CHECKOUT, price_id)
        session, created = self._once(kind, clerk_user_id, key, reuse, create)
        return {"id": session["id"], "url": session.get("url"), "mode": session.get("mode"),
                "expires_at": session.get("expires_at"), "price": price_id}, created

    def checkout_status(self, clerk_user_id: str, session_id: str) -> dict:
        """Where the caller's checkout session stands; on completion its subscription is synced at once."""
        try:
            session = self.gateway.get_checkout_session(session_id)
        except NotFound:
            raise NotFound("No such checkout session.") from None
        owner = session.get("client_reference_id") or (session.get("metadata") or {}).get("clerk_user_id")
        if owner != clerk_user_id:
            raise NotFound("No such checkout session.")  # not a 403: no oracle for others' ids
        subscription = expandable_id(session.get("subscription"))
        if session.get("status") == "complete" and subscription:
            self.subscriptions.refresh(subscription, clerk_user_id)
        return {"id": session["id"], "status": session.get("status"), "payment_status": session.get("payment_status"),
                "mode": session.get("mode"), "subscription": subscription}

    # --- the customer portal -------------------------------------------------------------------
    def open_portal(self, clerk_user_id: str, return_url: str | None = None) -> dict:
        back = self.redirects.check("return_url", return_url or self.settings.return_url or "")
        customer, _ = self.customers.get_or_create(clerk_user_id)
        session = self.gateway.create_portal_session({"customer": customer["id"], "return_url": back})
        return {"url": session["url"]}

    # --- the mobile payment sheet --------------------------------------------------------------
    def payment_sheet(self, clerk_user_id: str, price_id: str) -> tuple[dict, bool]:
        """What React Native's initPaymentSheet takes, for one price."""
        price = self._purchasable(price_id)
        customer, _ = self.customers.get_or_create(clerk_user_id)
        if price.get("type") == "recurring":
            intent, created = self._subscription_sheet(clerk_user_id, customer["id"], price_id)
        else:
            intent, created = self._one_time_sheet(clerk_user_id, customer["id"], price)
        session = self.gateway.create_customer_session({"customer": customer["id"], "components": {
            "mobile_payment_element": {"enabled": True, "features": {
                "payment_method_save": "enabled", "payment_method_redisplay": "enabled",
                "payment_method_remove": "enabled"}}}})
        return {"customer": customer["id"], "customer_session_client_secret": session["client_secret"],
                **intent, "publishable_key": self.settings.publishable_key}, created

    def _subscription_sheet(self, clerk_user_id: str, customer_id: str, price_id: str) -> tuple[dict, bool]:
        def reuse(claim: PurchaseClaim) -> dict | None:
            if (claim.result_id or "").startswith("cs_"):
                self._expire(claim.result_id)  # an open web checkout gives way to the app's purchase
                return None
            subscription = self.gateway.get_subscription(claim.result_id, expand=SUBSCRIPTION_EXPAND)
            if subscription is None or _price_of(subscription) != price_id or not _awaiting_payment(subscription):
                return None
            self._refuse_if_subscribed(clerk_user_id, customer_id, besides=subscription["id"])
            return subscription

        def create(key: Callable[[dict], str]) -> tuple[dict, str, None]:
            self._refuse_if_subscribed(clerk_user_id, customer_id)
            params = {"customer": customer_id, "items": [{"price": price_id}],
                      "payment_behavior": "default_incomplete",
                      "payment_settings": {"save_default_payment_method": "on_subscription"},
                      "metadata": {"clerk_user_id": clerk_user_id}, "expand": SUBSCRIPTION_EXPAND,
                      **self._trial(clerk_user_id, customer_id)}
            stamp = self.store.next_stamp()
            subscription = self.gateway.create_subscription(params, key(params))
            self.subscriptions.record(subscription, stamp, clerk_user_id)
            return subscription, subscription["id"], None

        kind, key = RECURRING_CLAIM
        subscription, created = self._once(kind, clerk_user_id, key, reuse, create)
        setup = subscription.get("pending_setup_intent")
        if isinstance(setup, dict) and setup.get("client_secret"):  # a trial: save the card for later
            intent = {"intent_type": "setup", "client_secret": setup["client_secret"]}
        else:
            secret = ((subscription.get("latest_invoice") or {}).get("confirmation_secret") or {}).get("client_secret")
            intent = {"intent_type": "payment", "client_secret": secret}
        return {**intent, "subscription": subscription["id"]}, created

    def _one_time_sheet(self, clerk_user_id: str, customer_id: str, price: dict) -> tuple[dict, bool]:
        params = {"amount": price["unit_amount"], "currency": price["currency"], "customer": customer_id,
                  "automatic_payment_methods": {"enabled": True},
                  "metadata": {"clerk_user_id": clerk_user_id, "price_id": price["id"]}}
        def create(key: Callable[[dict], str]) -> tuple[dict, str, int]:
            intent = self.gateway.create_payment_intent(params, key(params))
            return intent, intent["id"], int(time.time()) + DOUBLE_TAP_SECONDS

        def reuse(claim: PurchaseClaim) -> dict | None:
            # A double tap: the same idempotency key makes Stripe answer with the same PaymentIntent.
            if (claim.result_expires_at or 0) <= time.time():
                return None
            return self.gateway.create_payment_intent(params, self._key(claim, params))

        intent, created = self._once(PAYMENT_SHEET, clerk_user_id, price["id"], reuse, create)
        return {"intent_type": "payment", "client_secret": intent["client_secret"]}, created

    # --- cancel and resume ---------------------------------------------------------------------
    def cancel(self, clerk_user_id: str) -> dict:
        """Cancel at period end: the member keeps access until then."""
        return self._set_cancel(clerk_user_id, True)

    def resume(self, clerk_user_id: str) -> dict:
        """Undo a scheduled cancellation."""
        return self._set_cancel(clerk_user_id, False)

    def _set_cancel(self, clerk_user_id: str, at_period_end: bool) -> dict:
        current = self.subscriptions.current(clerk_user_id)
        if current is None or current.status not in LIVE - {"incomplete"}:
            raise NotFound("No subscription to change.")
        stamp = self.store.next_stamp()
        updated = self.gateway.update_subscription(current.stripe_subscription_id,
                                                   {"cancel_at_period_end": at_period_end})
        stored = self.subscriptions.record(updated, stamp, clerk_user_id)
        if stored.stamp != stamp:
            # A webhook's read with a later stamp, made before our update reached Stripe, was stored first:
            # read again (a new stamp, after our update) so the row ends as Stripe has it now.
            stored = self.subscriptions.refresh(current.stripe_subscription_id, clerk_user_id) or stored
        return public(self.store.get_subscription(current.stripe_subscription_id) or stored)  # with updated_at

    # --- shared --------------------------------------------------------------------------------
    def _purchasable(self, price_id: str) -> dict:
        price = self.catalog.get_price(price_id).data  # unknown: 404
        if not price.get("active"):
            raise ValidationFailed(details={"price_id": ["This price is no longer sold."]})
        if price.get("unit_amount") is None:  # tiered or customer-chosen amounts: not sold through these routes
            raise ValidationFailed(details={"price_id": ["This price has no fixed amount."]})
        return price

    def _live_subscriptions(self, clerk_user_id: str, customer_id: str) -> list[dict]:
        """The user's subscriptions as Stripe has them now (a webhook may still be on its way)."""
        stamp = self.store.next_stamp()
        listing = self.gateway.list_subscriptions({"customer": customer_id, "status": "all", "limit": 100})
        for subscription in listing.get("data", []):
            self.subscriptions.record(subscription, stamp, clerk_user_id)
        return listing.get("data", [])

    def _refuse_if_subscribed(self, clerk_user_id: str, customer_id: str, besides: str | None = None) -> None:
        live = [s for s in self._live_subscriptions(clerk_user_id, customer_id)
                if s.get("status") in LIVE and s["id"] != besides]
        if live:
            newest = max(live, key=lambda s: s.get("created") or 0)
            raise SubscriptionExists(details={"subscription": newest["id"], "status": newest["status"]})

    def _trial(self, clerk_user_id: str, customer_id: str) -> dict:
        """A trial only for a member who never had a subscription, here or in Stripe."""
        if not self.settings.trial_days or self.store.list_subscriptions(clerk_user_id):
            return {}
        if self.gateway.list_subscriptions({"customer": customer_id, "status": "all", "limit": 1}).get("data"):
            return {}
        return {"trial_period_days": self.settings.trial_days}

    def _expire(self, session_id: str) -> None:
        """Close a checkout session that must not be paid any more (already closed: nothing to do)."""
        try:
            self.gateway.expire_checkout_session(session_id)
        except (NotFound, UpstreamError) as exc:
            session = self.gateway.get_checkout_session(session_id)
            if session.get("status") == "open":
                raise exc

    @staticmethod
    def _key(claim: PurchaseClaim, params: dict) -> str:
        """The same for every attempt at one purchase with the same parameters; new for every replacement."""
        text = json.dumps([claim.kind, claim.clerk_user_id, claim.price_id, claim.id, claim.generation, params],
                          sort_keys=True)
        return f"tatame-{claim.kind}-{hashlib.sha256(text.encode()).hexdigest()}"

    def _once(self, kind: str, clerk_user_id: str, price_id: str, reuse: Callable[[PurchaseClaim], dict | None],
              create: Callable[[Callable[[dict], str]], tuple[dict, str, int | None]]) -> tuple[dict, bool]:
        """The one open purchase of this user and price: reused while usable, else created by one request."""
        token = uuid.uuid4().hex
        deadline = time.monotonic() + self.settings.wait_seconds
        while True:
            claim = self.store.get_purchase_claim(kind, clerk_user_id, price_id)
            stale = None
            if claim is not None and claim.status == "open":
                found = reuse(claim)
                if found is not None:
                    return found, False
                stale = claim.result_id
            result = self.store.claim_purchase(kind, clerk_user_id, price_id, token, self.settings.lease_seconds,
                                               stale_result_id=stale)
            if result.owned:
                try:
                    made, result_id, expires_at = create(lambda params: self._key(result.claim, params))
                except BaseException:
                    self.store.release_purchase_claim(kind, clerk_user_id, price_id, token)
                    raise
                if not self.store.complete_purchase(kind, clerk_user_id, price_id, token, result_id, expires_at):
                    log.warning("%s claim lost before completion; %s was recorded by another request", kind, result_id)
                CREATED.labels(made.get("object", kind).replace(".", "_")).inc()
                return made, True
            if result.claim.status == "pending":
                if time.monotonic() >= deadline:
                    raise PurchaseInProgress()
                time.sleep(self.settings.poll_seconds)


def _with_session_id(url: str) -> str:
    """Stripe fills {CHECKOUT_SESSION_ID} in: the app learns which session it came back from."""
    if "{CHECKOUT_SESSION_ID}" in url:
        return url
    base, hash_, fragment = url.partition("#")  # the query goes before a fragment, not inside it
    return f"{base}{'&' if '?' in base else '?'}session_id={{CHECKOUT_SESSION_ID}}{hash_}{fragment}"


def _price_of(subscription: dict) -> str | None:
    items = (subscription.get("items") or {}).get("data") or [{}]
    return expandable_id(items[0].get("price"))


def _awaiting_payment(subscription: dict) -> bool:
    """Still waiting for the sheet: unpaid first invoice, or a trial whose card was never saved."""
    if subscription.get("status") == "incomplete":
        return True
    setup = subscription.get("pending_setup_intent")
    return subscription.get("status") == "trialing" and isinstance(setup, dict) and bool(setup.get("client_secret"))
