"""The gateway contract against a real Stripe test account (the catalog is whatever the account holds).

Billing runs too: checkout sessions are created and expired, a portal session is created (the
account's portal settings must have been saved once in the dashboard, or that test skips), and
subscriptions are left `incomplete`, canceled when their customer is deleted at the end. Tests
that need a customer to pay (the sandbox's hooks) skip here.
"""

import pytest

from app.gateways.stripe import StripeGateway, build_stripe_client
from tests.gateway_contract import GatewayContract


class TestLiveStripeGateway(GatewayContract):
    live = True
    search_seconds = 90.0  # Stripe: search "is not suitable for read-after-write", usually under a minute

    @pytest.fixture
    def gateway(self, live_config):
        key = live_config.stripe_secret_key or ""
        if not key.startswith(("sk_test_", "rk_test_")):
            pytest.skip("set STRIPE_SECRET_KEY to a test-mode key (sk_test_...) to run the Stripe live checks")
        client = build_stripe_client(key, api_version=live_config.stripe_api_version,
                                     timeout=live_config.stripe_timeout, max_retries=live_config.stripe_max_retries,
                                     api_base=live_config.stripe_api_base)
        return StripeGateway(client)
