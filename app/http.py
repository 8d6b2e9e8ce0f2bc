"""Request plumbing shared by the blueprints: request ids, body limits, JSON bodies, headers."""

from __future__ import annotations

import re
import uuid

from flask import Flask, g, request

from app.errors import ApiError
from app.services.errors import ValidationFailed

SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def register_request_hooks(app: Flask, *, max_json_body: int, max_webhook_body: int) -> None:
    """Request ids on every response, per-route body limits, and safe default headers."""

    @app.before_request
    def assign_request_id():
        given = request.headers.get("X-Request-ID", "")
        g.request_id = given if SANE_REQUEST_ID.match(given) else uuid.uuid4().hex

    @app.before_request
    def limit_body():
        limit = max_webhook_body if request.blueprint == "webhooks" else max_json_body
        request.max_content_length = limit  # also caps chunked bodies as they are read
        if request.content_length is not None and request.content_length > limit:
            raise ApiError(413, "PAYLOAD_TOO_LARGE", f"The request body is over {limit} bytes.")

    @app.after_request
    def finish(response):
        response.headers["X-Request-ID"] = g.get("request_id") or uuid.uuid4().hex
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers.setdefault("Cache-Control", "no-store")
        return response


def json_body() -> dict:
    """The request's JSON object: {} when there is no body, 415 for another media type."""
    if not request.get_data(cache=True):
        return {}
    if request.mimetype != "application/json":
        raise ApiError(415, "UNSUPPORTED_MEDIA_TYPE", "This endpoint accepts application/json only.")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ValidationFailed("Invalid request parameters.", {"body": ["Must be a JSON object."]})
    return body
