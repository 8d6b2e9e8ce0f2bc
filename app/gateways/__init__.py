"""Billing gateways: Stripe itself, or, outside production, the same gateway over the in-process stand-in."""

from __future__ import annotations

from pathlib import Path

from app.gateways.base import BillingGateway
from sandbox.stripe import FakeStripe
from sandbox.stripe.delivery import Deliverer, http_poster
from sandbox.in_process import InProcessHTTPClient
from app.gateways.stripe import StripeGateway, build_stripe_client
from config import Config

# The stand-in takes test-mode keys only; this one says what it is.
DEVELOPMENT_KEY = "sk_test_stand_in_not_a_real_key"
STATE_FILE = "fake-stripe.sqlite3"


def build_gateway(config: Config) -> tuple[BillingGateway, str]:
    """(gateway, mode): Stripe with STRIPE_SECRET_KEY ("stripe"), else the stand-in ("offline"); never offline in production."""
    if config.stripe_secret_key:
        client = build_stripe_client(
            config.stripe_secret_key,
            api_version=config.stripe_api_version,
            timeout=config.stripe_timeout,
            max_retries=config.stripe_max_retries,
            api_base=config.stripe_api_base,
        )
        return StripeGateway(client), "stripe"
    if config.is_production:
        raise RuntimeError("production needs Stripe: set STRIPE_SECRET_KEY")
    # Its Checkout and portal URLs open the app's own local pages (app/blueprints/dev.py) on this server.
    stand_in = stand_in_for(config)
    gateway = development_gateway(stand_in, config.stripe_api_version)
    gateway.stand_in = stand_in  # what those pages drive, as a customer on Stripe's pages would
    return gateway, "offline"


def stand_in_for(config: Config) -> FakeStripe:
    """The stand-in over the instance's state file (every FakeStripe on that file shares its state and clock)."""
    return FakeStripe(str(Path(config.instance_path) / STATE_FILE), page_base=f"http://localhost:{config.port}/dev")


def build_deliverer(services) -> Deliverer | None:
    """The stand-in's webhook deliverer, posting to this instance's /webhooks/stripe; None unless billing is offline."""
    config = services.config
    if services.modes.get("billing") != "offline" or config.is_production or not services.webhooks.secrets:
        return None
    return Deliverer(stand_in_for(config).state, services.webhooks.secrets[0],
                     http_poster(f"http://127.0.0.1:{config.port}/webhooks/stripe"), mode=config.stand_in_delivery)


def development_gateway(stand_in, api_version: str) -> StripeGateway:
    """The production StripeGateway whose SDK talks to `stand_in` in process (anything with FakeStripe's handle)."""
    # No network: no timeout applies, and nothing is worth retrying.
    client = build_stripe_client(DEVELOPMENT_KEY, api_version=api_version, timeout=0, max_retries=0,
                                 http_client=InProcessHTTPClient(stand_in))
    return StripeGateway(client)
