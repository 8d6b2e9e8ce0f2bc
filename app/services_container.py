"""The services container: what the composition root built, once per app, and the one helper views use."""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import current_app

from app.gateways.base import BillingGateway
from app.services.accounts import AccountService
from app.services.catalog import CatalogService
from app.services.clerk import ClerkVerifier
from app.services.billing import BillingService
from app.services.customers import CustomerService
from app.services.payments import PaymentHistory
from app.services.published_plan import PlanPublisher
from app.services.subscriptions import SubscriptionSync
from app.services.rate_limit import InFlightLimit, RateLimiter
from app.services.clerk_webhooks import ClerkWebhooks
from app.services.webhooks import WebhookService
from app.stores.base import Store, StoreUnavailable
from config import Config


@dataclass
class Services:
    config: Config
    store: Store
    gateway: BillingGateway
    verifier: ClerkVerifier
    catalog: CatalogService
    customers: CustomerService
    subscriptions: SubscriptionSync
    billing: BillingService
    webhooks: WebhookService
    rate_limiter: RateLimiter
    stripe_in_flight: InFlightLimit
    payments: PaymentHistory
    accounts: AccountService
    clerk_webhooks: ClerkWebhooks
    modes: dict[str, str] = field(default_factory=dict)  # part → what backs it (the banner says)
    publisher: PlanPublisher | None = None  # None: publishing the plan to Clerk is off

    def readiness(self) -> tuple[bool, dict]:
        """Ready when the store answers. Redis, when configured, is reported but does not decide:
        without it the instance still serves (limits let requests through, the cache misses), and
        a Redis outage must not take every instance out of the load balancer at once."""
        try:
            self.store.ping()
            checks = {"store": "ok"}
        except StoreUnavailable:
            checks = {"store": "unreachable"}
        if self.config.redis_url:
            checks["redis"] = "ok" if self.rate_limiter.healthy() else "unreachable"
        return checks["store"] == "ok", checks


def services() -> Services:
    """The current app's services (views call this, nothing else)."""
    return current_app.extensions["tatame"]
