"""Clerk's Backend API for the one call we make: writing a user's `public_metadata.billing`.

Through Clerk's official SDK (clerk-backend-api), which speaks httpx: the sandbox hands in an
httpx client whose transport it serves (sandbox/clerk.py), as it does for Stripe. The SDK's own
retries are off (its default keeps retrying for up to an hour): the outbox retries, with its
own backoff, and never holds a request while it does.
"""

from __future__ import annotations

import httpx
from clerk_backend_api import Clerk, models
from clerk_backend_api.utils import BackoffStrategy, RetryConfig

NO_RETRIES = RetryConfig("none", BackoffStrategy(0, 0, 1, 0), False)


class PublishFailed(Exception):
    """Clerk did not take the metadata (unreachable, slow, 5xx, 429, refused): try again later."""


def build_clerk(secret_key: str, *, timeout: float, client: httpx.Client | None = None,
                server_url: str | None = None) -> Clerk:
    """A Clerk SDK client with a bounded timeout and no retries of its own."""
    return Clerk(bearer_auth=secret_key, server_url=server_url, timeout_ms=int(timeout * 1000),
                 client=client or httpx.Client(timeout=timeout), retry_config=NO_RETRIES)


class ClerkMetadata:
    """Writes a user's billing state where every Tatame service reads it: Clerk's public metadata."""

    def __init__(self, clerk: Clerk):
        self.clerk = clerk

    def publish_billing(self, clerk_user_id: str, billing: dict) -> bool:
        """Set `public_metadata.billing` (Clerk merges it into the rest of the public metadata). False when Clerk
        has no such user any more (nothing to publish to); PublishFailed for anything worth trying again."""
        try:
            self.clerk.users.update_metadata(user_id=clerk_user_id, public_metadata={"billing": billing})
        except models.ClerkBaseError as exc:
            if exc.status_code == 404:
                return False
            raise PublishFailed(f"Clerk answered {exc.status_code}") from None
        except httpx.HTTPError as exc:
            raise PublishFailed(f"Clerk unreachable: {type(exc).__name__}") from None
        return True
