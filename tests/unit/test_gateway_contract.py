"""The gateway contract against the stand-in, reached as development reaches it and as the API tests do."""

import pytest

from app.gateways import STATE_FILE, development_gateway
from sandbox.stripe import FakeStripe
from config import STRIPE_API_VERSION
from tests.gateway_contract import GatewayContract
from tests.sandbox_stripe import Observed


class TestDevelopmentGateway(GatewayContract):
    """StripeGateway over the in-process adapter, state in a file like a development server's."""

    @pytest.fixture
    def stand_in(self, tmp_path):
        return Observed(FakeStripe(str(tmp_path / STATE_FILE)))

    @pytest.fixture
    def gateway(self, stand_in):
        return development_gateway(stand_in, STRIPE_API_VERSION)


class TestStripeGatewayOverResponses(GatewayContract):
    """StripeGateway, the SDK and requests, with `responses` handing api.stripe.com's requests to the stand-in."""

    @pytest.fixture
    def stand_in(self, stripe_stand_in):
        return stripe_stand_in

    @pytest.fixture
    def gateway(self, stripe_gateway, stand_in):
        return stripe_gateway
