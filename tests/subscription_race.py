"""Two webhook handlers race so that the older read of a subscription finishes last (used on SQLite and PostgreSQL)."""

from __future__ import annotations

import threading

from sandbox.in_process import sandbox_gateway
from app.services.subscriptions import SubscriptionSync
from config import STRIPE_API_VERSION
from tests.sandbox_stripe import Observed

HEADERS = {"authorization": "Bearer sk_test_race_not_a_key", "stripe-version": STRIPE_API_VERSION}


class HeldFirstCall:
    """The gateway, but the first call of `method` returns what it read only when the test says so (`release`):
    an older read held while a newer one is handled, so that the older one finishes last."""

    def __init__(self, gateway, method: str):
        self.gateway, self.method, self.calls = gateway, method, 0
        self.first_read_done, self.release = threading.Event(), threading.Event()

    def __getattr__(self, name):
        found = getattr(self.gateway, name)
        return self._held(found) if name == self.method else found

    def _held(self, call):
        def held(*args, **kwargs):
            self.calls += 1
            answer = call(*args, **kwargs)
            if self.calls == 1:
                self.first_read_done.set()
                self.release.wait(10)
            return answer

        return held


def paid_subscription(sandbox_stripe, gateway) -> tuple[dict, dict]:
    """A member's customer and their paid subscription at the sandbox's Stripe."""
    customer = gateway.create_customer({"metadata": {"clerk_user_id": "user_race"}}, "race-customer")
    created = gateway.create_subscription({"customer": customer["id"], "items": [{"price": "price_demo_kids_monthly"}],
                                           "payment_behavior": "default_incomplete",
                                           "metadata": {"clerk_user_id": "user_race"}}, "race-subscription")
    sandbox_stripe.pay_invoice(created["id"])
    return customer, created


def older_read_finishing_last_loses(store) -> tuple:
    """Returns (what Stripe has, what the store has) after the race."""
    sandbox_stripe = Observed()
    gateway = sandbox_gateway(sandbox_stripe, STRIPE_API_VERSION)
    customer, created = paid_subscription(sandbox_stripe, gateway)
    slow = HeldFirstCall(gateway, "get_subscription")
    sync = SubscriptionSync(store, slow)
    older = threading.Thread(target=sync.refresh, args=(created["id"],))
    older.start()
    assert slow.first_read_done.wait(10)
    # Meanwhile the member cancels at period end, and that change's webhook is handled at once.
    sandbox_stripe.fake.handle("POST", f"/v1/subscriptions/{created['id']}", "cancel_at_period_end=true", HEADERS)
    SubscriptionSync(store, gateway).refresh(created["id"])
    slow.release.set()
    older.join(10)
    return gateway.get_subscription(created["id"]), store.get_subscription(created["id"])


def older_entitlements_read_finishing_last_loses(store) -> tuple:
    """A summary handler reads the customer's features while entitled and is held; the subscription ends and the
    newer summary is handled at once; then the older read finishes. Returns (what Stripe has, what the store has)."""
    sandbox_stripe = Observed()
    gateway = sandbox_gateway(sandbox_stripe, STRIPE_API_VERSION)
    customer, created = paid_subscription(sandbox_stripe, gateway)
    SubscriptionSync(store, gateway).refresh(created["id"])  # the customer is ours: its subscription is stored
    slow = HeldFirstCall(gateway, "list_active_entitlements")
    older = threading.Thread(target=SubscriptionSync(store, slow).refresh_features, args=(customer["id"],))
    older.start()
    assert slow.first_read_done.wait(10)
    sandbox_stripe.delete_subscription(created["id"])
    SubscriptionSync(store, gateway).refresh_features(customer["id"])
    slow.release.set()
    older.join(10)
    return gateway.list_active_entitlements(customer["id"]), store.get_features(customer["id"])
