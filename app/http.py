"""Request plumbing shared by the blueprints: request ids and headers, body limits, JSON bodies.

The per-request work here runs on every request, so it sits as low as it can: request ids and
the default headers in a small WSGI middleware, body limits in the request class.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import time
from typing import Callable

from flask import Flask, Request, request
from werkzeug.routing import BaseConverter

from app.errors import REQUEST_ID_KEY
from app.services.errors import PayloadTooLarge, UnsupportedMediaType, ValidationFailed

ROUTE_KEY = "tatame.route"  # the matched werkzeug Rule (ApiRequest.url_rule), for the access line and metrics
USER_KEY = "tatame.clerk_user_id"  # the verified Clerk user (app/auth.py), for the access line
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


class RawIdConverter(BaseConverter):
    """Matches any non-empty rest of the path, newlines and slashes included; views validate it."""

    part_isolating = False
    regex = r"[\s\S]+"


class RequestIds:
    """Request ids unique across processes and restarts without a syscall each: a random prefix per
    process (new in every forked worker) and a counter. They name a request; they are not secrets."""

    def __init__(self):
        self._reset()
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._prefix = os.urandom(8).hex()
        self._counter = itertools.count(1)  # next() on a count is atomic under the GIL

    def next(self) -> str:
        return f"{self._prefix}{next(self._counter):016x}"


REQUEST_IDS = RequestIds()
DEFAULT_HEADERS = (("X-Content-Type-Options", "nosniff"),)
Observer = Callable[[dict, int, float], None]  # (environ, status, seconds) once the answer has started


class RequestEdge:
    """The WSGI edge of every request: its id (the client's, when sane), the default headers, and, once
    the app has answered, the observers (the access line, the request metrics), which read the environ:
    the route template (ROUTE_KEY), the Clerk user (USER_KEY) and the client (after ProxyFix).

    One plain function around the app instead of a before and after hook each: Flask's hooks go through
    its context-local proxies, which cost more than the work they did (make bench).
    """

    def __init__(self, app, observers: list[Observer] | None = None, answers=None):
        self.app = app
        self.observers = observers if observers is not None else []
        self.answers = answers  # PreparedAnswers (app/answers.py): what the edge may send without the app

    def __call__(self, environ, start_response):
        given = environ.get("HTTP_X_REQUEST_ID")
        request_id = given if given and SANE_REQUEST_ID.fullmatch(given) else REQUEST_IDS.next()
        environ[REQUEST_ID_KEY] = request_id
        started = time.perf_counter()
        answered = []

        def start(status, headers, exc_info=None):
            answered.append(status)
            headers.append(("X-Request-ID", request_id))
            headers.extend(DEFAULT_HEADERS)
            if not any(name.lower() == "cache-control" for name, _ in headers):
                headers.append(("Cache-Control", "no-store"))
            return start_response(status, headers, exc_info)

        body = self.answers.answer(environ, start) if self.answers is not None else None
        if body is None:
            body = self.app(environ, start)
        if answered and self.observers:
            seconds, status = time.perf_counter() - started, int(answered[-1][:3])
            for observe in self.observers:
                observe(environ, status, seconds)
        return body


class ApiFlask(Flask):
    """Flask, answering OPTIONS with an empty 204 and its Allow header (Flask's default is an empty text/html 200)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._sync_functions: dict = {}

    def ensure_sync(self, func):
        # Flask asks this of every hook and view on every request, and the answer (is it a coroutine
        # function?) never changes for a function: asked once each.
        made = self._sync_functions.get(func)
        if made is None:
            if len(self._sync_functions) >= 1024:  # functions made per request (after_this_request) pass through
                self._sync_functions.clear()
            made = self._sync_functions[func] = super().ensure_sync(func)
        return made

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

    # Flask sets the matched rule here; it is kept in the environ, where the request edge reads it.
    @property
    def url_rule(self):
        return self.environ.get(ROUTE_KEY)

    @url_rule.setter
    def url_rule(self, rule) -> None:
        self.environ[ROUTE_KEY] = rule

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
    app.wsgi_app = edge = RequestEdge(app.wsgi_app)
    app.extensions["tatame.edge"] = edge

    @app.before_request
    def refuse_oversized_bodies():
        # Also on routes that never read a body: an oversized one is a 413 everywhere.
        if "CONTENT_LENGTH" in request.environ and (request.content_length or 0) > request.body_limit:
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
