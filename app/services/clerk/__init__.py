"""Clerk session-token verification (RS256, PyJWT): key sources and the verifier, no Flask.

Keys come from, in this order: CLERK_JWT_KEY (a PEM, no network), CLERK_JWKS_URL,
the Frontend API's JWKS derived from CLERK_PUBLISHABLE_KEY, or the Backend API's
/v1/jwks with CLERK_SECRET_KEY. A fetched key set is cached for `ttl` seconds, then
refreshed in the background; an unknown `kid` refetches it at most once per `cooldown`,
so a rotated key is taken within seconds and forged tokens cannot flood Clerk.
"""

from app.services.clerk.keys import KeySetUnavailable, KeySource, NoKeySource, RemoteJwks, StaticKey
from app.services.clerk.verifier import (
    LEEWAY_SECONDS,
    MAX_TOKEN_BYTES,
    ClerkVerifier,
    InvalidToken,
    bearer_token,
    build_verifier,
)

__all__ = [
    "LEEWAY_SECONDS", "MAX_TOKEN_BYTES", "ClerkVerifier", "InvalidToken", "KeySetUnavailable", "KeySource",
    "NoKeySource", "RemoteJwks", "StaticKey", "bearer_token", "build_verifier",
]
