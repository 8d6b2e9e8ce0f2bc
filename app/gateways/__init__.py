"""The billing gateway: the interface, the real Stripe gateway, and the development stand-in."""

from __future__ import annotations

from pathlib import Path

from app.services.catalog import BillingGateway
from config import Config

__all__ = ["BillingGateway", "build_gateway"]


def build_gateway(config: Config) -> tuple[BillingGateway, str]:
    """The gateway for `config` and what backs it: Stripe, or (outside production) the offline stand-in."""
    if config.stripe_secret_key:
        from app.services.stripe_gateway import StripeGateway, build_stripe_client

        client = build_stripe_client(config.stripe_secret_key, api_version=config.stripe_api_version,
                                     timeout=config.stripe_timeout, max_retries=config.stripe_max_retries,
                                     api_base=config.stripe_api_base)
        return StripeGateway(client), "stripe"
    if config.is_production:
        raise RuntimeError("production needs Stripe: set STRIPE_SECRET_KEY")
    from app.services.offline_gateway import OfflineGateway

    return OfflineGateway(str(Path(config.instance_path) / "offline-stripe.sqlite3")), "offline"
