"""Purchases one at a time, and nothing of ours left behind at Stripe (docs/billing.md, "Purchases that recover").

`PurchaseSlots` settles in the store which request makes a member's purchase: one open purchase per
member and slot, across requests and instances. `Leftovers` finds at Stripe what earlier attempts of
ours left (an unpaid subscription, an open checkout session) and hands it back or closes it before
anything new is made, so a member is never locked out by our leftovers and never holds two payable
purchases.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from typing import Callable

from app.gateways.base import BillingGateway
from app.metrics import CREATED
from app.services.errors import NotFound, PurchaseInProgress, SubscriptionExists, UpstreamError
from app.services.subscriptions import SubscriptionSync
from app.stores.base import PurchaseClaim, Store

log = logging.getLogger(__name__)

# Statuses in which the member has the subscription, or owes for it: a new recurring purchase must wait.
USABLE = frozenset({"active", "trialing", "past_due", "unpaid", "paused"})
NEVER_STARTED = frozenset({"incomplete", "incomplete_expired"})  # the first invoice was never paid
# Said in cancellation_details.comment when we cancel an unpaid subscription of ours: it never started either.
LEFTOVER_CANCELED = "tatame: an unpaid purchase replaced by a newer one"


class PurchaseSlots:
    """One purchase at a time per member and slot, claimed in the store (`Store.claim_purchase`)."""

    def __init__(self, store: Store, *, lease_seconds: float, wait_seconds: float, poll_seconds: float):
        self.store = store
        self.lease_seconds, self.wait_seconds, self.poll_seconds = lease_seconds, wait_seconds, poll_seconds

    def one_at_a_time(self, kind: str, clerk_user_id: str, slot: str,
                      reuse: Callable[[PurchaseClaim], dict | None],
                      create: Callable[[Callable[[dict], str]], tuple[dict, str, int | None, bool]],
                      discard: Callable[[dict], object] | None = None) -> tuple[dict, bool]:
        """The member's one open purchase in `slot`, settled in the store across requests and instances.

        The claim row's open result is handed out again while `reuse` accepts it. Otherwise one request
        takes the claim (a new row, an abandoned lease, or the replaced result) and runs `create` under an
        idempotency key derived from the claim; the others wait for it. `create` returns (object, its id,
        reusable until, whether Stripe made it now or it was an earlier attempt's, handed back). If our lease ran
        out meanwhile and another request took the slot over, what we made is closed with `discard` and the
        answer is 409 PURCHASE_IN_PROGRESS: never two payable purchases."""
        token = uuid.uuid4().hex
        deadline = time.monotonic() + self.wait_seconds
        while True:
            claim = self.store.get_purchase_claim(kind, clerk_user_id, slot)
            stale = None
            if claim is not None and claim.status == "open":
                found = reuse(claim)
                if found is not None:
                    return found, False
                stale = claim.result_id
            result = self.store.claim_purchase(kind, clerk_user_id, slot, token, self.lease_seconds,
                                               stale_result_id=stale)
            if result.owned:
                try:
                    made, result_id, expires_at, created = create(lambda params: self.key(result.claim, params))
                    if not self.store.complete_purchase(kind, clerk_user_id, slot, token, result_id, expires_at):
                        self._lost(kind, clerk_user_id, slot, made, result_id, discard)
                except BaseException:
                    self._let_go(kind, clerk_user_id, slot, token)
                    raise
                if created:
                    CREATED.labels(made.get("object", kind).replace(".", "_")).inc()
                return made, created
            if result.claim.status == "pending":
                if time.monotonic() >= deadline:
                    raise PurchaseInProgress()
                time.sleep(self.poll_seconds)

    def _lost(self, kind: str, clerk_user_id: str, slot: str, made: dict, result_id: str,
              discard: Callable[[dict], object] | None) -> None:
        """Our claim was taken over before we completed it (the lease ran out during slow Stripe calls)."""
        now = self.store.get_purchase_claim(kind, clerk_user_id, slot)
        if now is not None and now.result_id == result_id:
            return  # the request that took over found and recorded this very purchase
        if discard is None:
            log.warning("%s claim lost before completion; %s was left as it is", kind, result_id)
            return
        log.warning("%s claim lost before completion; %s is closed, the other request's purchase stands",
                    kind, result_id)
        discard(made)
        raise PurchaseInProgress()

    def _let_go(self, kind: str, clerk_user_id: str, slot: str, token: str) -> None:
        """Free our claim at once after a failure, so the next request recovers without waiting for the lease;
        if the store cannot even do that, the lease runs out instead (and the failure that matters is raised)."""
        try:
            self.store.release_purchase_claim(kind, clerk_user_id, slot, token)
        except Exception:  # noqa: BLE001 - the original error is the one to answer with
            log.warning("%s claim not released (the store failed too); its lease will expire", kind)

    @staticmethod
    def key(claim: PurchaseClaim, params: dict) -> str:
        """The same for every attempt at one purchase with the same parameters; new for every replacement."""
        text = json.dumps([claim.kind, claim.clerk_user_id, claim.price_id, claim.id, claim.generation, params],
                          sort_keys=True)
        return f"tatame-{claim.kind}-{hashlib.sha256(text.encode()).hexdigest()}"


class Leftovers:
    """What earlier purchase attempts of ours left at Stripe: found by listing, handed back or closed."""

    def __init__(self, store: Store, gateway: BillingGateway, subscriptions: SubscriptionSync):
        self.store, self.gateway, self.subscriptions = store, gateway, subscriptions

    def clear_or_refuse(self, clerk_user_id: str, customer_id: str, *,
                        hand_back: Callable[[dict], bool] = lambda subscription: False
                        ) -> tuple[dict | None, list[dict]]:
        """Make room for a new recurring purchase, from Stripe's own list of the member's subscriptions.

        Each is recorded (a webhook may still be on its way). Unpaid subscriptions an earlier attempt of ours
        left behind (its answer lost, or the member walked away) are canceled, except the first that
        `hand_back` accepts, which is returned for the caller to hand out again. A subscription the member
        can use (one of those leftovers too, if it was paid meanwhile), or an unpaid one made outside this
        service, refuses the purchase (409, saying which), and then nothing is handed back.
        Returns (the one handed back or None, the listing)."""
        stamp = self.store.next_stamp()
        listing = self.gateway.list_subscriptions({"customer": customer_id, "status": "all", "limit": 100})
        subscriptions = listing.get("data", [])
        for subscription in subscriptions:
            self.subscriptions.record(subscription, stamp, clerk_user_id)
        in_use = [s for s in subscriptions if usable(s, clerk_user_id)]
        elsewhere = [s for s in subscriptions if s.get("status") == "incomplete" and not leftover(s, clerk_user_id)]
        ours = [s for s in subscriptions if leftover(s, clerk_user_id)]
        kept = next((s for s in ours if not (in_use or elsewhere) and hand_back(s)), None)
        for subscription in ours:
            paid = self.cancel_subscription(subscription, clerk_user_id) if subscription is not kept else None
            if paid is not None:
                in_use.append(paid)  # paid between the listing and the cancel: the member has it
        if (in_use or elsewhere) and kept is not None:
            paid = self.cancel_subscription(kept, clerk_user_id)
            if paid is not None:
                in_use.append(paid)
            kept = None
        for blocking, reason in ((in_use, "subscribed"), (elsewhere, "unpaid_elsewhere")):
            if blocking:
                newest = max(blocking, key=lambda s: s.get("created") or 0)
                raise SubscriptionExists(details={"subscription": newest["id"], "status": newest["status"],
                                                  "reason": reason})
        return kept, subscriptions

    def cancel_subscription(self, subscription: dict, clerk_user_id: str) -> dict | None:
        """Make an unpaid subscription of ours unpayable, then cancel it. None when done (or gone); the
        subscription as Stripe has it now when it was paid meanwhile (the member has it: never canceled).

        Its open first invoice is voided first: Stripe refuses to void a paid invoice, so the void is the
        guard against a payment landing between our read and our cancel, and a voided invoice can no longer
        be paid with the client secret the app may still hold (canceling alone leaves the invoice open)."""
        stamp = self.store.next_stamp()
        current = self.gateway.get_subscription(subscription["id"], expand=["latest_invoice"])
        if current is None:
            return None
        if not leftover(current, clerk_user_id):
            self.subscriptions.record(current, stamp, clerk_user_id)
            return current if usable(current, clerk_user_id) else None
        invoice = current.get("latest_invoice")
        if isinstance(invoice, dict) and invoice.get("status") == "open":
            try:
                self.gateway.void_invoice(invoice["id"])
            except UpstreamError:
                again = self.gateway.get_subscription(subscription["id"])
                if again is not None and usable(again, clerk_user_id):
                    self.subscriptions.record(again, stamp, clerk_user_id)
                    return again  # paid after all
                raise
        try:
            canceled = self.gateway.cancel_subscription(
                subscription["id"], {"cancellation_details": {"comment": LEFTOVER_CANCELED}})
        except NotFound:
            return None
        self.subscriptions.record(canceled, stamp, clerk_user_id)
        log.info("unpaid subscription %s left by an earlier purchase was voided and canceled", subscription["id"])
        return None

    def close_open_sessions(self, customer_id: str, replaced: Callable[[dict], bool], *,
                             hand_back: Callable[[dict], bool] = lambda session: False) -> dict | None:
        """The customer's open sessions that `replaced` names are expired, except the first that `hand_back`
        accepts (an earlier attempt's, whose answer we never got), which is returned."""
        listing = self.gateway.list_checkout_sessions({"customer": customer_id, "status": "open", "limit": 100})
        kept = None
        for session in listing.get("data", []):
            if not replaced(session):
                continue
            if kept is None and hand_back(session):
                kept = session
            else:
                self.expire_session(session["id"])
        return kept

    def expire_session(self, session_id: str) -> None:
        """Close a checkout session that must not be paid any more (already closed: nothing to do)."""
        try:
            self.gateway.expire_checkout_session(session_id)
        except (NotFound, UpstreamError) as exc:
            session = self.gateway.get_checkout_session(session_id)
            if session.get("status") == "open":
                raise exc

    def close_session(self, session_id: str) -> None:
        """Expire the session if it is still open (one Stripe call when it is not)."""
        try:
            if self.gateway.get_checkout_session(session_id).get("status") == "open":
                self.expire_session(session_id)
        except NotFound:
            return


def leftover(subscription: dict, clerk_user_id: str) -> bool:
    """Made by an earlier purchase of ours and never paid: its first invoice open, or (made by an earlier
    release, when the sheet offered trials) a trial whose card was never saved."""
    if (subscription.get("metadata") or {}).get("clerk_user_id") != clerk_user_id:
        return False
    status = subscription.get("status")
    return status == "incomplete" or (status == "trialing" and bool(subscription.get("pending_setup_intent")))


def ever_held(subscription: dict) -> bool:
    """Whether the member ever had this subscription (a trial counts): not an unpaid one that never started."""
    comment = (subscription.get("cancellation_details") or {}).get("comment")
    return subscription.get("status") not in NEVER_STARTED and comment != LEFTOVER_CANCELED


def usable(subscription: dict, clerk_user_id: str) -> bool:
    """A subscription the member has (or pays for) now: it blocks a new recurring purchase."""
    return subscription.get("status") in USABLE and not leftover(subscription, clerk_user_id)
