"""Billing gateways: the interface (base.py), Stripe itself (stripe.py), and a cap on calls in flight (bounded.py)."""

from __future__ import annotations

from app.gateways.base import BillingGateway
from app.gateways.stripe import StripeGateway, build_stripe_client
from config import Config


def build_gateway(config: Config) -> tuple[BillingGateway, str]:
    """(gateway, mode): Stripe with STRIPE_SECRET_KEY ("stripe"). Without a key a gateway must be handed in
    (in development, wsgi.py hands in the sandbox's Stripe); production refuses to start without one."""
    if not config.stripe_secret_key:
        if config.is_production:
            raise RuntimeError("production needs Stripe: set STRIPE_SECRET_KEY")
        raise RuntimeError("no Stripe: set STRIPE_SECRET_KEY, or build the app through wsgi.py, which hands in"
                           " the sandbox's Stripe when none is configured")
    client = build_stripe_client(
        config.stripe_secret_key,
        api_version=config.stripe_api_version,
        timeout=config.stripe_timeout,
        max_retries=config.stripe_max_retries,
        api_base=config.stripe_api_base,
    )
    return StripeGateway(client), "stripe"
