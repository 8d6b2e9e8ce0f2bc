"""Taking money: web checkout, the mobile payment sheet, the portal, cancel and resume (docs/billing.md).

The customer is always the caller's own (CustomerService); a body never names one. Every purchase
goes through app/services/purchases.py: one open purchase per member and slot (every recurring
purchase shares one slot; a one-time price has its own), made under an idempotency key derived from
its claim, after whatever an earlier attempt of ours left at Stripe was handed back or closed.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable

from app.gateways.base import BillingGateway, expandable_id
from app.metrics import DUPLICATE_SUBSCRIPTIONS
from app.services.catalog import CatalogService
from app.services.customers import CustomerService
from app.services.errors import NotFound, SubscriptionExists, ValidationFailed
from app.services.purchases import NEVER_STARTED, USABLE, Leftovers, PurchaseSlots, ever_held, leftover, usable
from app.services.redirects import RedirectPolicy
from app.services.subscriptions import LIVE, SubscriptionSync, member_view
from app.stores.base import PurchaseClaim, Store, SubscriptionRecord

log = logging.getLogger(__name__)
CHECKOUT, PAYMENT_SHEET = "checkout", "payment_sheet"
# Every recurring purchase of a user, by either path, shares one claim row: its result is the open checkout
# session (cs_...) or the incomplete payment-sheet subscription (sub_...). So two recurring purchases can
# never be prepared at once, for two prices or by two paths, and the one prepared is the one handed out.
RECURRING_CLAIM = (CHECKOUT, "recurring")
REUSE_MARGIN_SECONDS = 300      # an open session closer than this to expiring is not handed out again
DOUBLE_TAP_SECONDS = 60         # a one-time payment sheet asked again within this gets the same PaymentIntent
SUBSCRIPTION_EXPAND = ["latest_invoice.confirmation_secret"]


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
        self.slots = PurchaseSlots(store, lease_seconds=settings.lease_seconds, wait_seconds=settings.wait_seconds,
                                   poll_seconds=settings.poll_seconds)
        self.leftovers = Leftovers(store, gateway, subscriptions)

    # --- membership ----------------------------------------------------------------------------
    def membership(self, clerk_user_id: str) -> dict:
        """Answered from the database only: the apps ask on every launch."""
        current, features = self.subscriptions.membership(clerk_user_id)
        return {"status": current.status if current else "none",
                "access": bool(current) and self.subscriptions.grants_access(current.status),
                "features": features,
                "subscription": member_view(current)}

    # --- web checkout --------------------------------------------------------------------------
    def start_checkout(self, clerk_user_id: str, price_id: str, success_url: str | None = None,
                       cancel_url: str | None = None) -> tuple[dict, bool]:
        """An open Stripe Checkout session for the price: created, or the open one of a double tap."""
        price = self._purchasable(price_id)
        success = _with_session_id(self.redirects.check("success_url", success_url or self.settings.success_url or ""))
        cancel = self.redirects.check("cancel_url", cancel_url or self.settings.cancel_url or "")
        customer, _ = self.customers.get_or_create(clerk_user_id)
        recurring = price.get("type") == "recurring"

        def same_request(session: dict) -> bool:
            """What may be handed out again: the same price and addresses, not about to expire."""
            return ((session.get("metadata") or {}).get("price_id") == price_id
                    and session.get("success_url") == success and session.get("cancel_url") == cancel
                    and (session.get("expires_at") or 0) >= time.time() + REUSE_MARGIN_SECONDS)

        def replaced(session: dict) -> bool:
            """The member's sessions this one replaces: every recurring one, or those of this one-time price."""
            meta = session.get("metadata") or {}
            return meta.get("clerk_user_id") == clerk_user_id and (
                session.get("mode") == "subscription" if recurring else meta.get("price_id") == price_id)

        def reuse(claim: PurchaseClaim) -> dict | None:
            if not (claim.result_id or "").startswith("cs_"):
                return None  # a payment-sheet subscription: create() cancels it while it is unpaid
            try:
                session = self.gateway.get_checkout_session(claim.result_id)
            except NotFound:
                return None
            if session.get("status") != "open":
                return None
            if not same_request(session):
                self.leftovers.expire_session(session["id"])  # never two payable sessions: the old one closes first
                return None
            if recurring:
                try:
                    self.leftovers.clear_or_refuse(clerk_user_id, customer["id"])
                except SubscriptionExists:
                    self.leftovers.expire_session(session["id"])  # subscribed elsewhere meanwhile: this one must not be paid too
                    raise
            return session

        def create(key: Callable[[dict], str]) -> tuple[dict, str, int | None, bool]:
            # Sessions first (one paid meanwhile makes its subscription before the listing below sees it):
            # an earlier attempt's whose answer we never got is handed back, every other one expired.
            found = self.leftovers.close_open_sessions(customer["id"], replaced, hand_back=same_request)
            trial = {}
            if recurring:
                try:
                    _, listing = self.leftovers.clear_or_refuse(clerk_user_id, customer["id"])
                except SubscriptionExists:
                    if found is not None:
                        self.leftovers.expire_session(found["id"])
                    raise
                trial = self._trial(clerk_user_id, listing)
            if found is not None:
                return found, found["id"], found.get("expires_at"), False
            params = {"customer": customer["id"], "mode": "subscription" if recurring else "payment",
                      "line_items": [{"price": price_id, "quantity": 1}],
                      "success_url": success, "cancel_url": cancel, "client_reference_id": clerk_user_id,
                      "metadata": {"clerk_user_id": clerk_user_id, "price_id": price_id}}
            if recurring:
                params["subscription_data"] = {"metadata": {"clerk_user_id": clerk_user_id}, **trial}
            else:
                params["payment_intent_data"] = {"metadata": {"clerk_user_id": clerk_user_id, "price_id": price_id}}
            session = self.gateway.create_checkout_session(params, key(params))
            return session, session["id"], session.get("expires_at"), True

        def discard(session: dict) -> None:
            self.leftovers.expire_session(session["id"])

        kind, slot = RECURRING_CLAIM if recurring else (CHECKOUT, price_id)
        session, created = self.slots.one_at_a_time(kind, clerk_user_id, slot, reuse, create, discard)
        if recurring and created:
            self._refuse_if_subscribed_meanwhile(clerk_user_id, lambda: discard(session))
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
        """An unpaid subscription for the plan (no trial: a sheet would grant one before any card is saved)."""
        def awaiting(subscription: dict) -> bool:
            """Ours, for this plan, still waiting for its first payment: what the sheet hands back."""
            return leftover(subscription, clerk_user_id) and subscription.get("status") == "incomplete" \
                and _price_of(subscription) == price_id

        def reuse(claim: PurchaseClaim) -> dict | None:
            if (claim.result_id or "").startswith("cs_"):
                return None  # an open web checkout: create() expires it, the app's purchase wins
            subscription = self.gateway.get_subscription(claim.result_id, expand=SUBSCRIPTION_EXPAND)
            if subscription is None or not awaiting(subscription):
                return None
            kept, _ = self.leftovers.clear_or_refuse(clerk_user_id, customer_id,
                                                      hand_back=lambda s: s["id"] == subscription["id"])
            return subscription if kept is not None else None

        def create(key: Callable[[dict], str]) -> tuple[dict, str, None, bool]:
            # Open web checkouts first: one paid meanwhile makes its subscription before the listing sees it.
            self.leftovers.close_open_sessions(customer_id, lambda s: (s.get("metadata") or {}).get("clerk_user_id")
                                               == clerk_user_id and s.get("mode") == "subscription")
            kept, _ = self.leftovers.clear_or_refuse(clerk_user_id, customer_id, hand_back=awaiting)
            if kept is not None:  # made by an attempt whose answer we never got: handed back, not made again
                found = self.gateway.get_subscription(kept["id"], expand=SUBSCRIPTION_EXPAND)
                if found is not None and awaiting(found):
                    return found, found["id"], None, False
                if found is not None and usable(found, clerk_user_id):  # paid a moment ago: the member has it
                    raise SubscriptionExists(details={"subscription": found["id"], "status": found["status"],
                                                      "reason": "subscribed"})
            params = {"customer": customer_id, "items": [{"price": price_id}],
                      "payment_behavior": "default_incomplete",
                      "payment_settings": {"save_default_payment_method": "on_subscription"},
                      "metadata": {"clerk_user_id": clerk_user_id}, "expand": SUBSCRIPTION_EXPAND}
            stamp = self.store.next_stamp()
            subscription = self.gateway.create_subscription(params, key(params))
            self.subscriptions.record(subscription, stamp, clerk_user_id)
            return subscription, subscription["id"], None, True

        def discard(subscription: dict) -> None:
            self.leftovers.cancel_subscription(subscription, clerk_user_id)

        kind, slot = RECURRING_CLAIM
        subscription, created = self.slots.one_at_a_time(kind, clerk_user_id, slot, reuse, create, discard)
        if created:
            self._refuse_if_subscribed_meanwhile(clerk_user_id, lambda: discard(subscription),
                                                 besides=subscription["id"])
        secret = ((subscription.get("latest_invoice") or {}).get("confirmation_secret") or {}).get("client_secret")
        return {"intent_type": "payment", "client_secret": secret, "subscription": subscription["id"]}, created

    def _one_time_sheet(self, clerk_user_id: str, customer_id: str, price: dict) -> tuple[dict, bool]:
        params = {"amount": price["unit_amount"], "currency": price["currency"], "customer": customer_id,
                  "automatic_payment_methods": {"enabled": True},
                  "metadata": {"clerk_user_id": clerk_user_id, "price_id": price["id"]}}
        def create(key: Callable[[dict], str]) -> tuple[dict, str, int, bool]:
            intent = self.gateway.create_payment_intent(params, key(params))
            return intent, intent["id"], int(time.time()) + DOUBLE_TAP_SECONDS, True

        def reuse(claim: PurchaseClaim) -> dict | None:
            # A double tap: the same idempotency key makes Stripe answer with the same PaymentIntent.
            if (claim.result_expires_at or 0) <= time.time():
                return None
            return self.gateway.create_payment_intent(params, self.slots.key(claim, params))

        intent, created = self.slots.one_at_a_time(PAYMENT_SHEET, clerk_user_id, price["id"], reuse, create)
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
        return member_view(self.store.get_subscription(current.stripe_subscription_id) or stored)  # with updated_at

    # --- after Stripe tells us of a subscription ------------------------------------------------
    def settle_after_subscription_change(self, record: SubscriptionRecord) -> None:
        """A subscription the member can use now exists (bought here, in the dashboard, anywhere).

        Their open web checkout closes, so it cannot be paid as well; and a second usable subscription
        (an old session paid anyway, a dashboard purchase) is flagged at ERROR with a metric: the runbook
        in docs/billing.md says how to refund it. Nothing is canceled automatically."""
        if record.status not in USABLE or not record.clerk_user_id or not record.stripe_customer_id:
            return
        kind, slot = RECURRING_CLAIM
        claim = self.store.get_purchase_claim(kind, record.clerk_user_id, slot)
        if (claim is not None and claim.status == "open" and (claim.result_id or "").startswith("cs_")
                and (claim.result_expires_at or 0) > time.time()):
            self.leftovers.close_session(claim.result_id)
        stored = [r for r in self.store.list_subscriptions(record.clerk_user_id) if r.status in USABLE]
        if len(stored) < 2:
            return
        listing = self.gateway.list_subscriptions({"customer": record.stripe_customer_id, "status": "all",
                                                   "limit": 100}).get("data", [])
        held = sorted(s["id"] for s in listing if usable(s, record.clerk_user_id))
        if len(held) > 1:
            DUPLICATE_SUBSCRIPTIONS.inc()
            log.error("member %s holds %d usable subscriptions (%s): refund and cancel the newer one "
                      "(docs/billing.md, runbook)", record.clerk_user_id, len(held), ", ".join(held))

    # --- shared --------------------------------------------------------------------------------
    def _refuse_if_subscribed_meanwhile(self, clerk_user_id: str, close: Callable[[], object],
                                        besides: str | None = None) -> None:
        """After a recurring purchase was made: a subscription the member can use that a webhook stored while we
        worked (the webhook found our claim still pending, so it had nothing to close) closes it again."""
        held = [r for r in self.store.list_subscriptions(clerk_user_id)
                if r.status in USABLE and r.stripe_subscription_id != besides]
        if held:
            close()
            newest = max(held, key=lambda r: (r.stripe_created, r.stripe_subscription_id))
            raise SubscriptionExists(details={"subscription": newest.stripe_subscription_id, "status": newest.status,
                                              "reason": "subscribed"})

    def _purchasable(self, price_id: str) -> dict:
        """The price, if the catalog sells it: it and its product active, with a fixed amount."""
        price = self.catalog.get_price(price_id).data  # unknown: 404
        product = price.get("product")
        if isinstance(product, str):
            product = self.catalog.get_product(product).data
        if not price.get("active") or not (product or {}).get("active"):
            raise ValidationFailed(details={"price_id": ["This price is no longer sold."]})
        if price.get("unit_amount") is None:  # tiered or customer-chosen amounts: not sold through these routes
            raise ValidationFailed(details={"price_id": ["This price has no fixed amount."]})
        return price

    def _trial(self, clerk_user_id: str, subscriptions: list[dict]) -> dict:
        """A trial only for a member who never held a subscription, here or in Stripe (`subscriptions`: all of
        theirs at Stripe); unpaid purchases that never started do not count. It ends canceled, never unpaid,
        if the card is gone by then."""
        if not self.settings.trial_days or any(ever_held(s) for s in subscriptions):
            return {}
        listed = {s["id"] for s in subscriptions}
        if any(r.stripe_subscription_id not in listed and r.status not in NEVER_STARTED
               for r in self.store.list_subscriptions(clerk_user_id)):
            return {}
        return {"trial_period_days": self.settings.trial_days,
                "trial_settings": {"end_behavior": {"missing_payment_method": "cancel"}}}

def _with_session_id(url: str) -> str:
    """Stripe fills {CHECKOUT_SESSION_ID} in: the app learns which session it came back from."""
    if "{CHECKOUT_SESSION_ID}" in url:
        return url
    base, hash_, fragment = url.partition("#")  # the query goes before a fragment, not inside it
    return f"{base}{'&' if '?' in base else '?'}session_id={{CHECKOUT_SESSION_ID}}{hash_}{fragment}"


def _price_of(subscription: dict) -> str | None:
    items = (subscription.get("items") or {}).get("data") or [{}]
    return expandable_id(items[0].get("price"))
