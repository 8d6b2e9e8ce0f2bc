"""Clerk session-token verification (RS256, PyJWT): key sources and the verifier, no Flask.

Keys come from, in this order: CLERK_JWT_KEY (a PEM, no network), CLERK_JWKS_URL,
the Frontend API's JWKS derived from CLERK_PUBLISHABLE_KEY, or the Backend API's
/v1/jwks with CLERK_SECRET_KEY. A fetched key set is cached for `ttl` seconds; an
unknown `kid` refetches it at most once per `cooldown`, so forged tokens cannot turn
into a flood of requests to Clerk.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Protocol
from urllib.parse import urlparse

import jwt
import requests
from cachetools import TLRUCache
from config import Config, clerk_frontend_api

log = logging.getLogger(__name__)

MAX_TOKEN_BYTES = 8192
LEEWAY_SECONDS = 5
VERIFIED_MAX_TOKENS = 4096
VERIFIED_MAX_SECONDS = 300


class InvalidToken(Exception):
    """The token failed a check; the reason is logged, never sent."""


class KeySetUnavailable(Exception):
    """The key set could not be fetched and none is cached."""


class KeySource(Protocol):
    def key_for(self, kid: str | None) -> Any:
        """The public key for `kid`, or None when unknown."""


class NoKeySource:
    """No key configured (never in development, refused by production's config): every token is refused."""

    def key_for(self, kid: str | None) -> Any:
        return None


class StaticKey:
    """One PEM public key, used whatever the token's `kid`."""

    def __init__(self, pem: str):
        self._key = _load_pem(pem)

    def key_for(self, kid: str | None) -> Any:
        return self._key


def _load_pem(pem: str):
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    key = load_pem_public_key(pem.encode())
    if not isinstance(key, RSAPublicKey):
        raise ValueError("CLERK_JWT_KEY is not an RSA public key")
    return key


class RemoteJwks:
    """A JWKS fetched over HTTP with `requests`, cached, refetched sparingly."""

    def __init__(
        self,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        ttl: float = 300,
        cooldown: float = 30,
        timeout: float = 5,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.url, self.ttl, self.cooldown, self.timeout = url, ttl, cooldown, timeout
        self._headers = headers or {}
        self._session = session or requests.Session()
        self._clock = clock
        self._keys: dict[str, Any] = {}
        self._fetched_at: float | None = None   # last successful fetch
        self._attempted_at: float | None = None  # last attempt, successful or not
        self._lock = threading.Lock()
        self.fetch_count = 0

    @property
    def kids(self) -> list[str]:
        """The key ids currently cached."""
        return sorted(self._keys)

    def key_for(self, kid: str | None) -> Any:
        if not kid:
            return None
        now = self._clock()
        key = self._keys.get(kid)
        if key is not None and self._fetched_at is not None and now - self._fetched_at < self.ttl:
            return key
        with self._lock:
            now = self._clock()
            stale = self._fetched_at is None or now - self._fetched_at >= self.ttl
            cooled = self._attempted_at is None or now - self._attempted_at >= self.cooldown
            if (stale or kid not in self._keys) and cooled:
                self._refresh(now)
            if not self._keys and self._fetched_at is None:
                raise KeySetUnavailable(f"no key set from {self.url}")
            return self._keys.get(kid)

    def _refresh(self, now: float) -> None:
        self._attempted_at = now
        self.fetch_count += 1
        try:
            response = self._session.get(self.url, headers=self._headers, timeout=self.timeout)
            response.raise_for_status()
            keys = {}
            for jwk in response.json().get("keys", []):
                if jwk.get("kty") == "RSA" and jwk.get("use", "sig") == "sig" and jwk.get("kid"):
                    keys[jwk["kid"]] = jwt.PyJWK(jwk, algorithm="RS256").key
        except (requests.RequestException, ValueError, jwt.PyJWKError, AttributeError) as exc:
            # Keep serving the keys we have: a Clerk hiccup must not log everyone out.
            log.warning("Clerk key set fetch failed (%s): %s", self.url, type(exc).__name__)
            return
        self._keys, self._fetched_at = keys, now


class ClerkVerifier:
    """Checks a Clerk session token and returns its claims.

    A token that passed every check is remembered until its `exp` (at most VERIFIED_MAX_SECONDS):
    apps send the same session token for a minute, and an RS256 check per request would be
    most of what a cached catalog read costs. Only successes are remembered, keyed by the
    whole token, so a forged or altered token is always checked in full.
    """

    def __init__(self, keys: KeySource, *, issuer: str | None = None, authorized_parties=()):
        self.keys = keys
        self.issuer = issuer
        self.authorized_parties = tuple(authorized_parties)
        self._verified: TLRUCache = TLRUCache(
            maxsize=VERIFIED_MAX_TOKENS,
            ttu=lambda _token, claims, now: min(claims["exp"], now + VERIFIED_MAX_SECONDS),
            timer=time.time,
        )
        self._verified_lock = threading.Lock()

    def verify(self, token: str) -> dict:
        with self._verified_lock:
            claims = self._verified.get(token)
        if claims is not None:
            return claims
        claims = self._check(token)
        with self._verified_lock:
            self._verified[token] = claims
        return claims

    def _check(self, token: str) -> dict:
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
                issuer=self.issuer,
                options={"require": ["exp", "sub"], "verify_aud": False},
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"{type(exc).__name__}: {exc}") from exc
        if not isinstance(claims.get("sub"), str) or not claims["sub"].strip():
            raise InvalidToken("sub is not a user id")
        if claims.get("sts") == "pending":
            raise InvalidToken("session is pending")
        if self.authorized_parties and claims.get("azp") not in self.authorized_parties:
            raise InvalidToken(f"azp {claims.get('azp')!r} not authorized")
        if not isinstance(claims["exp"], (int, float)):
            raise InvalidToken("exp is not a number")
        return claims


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
    return ClerkVerifier(keys, issuer=issuer, authorized_parties=config.clerk_authorized_parties)
