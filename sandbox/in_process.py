"""The stand-in as the stripe SDK's HTTP client: the production gateway code, with no network."""

from __future__ import annotations

import io
import json
import uuid
from typing import Any, Mapping
from urllib.parse import urlsplit

import stripe


class InProcessHTTPClient(stripe.HTTPClient):
    """Hands each request the SDK would send over HTTP to a stand-in's `handle`, and its answer back."""

    name = "in-process"

    def __init__(self, stand_in):
        super().__init__()
        self.stand_in = stand_in

    def request(self, method: str, url: str, headers: Mapping[str, str] | None, post_data: Any = None,
                *, _usage=None) -> tuple[str, int, Mapping[str, str]]:
        """(body, status, headers), as the SDK expects from an HTTP client."""
        parts = urlsplit(url)
        params = post_data if method.lower() == "post" else parts.query
        status, body = self.stand_in.handle(method.upper(), parts.path, params, dict(headers or {}))
        return json.dumps(body), status, {"Content-Type": "application/json", "Request-Id": f"req_{uuid.uuid4().hex}"}

    def request_stream(self, method: str, url: str, headers: Mapping[str, str] | None, post_data: Any = None,
                       *, _usage=None) -> tuple[Any, int, Mapping[str, str]]:
        """The same answer as a byte stream (the SDK streams only for files and reports)."""
        body, status, headers = self.request(method, url, headers, post_data)
        return io.BytesIO(body.encode()), status, headers

    def close(self) -> None:
        """Nothing to close: no connection was opened."""
