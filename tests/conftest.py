"""Fixtures: app → client → helpers (auth_headers, signed_webhook, the sandbox's Stripe)."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import replace

import jwt
import pytest
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from app import create_app
from app.services.webhook_signature import sign_header
from config import Config

STRIPE_KEY = "sk_test_fake_key_for_tests_only"
WEBHOOK_SECRET = "whsec_fake_secret_for_tests_only"
STRIPE_API = "https://api.stripe.com"
KID = "test-kid-1"
CLERK_ISSUER = "https://clerk.tatame.example"
WEB_ORIGIN = "https://app.tatame.example"


def pytest_configure(config):
    config.addinivalue_line("markers", "sandbox_only: needs the sandbox's test hooks; skipped against real Stripe")


def _pem_pair():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    return key, public


@pytest.fixture(scope="session")
def rsa_keys():
    """(private key, public PEM) of the test 'Clerk instance'."""
    return _pem_pair()


@pytest.fixture(scope="session")
def other_rsa_keys():
    return _pem_pair()


@pytest.fixture
def make_token(rsa_keys):
    """Mint a Clerk-shaped session token; override claims or headers to forge bad ones."""

    def make(user_id="user_test_123", *, key=None, headers=None, algorithm="RS256", **claims):
        now = int(time.time())
        payload = {"sub": user_id, "iat": now, "nbf": now, "exp": now + 60, "sid": "sess_test", "sts": "active",
                   "azp": "http://localhost:3001"}
        payload.update(claims)
        payload = {k: v for k, v in payload.items() if v is not None}
        return jwt.encode(payload, key or rsa_keys[0], algorithm=algorithm, headers={"kid": KID, **(headers or {})})

    return make


@pytest.fixture
def session_token(make_token):
    """A token shaped like Clerk's v2 session tokens: from the web app (`azp`: its origin) or the native app (none)."""

    def make(app="web", user_id="user_2fakeTestUserId", **claims):
        shaped = {"azp": WEB_ORIGIN if app == "web" else None, "fva": [0, -1], "iss": CLERK_ISSUER,
                  "sid": "sess_2fakeTestSessionId", "v": 2}
        return make_token(user_id, **{**shaped, **claims})

    return make


@pytest.fixture
def config(tmp_path, rsa_keys) -> Config:
    return Config(
        app_env="test",
        stripe_secret_key=STRIPE_KEY,
        stripe_webhook_secrets=(WEBHOOK_SECRET,),
        stripe_max_retries=0,
        stripe_timeout=2,
        clerk_jwt_key=rsa_keys[1],
        instance_path=str(tmp_path),
        sqlite_path=str(tmp_path / "tatame.sqlite3"),
        rate_limit_enabled=False,
        customer_wait_seconds=5,
        access_log_buffer=0,  # each line at once, for tests that read them; test_access_log.py tests the batches
    )


@pytest.fixture
def app(config):
    return create_app(config)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def auth_headers(make_token):
    def headers(user_id="user_test_123", **claims):
        return {"Authorization": f"Bearer {make_token(user_id, **claims)}"}

    return headers


@pytest.fixture
def stripe_api():
    """Stripe's API faked at the network edge; unmatched calls fail the test."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def sandbox_stripe(stripe_api):
    """The sandbox's Stripe answering api.stripe.com: tests run StripeGateway, the SDK and the emulator.

    Answers a test registers itself on `stripe_api` (failures) take precedence over the sandbox's Stripe."""
    from tests.sandbox_stripe import Observed, register

    observed = Observed()
    register(stripe_api, observed)
    return observed


@pytest.fixture
def stripe_gateway(config):
    """StripeGateway with the test key, talking to api.stripe.com (that is, to `responses`)."""
    from app.gateways.stripe import StripeGateway, build_stripe_client

    return StripeGateway(build_stripe_client(config.stripe_secret_key, api_version=config.stripe_api_version,
                                             timeout=config.stripe_timeout, max_retries=0))


def make_event(event_type="customer.created", obj=None, event_id=None) -> dict:
    return {
        "id": event_id or f"evt_test_{uuid.uuid4().hex[:20]}",
        "object": "event",
        "api_version": "2026-10-28.endive",
        "created": int(time.time()),
        "livemode": False,
        "pending_webhooks": 1,
        "type": event_type,
        "data": {"object": obj or {"id": "cus_test_1", "object": "customer", "metadata": {}}},
    }


@pytest.fixture
def signed_webhook():
    """(body, headers) for an event signed like Stripe signs it."""

    def sign(event, secret=WEBHOOK_SECRET, timestamp=None):
        body = json.dumps(event).encode() if not isinstance(event, bytes) else event
        return body, {"Stripe-Signature": sign_header(body, secret, timestamp), "Content-Type": "application/json"}

    return sign


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """A throwaway redis-server (Debian's package); skipped without it, unless TATAME_REQUIRE_REDIS=1."""
    from tests.servers import RedisServer

    server = RedisServer(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


def sandboxed_app(config: Config, **collaborators):
    """The app as wsgi.py builds it outside production: the sandbox stands in for each account not configured."""
    from sandbox.compose import compose

    return create_app(config, **{**compose(config).collaborators(), **collaborators})


def with_config(config: Config, **changes) -> Config:
    return replace(config, **changes)


def fake_svix_secret(text: str) -> str:
    """A Svix-style signing secret (`whsec_` + base64) made from an obviously fake phrase, built at run time so
    that no secret-shaped string sits in the repository."""
    import base64

    return "whsec_" + base64.b64encode(text.encode()).decode()
