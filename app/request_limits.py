"""Request bodies: the per-route size limits and the readers the views use (raw bytes, a JSON object)."""

from __future__ import annotations

import json

from flask import Flask, Request, request

from app.services.errors import PayloadTooLarge, UnsupportedMediaType, ValidationFailed


class ApiRequest(Request):
    """A request whose body limit depends on the route: webhooks may be larger than JSON calls."""

    json_limit = 64 * 1024
    webhook_limit = 1024 * 1024

    @property
    def body_limit(self) -> int:
        return self.webhook_limit if self.path.startswith("/webhooks/") else self.json_limit

    @property
    def max_content_length(self) -> int:
        # Werkzeug refuses a Content-Length over this with a 413, and cuts a streamed (chunked)
        # body here without a word: one byte more lets request_body() tell "the limit" from "over".
        return self.body_limit + 1


def register_body_limits(app: Flask, *, max_json_body: int, max_webhook_body: int) -> None:
    """Per-route body limits (each request checks its own when it starts: app/request_cycle.py)."""
    app.request_class = type("TatameRequest", (ApiRequest,), {"json_limit": max_json_body,
                                                              "webhook_limit": max_webhook_body})


def refuse_oversized_body(current: ApiRequest) -> None:
    """An oversized body is a 413 on every route, even one that never reads it."""
    environ = current.environ
    if "CONTENT_LENGTH" not in environ and "HTTP_TRANSFER_ENCODING" not in environ:
        return  # no body announced (most GETs): nothing to parse
    length = current.content_length
    if length is not None and length > current.body_limit:
        raise too_large(current.body_limit)


def too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"The request body is over {limit} bytes.")


def request_body() -> bytes:
    """The raw body; over the route's limit (streamed bodies included) is a 413."""
    limit = request.body_limit
    if request.content_length is not None and request.content_length > limit:
        raise too_large(limit)
    data = request.get_data(cache=True)
    if len(data) > limit:
        raise too_large(limit)
    return data


def json_body() -> dict:
    """The request's JSON object: {} when there is no body, 415 for another media type."""
    data = request_body()
    if not data:
        return {}
    if request.mimetype != "application/json":
        raise UnsupportedMediaType()
    try:
        body = json.loads(data)
        # Lone surrogates ("\ud800") parse, but no upstream can take them: refuse them here.
        json.dumps(body, ensure_ascii=False).encode("utf-8")
    except (ValueError, RecursionError):  # UnicodeError is a ValueError; deep nesting is a RecursionError
        raise ValidationFailed(details={"body": ["Must be valid JSON in UTF-8."]}) from None
    if not isinstance(body, dict):
        raise ValidationFailed(details={"body": ["Must be a JSON object."]})
    return body
