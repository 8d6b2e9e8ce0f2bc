"""The gateway contract against the sandbox's Stripe, reached as development reaches it and as the API tests do."""

import pytest

from config import STRIPE_API_VERSION
from sandbox.compose import STATE_FILE
from sandbox.in_process import sandbox_gateway
from sandbox.stripe import SandboxStripe
from tests.gateway_contract import GatewayContract
from tests.sandbox_stripe import Observed


class TestDevelopmentGateway(GatewayContract):
    """StripeGateway over the in-process adapter, state in a file like a development server's."""

    @pytest.fixture
    def sandbox_stripe(self, tmp_path):
        return Observed(SandboxStripe(str(tmp_path / STATE_FILE)))

    @pytest.fixture
    def gateway(self, sandbox_stripe):
        return sandbox_gateway(sandbox_stripe, STRIPE_API_VERSION)


class TestStripeGatewayOverResponses(GatewayContract):
    """StripeGateway, the SDK and requests, with `responses` handing api.stripe.com's requests to the sandbox's Stripe
    (the `sandbox_stripe` fixture of tests/conftest.py)."""

    @pytest.fixture
    def gateway(self, stripe_gateway, sandbox_stripe):
        return stripe_gateway
