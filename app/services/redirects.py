"""Where Stripe may send a member back: only to allowed origins, compared exactly.

A redirect address (success_url, cancel_url, return_url) must start with an allowed origin:
the same scheme, host and port, no user info, nothing a browser would read differently
(backslashes, control characters, spaces). `https://app.example` allows neither
`https://app.example.evil.com` nor `https://evil.com/?https://app.example`. App schemes
(`tatame://`) are allowed when configured, for the mobile app. Plain http only outside production.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from app.services.errors import ValidationFailed

DEFAULT_PORTS = {"http": 80, "https": 443}
UNSAFE = re.compile(r"[\x00-\x20\x7f\\]")  # controls, spaces and backslashes: browsers "repair" them
MAX_LENGTH = 2048


class RedirectPolicy:
    """Checks redirect addresses against the allowed origins and app schemes."""

    def __init__(self, origins, *, allow_http: bool):
        self.allow_http = allow_http
        self.origins: set[tuple[str, str, int]] = set()
        self.app_schemes: set[str] = set()
        for origin in origins:
            parsed = urlsplit(origin.strip())
            scheme = parsed.scheme.lower()
            if scheme in DEFAULT_PORTS:
                if scheme == "http" and not allow_http:
                    continue
                if parsed.hostname:
                    self.origins.add((scheme, parsed.hostname.lower(), parsed.port or DEFAULT_PORTS[scheme]))
            elif scheme:
                self.app_schemes.add(scheme)

    def check(self, field: str, url: str) -> str:
        """`url` when it goes to an allowed origin; else ValidationFailed on `field`."""
        if not isinstance(url, str) or len(url) > MAX_LENGTH or UNSAFE.search(url):
            raise _refused(field)
        try:
            parsed = urlsplit(url)
            port = parsed.port
        except ValueError:
            raise _refused(field) from None
        scheme = parsed.scheme.lower()
        if scheme in self.app_schemes and url[len(scheme):].startswith("://"):
            return url
        if scheme not in DEFAULT_PORTS or (scheme == "http" and not self.allow_http):
            raise _refused(field)
        if "@" in parsed.netloc or not parsed.hostname:
            raise _refused(field)
        if (scheme, parsed.hostname.lower(), port or DEFAULT_PORTS[scheme]) not in self.origins:
            raise _refused(field)
        return url


def _refused(field: str) -> ValidationFailed:
    return ValidationFailed(details={field: ["Must be an address on an allowed origin of the app."]})
