"""The composition root: every collaborator of the app is built here, once, from the Config.

Read it top to bottom: the store, the billing gateway, the Clerk verifier, the webhook secrets,
the one Redis client (when configured), the catalog cache, the rate limiter, then the services that
use them. Every collaborator can be handed in (tests do, and in development wsgi.py hands in the
sandbox's); what is not handed in is built from the config. Each part also reports what backs it
(its "mode"), for the start-up banner; whoever hands a part in may say what backs it (`modes`).
"""

from __future__ import annotations

from typing import Mapping, Sequence

from app.services_container import Services
from app.gateways import build_gateway
from app.gateways.bounded import BoundedGateway
from app.gateways.clerk_metadata import Clerk, ClerkMetadata, build_clerk
from app.gateways.base import BillingGateway
from app.services.accounts import AccountService
from app.services.billing import BillingService, BillingSettings
from app.services.catalog import CatalogService
from app.services.catalog_cache import CatalogCache
from app.services.clerk import ClerkVerifier, NoKeySource, build_verifier
from app.services.clerk_handlers import CLERK_HANDLERS
from app.services.clerk_webhooks import ClerkWebhooks
from app.services.customers import CustomerService
from app.services.rate_limit import InFlightLimit, RateLimiter
from app.services.published_plan import PlanPublisher
from app.services.redirects import RedirectPolicy
from app.services.shared_version import FileVersion, RedisVersion, SharedVersion
from app.services.payments import PaymentHistory
from app.services.subscriptions import SubscriptionSync
from app.services.webhook_handlers import HANDLERS, Handler, HandlerContext
from app.services.webhooks import WebhookService
from app.stores import Store, build_store
from app.stores.metered import MeteredStore
from app.stores.sqlite import SQLiteStore
from config import Config

GIVEN = "given by the caller"


def build_services(
    config: Config,
    *,
    store: Store | None = None,
    gateway: BillingGateway | None = None,
    verifier: ClerkVerifier | None = None,
    catalog_cache: CatalogCache | None = None,
    rate_limiter: RateLimiter | None = None,
    handlers: Mapping[str, Handler] | None = None,
    webhook_secrets: Sequence[str] | None = None,
    clerk_webhook_secrets: Sequence[str] | None = None,
    modes: Mapping[str, str] | None = None,
    clerk: Clerk | None = None,
    publish_in_background: bool = True,
) -> Services:
    """Every collaborator, built once; each argument left as None is built from `config`.

    `clerk`: Clerk's SDK client for publishing each member's plan (without one and without CLERK_SECRET_KEY,
    publishing is off). `publish_in_background`: a sender thread per worker (tests send by hand).

    `modes`: what backs each part handed in, for the banner (default: "given by the caller")."""
    given, modes = dict(modes or {}), {}
    if store is None:
        built_store, modes["store"] = build_store(config)
        store = MeteredStore(built_store)
    else:
        modes["store"] = given.get("store", GIVEN)
    if gateway is None:
        built, modes["billing"] = build_gateway(config)
        gateway = BoundedGateway(built, config.stripe_max_concurrency)
    else:
        modes["billing"] = given.get("billing", GIVEN)
    if verifier is None:
        verifier, modes["auth"] = clerk_verifier(config)
    else:
        modes["auth"] = given.get("auth", GIVEN)
    if webhook_secrets is None:
        secrets, modes["webhooks"] = configured_webhook_secrets(config)
    else:
        secrets, modes["webhooks"] = tuple(webhook_secrets), given.get("webhooks", GIVEN)
    if clerk_webhook_secrets is None:
        clerk_secrets = config.clerk_webhook_secrets
        modes["accounts"] = f"Clerk webhooks, {len(clerk_secrets)} configured secret(s)" if clerk_secrets else "none"
    else:
        clerk_secrets, modes["accounts"] = tuple(clerk_webhook_secrets), given.get("accounts", GIVEN)

    redis = redis_client(config)
    catalog = CatalogService(gateway, catalog_cache or CatalogCache.build(
        redis=redis, instance_path=config.instance_path,
        ttl=config.catalog_cache_ttl, stale_ttl=config.catalog_stale_ttl,
    ))
    customers = CustomerService(store, gateway, lease_seconds=config.customer_lease_seconds,
                                wait_seconds=config.customer_wait_seconds)
    subscriptions = SubscriptionSync(store, gateway, past_due_access=config.past_due_access,
                                     version=subscriptions_version(store, redis))
    if clerk is None and config.clerk_secret_key:
        clerk = build_clerk(config.clerk_secret_key, timeout=config.clerk_publish_timeout)
        modes["publishing"] = "clerk"
    elif clerk is not None:
        modes["publishing"] = given.get("publishing", GIVEN)
    else:
        modes["publishing"] = "off"
    publisher = None
    if clerk is not None:
        publisher = PlanPublisher(store, subscriptions, ClerkMetadata(clerk), background=publish_in_background)
        subscriptions.on_change = publisher.stage
    payments = PaymentHistory(store, gateway, catalog)
    billing = BillingService(
        store, gateway, customers=customers, catalog=catalog, subscriptions=subscriptions,
        redirects=redirect_policy(config),
        settings=BillingSettings(success_url=config.checkout_success_url, cancel_url=config.checkout_cancel_url,
                                 return_url=config.portal_return_url, trial_days=config.trial_days,
                                 publishable_key=config.stripe_publishable_key,
                                 lease_seconds=config.purchase_lease_seconds,
                                 wait_seconds=config.customer_wait_seconds),
    )
    rate_limiter = rate_limiter or RateLimiter(
        {"user": config.rate_limit_user, "purchase": config.rate_limit_purchase,
         "webhook": config.rate_limit_webhook, "webhook_rejected": config.rate_limit_webhook,
         "clerk_webhook": config.rate_limit_webhook, "clerk_webhook_rejected": config.rate_limit_webhook},
        redis=redis,
        enabled=config.rate_limit_enabled,
    )
    webhooks = WebhookService(
        store, HANDLERS if handlers is None else handlers,
        context=HandlerContext(store=store, gateway=gateway, catalog=catalog, customers=customers,
                               subscriptions=subscriptions, billing=billing, payments=payments),
        limiter=rate_limiter, secrets=secrets, tolerance=config.stripe_webhook_tolerance,
        lease_seconds=config.webhook_lease_seconds,
    )
    accounts = AccountService(store, gateway, subscriptions, refund=config.account_deletion_refund)
    clerk_webhooks = ClerkWebhooks(webhooks, CLERK_HANDLERS, accounts, rate_limiter, tuple(clerk_secrets))
    return Services(config=config, store=store, gateway=gateway, verifier=verifier, catalog=catalog,
                    customers=customers, subscriptions=subscriptions, billing=billing, webhooks=webhooks,
                    payments=payments,
                    accounts=accounts, clerk_webhooks=clerk_webhooks,
                    rate_limiter=rate_limiter, stripe_in_flight=InFlightLimit(config.stripe_in_flight_per_user,
                                                                               enabled=config.rate_limit_enabled),
                    modes=modes, publisher=publisher)


def redis_client(config: Config):
    """The one Redis client (its connection pool) that the catalog cache, the rate limiter and the membership
    cache share; None without REDIS_URL. A slow Redis must not hold requests: short socket timeouts, and
    each of its users carries on without it."""
    if not config.redis_url:
        return None
    import redis

    return redis.Redis.from_url(config.redis_url, socket_timeout=0.5, socket_connect_timeout=0.5)


def subscriptions_version(store: Store, redis) -> SharedVersion | None:
    """What tells every process that a subscription was written (GET /stripe/subscription remembers each
    user's rows until then): Redis when configured; else, for the embedded SQLite file, a counter file
    beside it, which every process on the machine maps; else (Supabase, several instances, no Redis)
    nothing, and each read goes to the store."""
    if redis is not None:
        return RedisVersion(redis, "tatame:subscriptions:generation")
    inner = getattr(store, "store", store)  # the MeteredStore's own
    if isinstance(inner, SQLiteStore):
        return FileVersion(f"{inner.path}.subscriptions-generation")
    return None


def redirect_policy(config: Config) -> RedirectPolicy:
    """Allowed redirect origins: CORS_ORIGIN, the default addresses' own origins, BILLING_REDIRECT_ORIGINS."""
    defaults = (config.checkout_success_url, config.checkout_cancel_url, config.portal_return_url)
    origins = [o for o in config.cors_origins if o != "*"] + [d for d in defaults if d]
    return RedirectPolicy([*origins, *config.billing_redirect_origins], allow_http=not config.is_production)


def clerk_verifier(config: Config) -> tuple[ClerkVerifier, str]:
    """The verifier for the configured Clerk key source; without one, a verifier that refuses every token."""
    verifier = build_verifier(config)
    return (verifier, "clerk") if verifier is not None else (ClerkVerifier(NoKeySource()), "none")


def configured_webhook_secrets(config: Config) -> tuple[tuple[str, ...], str]:
    """The configured signing secrets (none: every delivery is refused)."""
    if config.stripe_webhook_secrets:
        return config.stripe_webhook_secrets, f"{len(config.stripe_webhook_secrets)} configured secret(s)"
    return (), "none"
