"""The application factory: reads like a table of contents."""

from __future__ import annotations

import logging

from flask import Flask
from flask_cors import CORS

from app.auth import ClerkVerifier, build_verifier
from app.blueprints import health, stripe, webhooks
from app.errors import register_error_handlers
from app.extensions import Services
from app.http import register_request_hooks
from app.logs import configure_logging
from app.services.catalog import BillingGateway, CatalogService
from app.services.customers import CustomerService
from app.services.rate_limit import RateLimiter
from app.services.stripe_gateway import StripeGateway, build_stripe_client
from app.services.webhook_handlers import HANDLERS
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
) -> Flask:
    """Build the app from `config` (default: the environment); collaborators may be handed in."""
    config = config or Config.from_env()
    configure_logging(config.log_level, config.secrets())
    app = Flask(__name__)
    app.config.update(MAX_CONTENT_LENGTH=max(config.max_json_body, config.max_webhook_body), JSON_SORT_KEYS=False)
    app.json.sort_keys = False
    app.extensions["tatame"] = build_services(
        config,
        store=store,
        gateway=gateway,
        verifier=build_verifier(config) if verifier is _UNSET else verifier,
    )
    register_request_hooks(app, max_json_body=config.max_json_body, max_webhook_body=config.max_webhook_body)
    register_cors(app, config)
    register_blueprints(app)
    register_error_handlers(app)
    return app


def build_services(config: Config, *, store, gateway, verifier) -> Services:
    """Build every collaborator once."""
    store = store or build_store(config)
    gateway = gateway or build_gateway(config)
    return Services(
        config=config,
        store=store,
        gateway=gateway,
        verifier=verifier,
        catalog=CatalogService(gateway),
        customers=CustomerService(
            store, gateway, lease_seconds=config.customer_lease_seconds, wait_seconds=config.customer_wait_seconds
        ),
        webhooks=WebhookService(
            store,
            HANDLERS,
            secrets=config.stripe_webhook_secrets,
            tolerance=config.stripe_webhook_tolerance,
            lease_seconds=config.webhook_lease_seconds,
        ),
        rate_limiter=RateLimiter(
            {"user": config.rate_limit_user, "webhook": config.rate_limit_webhook},
            storage_uri=config.redis_url or "memory://",
            enabled=config.rate_limit_enabled,
        ),
    )


def build_store(config: Config) -> Store:
    if config.uses_supabase:
        from app.stores.supabase import SupabaseStore

        return SupabaseStore(config.supabase_url, config.supabase_service_role_key)
    from app.stores.sqlite import SQLiteStore

    return SQLiteStore(config.sqlite_path)


def build_gateway(config: Config) -> BillingGateway:
    if not config.stripe_secret_key:
        raise RuntimeError("STRIPE_SECRET_KEY is not set")
    client = build_stripe_client(
        config.stripe_secret_key,
        api_version=config.stripe_api_version,
        timeout=config.stripe_timeout,
        max_retries=config.stripe_max_retries,
        api_base=config.stripe_api_base,
    )
    return StripeGateway(client)


def register_cors(app: Flask, config: Config) -> None:
    CORS(
        app,
        origins=list(config.cors_origins),
        allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
        expose_headers=["X-Request-ID", "Retry-After"],
        methods=["GET", "POST", "OPTIONS"],
        max_age=600,
    )


def register_blueprints(app: Flask) -> None:
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
