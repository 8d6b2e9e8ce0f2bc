"""The Clerk key source against a real Clerk instance."""

import os

import pytest

from app.services.clerk import RemoteJwks, build_verifier


@pytest.fixture(scope="module")
def verifier(live_config):
    verifier = build_verifier(live_config)
    if verifier is None:
        pytest.skip("set CLERK_PUBLISHABLE_KEY, CLERK_JWKS_URL, CLERK_SECRET_KEY or CLERK_JWT_KEY for the Clerk checks")
    return verifier


def test_key_set_is_fetched(verifier):
    if not isinstance(verifier.keys, RemoteJwks):
        pytest.skip("CLERK_JWT_KEY is networkless: nothing to fetch")
    verifier.keys.key_for("a-kid-that-does-not-exist")  # forces the first fetch
    assert verifier.keys.fetch_count == 1 and verifier.keys.kids, "the key set came back empty"


def test_a_real_session_token_verifies(verifier):
    token = os.environ.get("CLERK_TEST_TOKEN")
    if not token:
        pytest.skip("set CLERK_TEST_TOKEN to a fresh session token (e.g. from `await getToken()` in the app)")
    claims = verifier.verify(token)
    assert claims["sub"].startswith("user_")
