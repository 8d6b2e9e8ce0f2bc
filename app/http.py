"""Request plumbing shared by the blueprints: request ids and headers, body limits, JSON bodies.

The per-request work here runs on every request, so it sits as low as it can: request ids and
the default headers in a small WSGI middleware, body limits in the request class.
"""

from __future__ import annotations

import json
import re
import time
import uuid

from flask import Flask, Request, request
from werkzeug.routing import BaseConverter

from app.errors import REQUEST_ID_KEY
from app.services.errors import PayloadTooLarge, UnsupportedMediaType, ValidationFailed

STARTED_KEY = "tatame.started"  # when the request entered the app (perf_counter), for the access line
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


class RawIdConverter(BaseConverter):
    """Matches any non-empty rest of the path, newlines and slashes included; views validate it."""

    part_isolating = False
    regex = r"[\s\S]+"


class RequestIdMiddleware:
    """Gives every request an id (the client's, when sane) and every response the default headers."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        given = environ.get("HTTP_X_REQUEST_ID", "")
        request_id = given if SANE_REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        environ[REQUEST_ID_KEY] = request_id
        environ[STARTED_KEY] = time.perf_counter()

        def start(status, headers, exc_info=None):
            headers.append(("X-Request-ID", request_id))
            headers.append(("X-Content-Type-Options", "nosniff"))
            if not any(name.lower() == "cache-control" for name, _ in headers):
                headers.append(("Cache-Control", "no-store"))
            return start_response(status, headers, exc_info)

        return self.app(environ, start)


class ApiFlask(Flask):
    """Flask, answering OPTIONS with an empty 204 and its Allow header (Flask's default is an empty text/html 200)."""

    def make_default_options_response(self):
        response = super().make_default_options_response()
        response.status_code = 204
        response.set_data(b"")
        response.headers.pop("Content-Type", None)
        response.headers.pop("Content-Length", None)
        return response


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


def register_request_handling(app: Flask, *, max_json_body: int, max_webhook_body: int) -> None:
    """Request ids and default headers on every response, per-route body limits, the raw-id converter."""
    app.url_map.converters["raw_id"] = RawIdConverter
    # Werkzeug would answer "//" in a path with a redirect whose Location comes from the Host header.
    app.url_map.merge_slashes = False
    app.request_class = type("TatameRequest", (ApiRequest,), {"json_limit": max_json_body,
                                                              "webhook_limit": max_webhook_body})
    app.wsgi_app = RequestIdMiddleware(app.wsgi_app)

    @app.before_request
    def refuse_oversized_bodies():
        # Also on routes that never read a body: an oversized one is a 413 everywhere.
        if request.content_length is not None and request.content_length > request.body_limit:
            raise too_large(request.body_limit)


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
