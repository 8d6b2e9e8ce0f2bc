"""Fixtures for the multi-process tests: gunicorn with several workers, the sandbox's Stripe over HTTP, Redis."""

import pytest

from tests.conftest import STRIPE_KEY, WEBHOOK_SECRET
from tests.servers import SandboxStripeServer, Gunicorn


@pytest.fixture
def stripe_server():
    server = SandboxStripeServer(create_delay=0.2)
    yield server
    server.stop()


@pytest.fixture
def start_gunicorn(tmp_path, rsa_keys, stripe_server):
    """Start the app under gunicorn; every variable that matters is set, so a developer's .env cannot leak in."""
    started = []

    def start(app="tests.system.app:app", workers=4, **env):
        base = {
            "STRIPE_SECRET_KEY": STRIPE_KEY, "STRIPE_API_BASE": stripe_server.url, "STRIPE_MAX_RETRIES": "0",
            "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET, "CLERK_JWT_KEY": rsa_keys[1], "CLERK_JWKS_URL": "",
            "CLERK_PUBLISHABLE_KEY": "", "CLERK_SECRET_KEY": "", "SUPABASE_URL": "", "SUPABASE_SERVICE_ROLE_KEY": "",
            "REDIS_URL": "", "LOG_LEVEL": "INFO",
            "TATAME_TEST_HANDLER_LOG": str(tmp_path / "handler.log"),
            "TATAME_TEST_SLOW_MARKER": str(tmp_path / "slow.marker"),
        }
        server = Gunicorn({**base, **env}, tmp_path, app=app, workers=workers)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
