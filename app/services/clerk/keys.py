"""Where Clerk's public keys come from: one PEM, none, or a remote JWKS cached and refetched sparingly."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Protocol

import jwt
import requests

log = logging.getLogger(__name__)


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
        cooldown: float = 5,
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
        if not keys:
            # An empty set is no rotation (Clerk always publishes its signing key): keep ours.
            log.warning("Clerk key set from %s has no usable key; keeping the %d cached", self.url, len(self._keys))
            return
        self._keys, self._fetched_at = keys, now
