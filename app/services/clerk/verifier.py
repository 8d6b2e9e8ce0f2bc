"""The Clerk session-token check (RS256, PyJWT), and the verifier built from the Config."""

from __future__ import annotations

import threading
import time
from types import MappingProxyType
from typing import Any, Mapping
from urllib.parse import urlparse

import jwt
import requests
from cachetools import TLRUCache
from config import Config, clerk_frontend_api

from app.services.clerk.keys import KeySource, RemoteJwks, StaticKey

MAX_TOKEN_BYTES = 8192
LEEWAY_SECONDS = 5
VERIFIED_MAX_TOKENS = 4096
VERIFIED_MAX_SECONDS = 300


class InvalidToken(Exception):
    """The token failed a check; the reason is logged, never sent."""


class ClerkVerifier:
    """Checks a Clerk session token and returns its claims.

    A token that passed every check is remembered until its `exp` (at most VERIFIED_MAX_SECONDS):
    apps send the same session token for a minute, and an RS256 check per request would be
    most of what a cached catalog read costs. Only successes are remembered, keyed by the
    whole token, so a forged or altered token is always checked in full.
    """

    def __init__(self, keys: KeySource, *, issuer: str | None = None, extra_issuers=(), authorized_parties=(),
                 require_azp: bool = False):
        self.keys = keys
        self.issuer = issuer  # the one derived from the key source, when it tells
        # A Clerk proxy or a satellite domain issues tokens under another `iss`: accepted too.
        self.issuers = tuple(dict.fromkeys([issuer, *extra_issuers] if issuer else extra_issuers))
        self.authorized_parties = tuple(authorized_parties)
        self.require_azp = require_azp
        self._verified: TLRUCache = TLRUCache(
            maxsize=VERIFIED_MAX_TOKENS,
            ttu=lambda _token, claims, now: min(claims["exp"], now + VERIFIED_MAX_SECONDS),
            timer=time.time,
        )
        self._verified_lock = threading.Lock()

    def verify(self, token: str) -> Mapping[str, Any]:
        """The token's claims, read-only: the same object is handed to every caller of a cached token."""
        with self._verified_lock:
            claims = self._verified.get(token)
        if claims is not None:
            return claims
        claims = self._check(token)
        with self._verified_lock:
            self._verified[token] = claims
        return claims

    def _check(self, token: str) -> Mapping[str, Any]:
        if not token or len(token) > MAX_TOKEN_BYTES:
            raise InvalidToken("empty or oversized token")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"malformed header: {exc}") from exc
        if header.get("alg") != "RS256":
            raise InvalidToken(f"algorithm {header.get('alg')!r} refused")
        key = self.keys.key_for(header.get("kid"))
        if key is None:
            raise InvalidToken("unknown kid")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=["RS256"],
                leeway=LEEWAY_SECONDS,
                issuer=list(self.issuers) or None,  # checked (and required) once any issuer is known
                options={"require": ["exp", "sub"], "verify_aud": False},
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"{type(exc).__name__}: {exc}") from exc
        if not isinstance(claims.get("sub"), str) or not claims["sub"].strip():
            raise InvalidToken("sub is not a user id")
        if claims.get("sts") == "pending":
            raise InvalidToken("session is pending")
        self._check_azp(claims.get("azp"))
        if not isinstance(claims["exp"], (int, float)):
            raise InvalidToken("exp is not a number")
        return _frozen(claims)

    def _check_azp(self, azp) -> None:
        # Browsers send an Origin and Clerk puts it in `azp`; native apps send none, so their
        # tokens have no `azp`: refusing those is a choice (require_azp), not the default.
        if azp is None:
            if self.require_azp:
                raise InvalidToken("no azp, and one is required")
            return
        if self.authorized_parties and azp not in self.authorized_parties:
            raise InvalidToken(f"azp {azp!r} not authorized")


def _frozen(value):
    """A read-only copy of decoded JSON: objects become mapping proxies, arrays tuples."""
    if isinstance(value, dict):
        return MappingProxyType({key: _frozen(item) for key, item in value.items()})
    if isinstance(value, list):
        return tuple(_frozen(item) for item in value)
    return value


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, or None."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip() or " " in token.strip():
        return None
    return token.strip()


def build_verifier(config: Config, session: requests.Session | None = None) -> ClerkVerifier | None:
    """The verifier for the first configured key source, or None when none is configured."""
    jwks = dict(ttl=config.clerk_jwks_ttl, cooldown=config.clerk_jwks_cooldown, session=session)
    issuer = None
    if config.clerk_jwt_key:
        keys: KeySource = StaticKey(config.clerk_jwt_key)
        if config.clerk_publishable_key:
            issuer = f"https://{clerk_frontend_api(config.clerk_publishable_key)}"
    elif config.clerk_jwks_url:
        keys = RemoteJwks(config.clerk_jwks_url, **jwks)
        parsed = urlparse(config.clerk_jwks_url)
        if parsed.path == "/.well-known/jwks.json":
            issuer = f"{parsed.scheme}://{parsed.netloc}"
    elif config.clerk_publishable_key:
        issuer = f"https://{clerk_frontend_api(config.clerk_publishable_key)}"
        keys = RemoteJwks(f"{issuer}/.well-known/jwks.json", **jwks)
    elif config.clerk_secret_key:
        keys = RemoteJwks(
            f"{config.clerk_api_url}/v1/jwks",
            headers={"Authorization": f"Bearer {config.clerk_secret_key}"},
            **jwks,
        )
    else:
        return None
    return ClerkVerifier(keys, issuer=issuer, extra_issuers=config.clerk_issuers,
                         authorized_parties=config.clerk_authorized_parties,
                         require_azp=config.clerk_require_azp)
