"""Where Clerk's public keys come from: one PEM, none, or a remote JWKS cached and refetched sparingly."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Protocol

import jwt
import requests

from app.metrics import CLERK_KEY_FETCHES

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


def _daemon_thread(work: Callable[[], None]) -> None:
    """Run `work` on a daemon thread: a slow Clerk holds up neither requests nor shutdown."""
    threading.Thread(target=work, name="clerk-jwks-refresh", daemon=True).start()


class RemoteJwks:
    """A JWKS fetched over HTTP with `requests`, cached, refetched sparingly.

    A request whose key is cached never waits: once `ttl` has passed it starts one refresh
    through `spawn` (a daemon thread) and is answered from the cached keys meanwhile. Only a
    request that cannot be answered otherwise waits for a fetch: the very first one, and one
    with an unknown `kid` (maybe a rotation). One fetch at most runs at a time, and fetches
    start at most once per `cooldown`, whatever starts them.
    """

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
        spawn: Callable[[Callable[[], None]], None] = _daemon_thread,
    ):
        self.url, self.ttl, self.cooldown, self.timeout = url, ttl, cooldown, timeout
        self._headers = headers or {}
        self._session = session or requests.Session()
        self._clock, self._spawn = clock, spawn
        # (keys, when fetched), replaced whole in one assignment, so requests read it without the lock.
        self._cached: tuple[dict[str, Any], float | None] = ({}, None)
        self._attempted_at: float | None = None  # last fetch started, whatever came of it
        self._running: threading.Event | None = None  # set when the fetch in progress ends
        self._lock = threading.Lock()
        self.fetch_count = 0

    @property
    def kids(self) -> list[str]:
        """The key ids currently cached."""
        return sorted(self._cached[0])

    def key_for(self, kid: str | None) -> Any:
        if not kid:
            return None
        keys, fetched_at = self._cached
        key = keys.get(kid)
        if key is not None:
            if self._clock() - fetched_at >= self.ttl:
                self._start(background=True)
            return key
        self._start(background=False)
        keys, fetched_at = self._cached
        if fetched_at is None:
            raise KeySetUnavailable(f"no key set from {self.url}")
        return keys.get(kid)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the fetch in progress, if any; True when none is left running."""
        running = self._running
        return running is None or running.wait(timeout)

    def _start(self, *, background: bool) -> None:
        """Start a fetch if none runs and the cooldown allows; in the foreground, wait for the one running."""
        with self._lock:
            running, now = self._running, self._clock()
            start = running is None and (self._attempted_at is None or now - self._attempted_at >= self.cooldown)
            if start:
                running = self._running = threading.Event()
                self._attempted_at = now
                self.fetch_count += 1
        if not start:
            if running is not None and not background:
                running.wait(self.timeout + 1)  # bounded: a hung fetch must not hold requests forever
            return
        if not background:
            self._fetch(running)
            return
        try:
            self._spawn(lambda: self._fetch(running))
        except RuntimeError:  # no thread to be had (shutting down): let a later request try again
            log.warning("Clerk key set refresh could not start")
            self._finish(running)

    def _fetch(self, done: threading.Event) -> None:
        try:
            keys = self._download()
            if keys:
                self._cached = (keys, self._clock())
        finally:
            self._finish(done)

    def _finish(self, done: threading.Event) -> None:
        with self._lock:
            self._running = None
        done.set()

    def _download(self) -> dict[str, Any] | None:
        """The usable keys Clerk publishes now, or None (logged) when there are none to use."""
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
            CLERK_KEY_FETCHES.labels("failed").inc()
            return None
        if not keys:
            # An empty set is no rotation (Clerk always publishes its signing key): keep ours.
            log.warning("Clerk key set from %s has no usable key; keeping the %d cached", self.url,
                        len(self._cached[0]))
            CLERK_KEY_FETCHES.labels("empty").inc()
            return None
        CLERK_KEY_FETCHES.labels("ok").inc()
        return keys
