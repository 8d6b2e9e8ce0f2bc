"""Request plumbing shared by the blueprints: request ids, body limits, JSON bodies, headers."""

from __future__ import annotations

import json
import re
import uuid

from flask import Flask, g, request
from werkzeug.routing import BaseConverter

from app.errors import ApiError
from app.services.errors import ValidationFailed

SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


class RawIdConverter(BaseConverter):
    """Matches any non-empty rest of the path, newlines and slashes included; views validate it."""

    part_isolating = False
    regex = r"[\s\S]+"


def register_request_hooks(app: Flask, *, max_json_body: int, max_webhook_body: int) -> None:
    """Request ids on every response, per-route body limits, and safe default headers."""
    app.url_map.converters["raw_id"] = RawIdConverter

    @app.before_request
    def assign_request_id():
        given = request.headers.get("X-Request-ID", "")
        g.request_id = given if SANE_REQUEST_ID.fullmatch(given) else uuid.uuid4().hex

    @app.before_request
    def limit_body():
        g.body_limit = limit = max_webhook_body if request.blueprint == "webhooks" else max_json_body
        # Werkzeug cuts a streamed (chunked) body at max_content_length without a word; one byte
        # more lets request_body() tell "exactly the limit" from "over it".
        request.max_content_length = limit + 1
        if request.content_length is not None and request.content_length > limit:
            raise too_large(limit)

    @app.after_request
    def finish(response):
        response.headers["X-Request-ID"] = g.get("request_id") or uuid.uuid4().hex
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers.setdefault("Cache-Control", "no-store")
        return response


def too_large(limit: int) -> ApiError:
    return ApiError(413, "PAYLOAD_TOO_LARGE", f"The request body is over {limit} bytes.")


def request_body() -> bytes:
    """The raw body; over the route's limit (streamed bodies included) is a 413."""
    data = request.get_data(cache=True)
    if len(data) > g.body_limit:
        raise too_large(g.body_limit)
    return data


def json_body() -> dict:
    """The request's JSON object: {} when there is no body, 415 for another media type."""
    data = request_body()
    if not data:
        return {}
    if request.mimetype != "application/json":
        raise ApiError(415, "UNSUPPORTED_MEDIA_TYPE", "This endpoint accepts application/json only.")
    try:
        body = json.loads(data)
        # Lone surrogates ("\ud800") parse, but no upstream can take them: refuse them here.
        json.dumps(body, ensure_ascii=False).encode("utf-8")
    except (ValueError, RecursionError):  # UnicodeError is a ValueError; deep nesting is a RecursionError
        raise ValidationFailed("Invalid request parameters.", {"body": ["Must be valid JSON in UTF-8."]}) from None
    if not isinstance(body, dict):
        raise ValidationFailed("Invalid request parameters.", {"body": ["Must be a JSON object."]})
    return body
