"""The application factory: reads like a table of contents."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Mapping

from flask import Flask, request
from flask_cors import CORS
from werkzeug.middleware.proxy_fix import ProxyFix

from app import devkeys
from app.auth import ClerkVerifier, StaticKey, build_verifier
from app.blueprints import health, stripe, webhooks
from app.commands import register_commands
from app.errors import register_error_handlers
from app.extensions import Services
from app.http import register_request_handling
from app.logs import configure_logging
from app.services.catalog import BillingGateway, CatalogService
from app.services.catalog_cache import CatalogCache
from app.services.customers import CustomerService
from app.services.rate_limit import RateLimiter
from app.services.stripe_gateway import StripeGateway, build_stripe_client
from app.services.webhook_handlers import HANDLERS, Handler
from app.services.webhooks import WebhookService
from app.stores.base import Store
from config import Config

log = logging.getLogger(__name__)
BLUEPRINTS = (health.bp, stripe.bp, webhooks.bp)
_UNSET = object()


def create_app(
    config: Config | None = None,
    *,
    store: Store | None = None,
    gateway: BillingGateway | None = None,
    verifier: ClerkVerifier | None | object = _UNSET,
    handlers: Mapping[str, Handler] | None = None,
) -> Flask:
    """Build the app from `config` (default: the environment); collaborators may be handed in."""
    config = config or Config.from_env()
    configure_logging(config.log_level, config.secrets())
    app = Flask(__name__, instance_path=str(Path(config.instance_path).resolve()))
    app.json.sort_keys = False
    app.extensions["tatame"] = build_services(
        config, store=store, gateway=gateway, verifier=verifier, handlers=HANDLERS if handlers is None else handlers
    )
    if config.trusted_proxy_hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=config.trusted_proxy_hops, x_proto=config.trusted_proxy_hops)
    register_request_handling(app, max_json_body=config.max_json_body, max_webhook_body=config.max_webhook_body)
    register_cors(app, config)
    register_blueprints(app)
    register_error_handlers(app)
    register_commands(app)
    return app


def build_services(config: Config, *, store=None, gateway=None, verifier=_UNSET, handlers=HANDLERS) -> Services:
    """Build every collaborator once. Outside production, what is not configured is made locally."""
    modes: dict[str, str] = {}
    store = store or build_store(config, modes)
    gateway = gateway or build_gateway(config, modes)
    configured = build_verifier(config) if verifier is _UNSET else verifier
    needs_dev = (verifier is _UNSET and configured is None) or not config.stripe_webhook_secrets
    dev = devkeys.load_or_create(config.instance_path) if needs_dev and not config.is_production else None
    modes["auth"] = "clerk" if configured else "none"
    if verifier is _UNSET and configured is None and dev is not None:
        configured = ClerkVerifier(StaticKey(dev.public_key_pem), issuer=devkeys.ISSUER,
                                   authorized_parties=config.clerk_authorized_parties)
        modes["auth"] = "development keys"
    verifier = configured
    secrets = config.stripe_webhook_secrets
    modes["webhooks"] = f"{len(secrets)} configured secret(s)"
    if not secrets and dev is not None:
        secrets, modes["webhooks"] = (dev.webhook_secret,), "development secret"
    catalog = CatalogService(gateway, CatalogCache.build(
        redis_url=config.redis_url, instance_path=config.instance_path,
        ttl=config.catalog_cache_ttl, stale_ttl=config.catalog_stale_ttl,
    ))
    return Services(
        config=config,
        store=store,
        gateway=gateway,
        verifier=verifier,
        catalog=catalog,
        customers=CustomerService(
            store, gateway, lease_seconds=config.customer_lease_seconds, wait_seconds=config.customer_wait_seconds
        ),
        webhooks=WebhookService(
            store,
            handlers,
            catalog=catalog,
            secrets=secrets,
            tolerance=config.stripe_webhook_tolerance,
            lease_seconds=config.webhook_lease_seconds,
        ),
        rate_limiter=RateLimiter(
            {"user": config.rate_limit_user, "webhook": config.rate_limit_webhook,
             "webhook_rejected": config.rate_limit_webhook},
            storage_uri=config.redis_url or "memory://",
            enabled=config.rate_limit_enabled,
        ),
        dev=dev,
        modes=modes,
    )


def build_store(config: Config, modes: dict) -> Store:
    from app import stores  # the choice lives with the stores

    store, modes["store"] = stores.build_store(config)
    return store


def build_gateway(config: Config, modes: dict) -> BillingGateway:
    if config.stripe_secret_key:
        modes["billing"] = "stripe"
        client = build_stripe_client(
            config.stripe_secret_key,
            api_version=config.stripe_api_version,
            timeout=config.stripe_timeout,
            max_retries=config.stripe_max_retries,
            api_base=config.stripe_api_base,
        )
        return StripeGateway(client)
    if config.is_production:
        raise RuntimeError("production needs Stripe: set STRIPE_SECRET_KEY")
    from app.services.offline_gateway import OfflineGateway

    modes["billing"] = "offline"
    return OfflineGateway(str(Path(config.instance_path) / "offline-stripe.sqlite3"))


def register_cors(app: Flask, config: Config) -> None:
    """flask-cors for the configured origins, consulted only when a browser sends an Origin."""
    CORS(
        app,
        origins=list(config.cors_origins),
        allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
        expose_headers=["X-Request-ID", "Retry-After"],
        methods=["GET", "POST", "OPTIONS"],
        max_age=600,
        always_send=False,  # no Origin, no CORS headers: the apps' native clients and Stripe need none
    )
    # Its after_request hook matches every path against its rules, even when no Origin was sent;
    # that was a third of what a cached catalog read cost (make bench). Run it only when it can matter.
    cors_hook = app.after_request_funcs[None].pop()

    @app.after_request
    def cors_when_asked(response):
        return cors_hook(response) if "Origin" in request.headers else response


def register_blueprints(app: Flask) -> None:
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
