"""Routes that describe themselves: one declaration validates, serialises and documents.

    @endpoint(bp, "GET", "/products/<raw_id:product_id>", ids=("product_id",), query=NoQuery,
              response=ProductEnvelope, errors=(NotFound, UpstreamError))
    def get_product(product_id):
        return services().catalog.get_product(product_id)

The wrapper loads the query string and the JSON body with their schemas (the view gets them as
`query` and `body`), checks path ids, calls the view, and dumps what it returns with the response
schema. `app/openapi.py` reads the same declaration (`view.endpoint`) to write the OpenAPI
document, so the document cannot say something the route does not do.
"""

from __future__ import annotations

import functools
import hashlib
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

from cachetools import LRUCache
from flask import Blueprint, Response, current_app, request
from marshmallow import Schema
from werkzeug.routing import BaseConverter

from app.request_limits import json_body
from app.schemas.common import load, load_query, validate_id
from app.services.errors import AppError


class RawIdConverter(BaseConverter):
    """`<raw_id:...>`: any non-empty rest of the path, newlines and slashes included; views validate it."""

    part_isolating = False
    regex = r"[\s\S]+"


@dataclass
class Reply:
    """A view's answer when the status or headers are not the declared defaults."""

    data: Any
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    # Set when the same key always means the same body: the body is then encoded once (a bounded memo per
    # route), sent with a strong ETag, and an If-None-Match that matches gets a 304 with no body.
    memo: Any = None


@dataclass(frozen=True)
class Endpoint:
    """What a route takes and answers: read by the wrapper and by the OpenAPI document."""

    method: str
    rule: str
    summary: str
    response: Schema
    status: int = 200
    also: tuple[int, ...] = ()            # other success statuses the view may answer with
    query: Schema | None = None
    body: Schema | None = None
    raw_body: Schema | None = None        # documented only: the view reads the raw bytes itself (webhooks)
    ids: tuple[str, ...] = ()             # path arguments that must be Stripe-style ids
    errors: tuple[type[AppError], ...] = ()
    headers: dict[str, str] = field(default_factory=dict)  # response headers worth documenting


def endpoint(bp: Blueprint, method: str, rule: str, *, response: type[Schema], status: int = 200,
             also: tuple[int, ...] = (), query: type[Schema] | None = None, body: type[Schema] | None = None,
             raw_body: type[Schema] | None = None, ids: tuple[str, ...] = (), errors: tuple[type[AppError], ...] = (),
             headers: dict[str, str] | None = None, constant: bool = False) -> Callable:
    """Register the decorated view on `bp` with its schemas (each built once, here).

    `constant`: the view's answer never changes (liveness): dumped and encoded at its first request only.
    """

    def register(view: Callable) -> Callable:
        spec = Endpoint(method=method, rule=rule, summary=(view.__doc__ or view.__name__).strip().splitlines()[0],
                        response=response(), status=status, also=also, query=query() if query else None,
                        body=body() if body else None, raw_body=raw_body() if raw_body else None, ids=ids, errors=errors, headers=headers or {})

        if constant:
            encoded_body: list[bytes] = []

            @functools.wraps(view)
            def run_constant() -> Response:
                if not encoded_body:
                    encoded_body.append(current_app.json.response(spec.response.dump(view())).get_data())
                return Response(encoded_body[0], spec.status, mimetype="application/json")

            run_constant.endpoint = spec
            bp.add_url_rule(rule, view_func=run_constant, methods=[method])
            return run_constant

        @functools.wraps(view)
        def run(**path: str) -> tuple:
            for name in spec.ids:
                validate_id(path[name], name)
            if spec.query is not None:
                path["query"] = queries.load(request)
            if spec.body is not None:
                path["body"] = load(spec.body, json_body())
            answer = view(**path)
            if not isinstance(answer, Reply):
                answer = Reply(answer)
            if answer.memo is not None:
                return encoded.respond(answer, lambda: spec.response.dump(answer.data), answer.status or spec.status)
            return spec.response.dump(answer.data), answer.status or spec.status, answer.headers

        encoded = EncodedOnce()
        queries = QueryMemo(spec.query) if spec.query is not None else None
        run.endpoint = spec
        bp.add_url_rule(rule, view_func=run, methods=[method])
        return run

    return register


class QueryMemo:
    """A route's query strings, loaded once each: apps send the same few over and over. Only what loaded
    is kept (an error is worked out again each time); a flood of distinct strings only refills it."""

    def __init__(self, schema: Schema, size: int = 256):
        self.schema, self.size = schema, size
        self._loaded: dict[bytes, dict] = {}

    def load(self, request) -> dict:
        raw = request.query_string
        found = self._loaded.get(raw)
        if found is None:
            found = load_query(self.schema, request.args)
            if len(self._loaded) >= self.size:
                self._loaded.clear()
            self._loaded[raw] = found
        return dict(found)  # the view's own copy


class EncodedOnce:
    """Bodies encoded once per memo key (a bounded LRU: one-off keys push out only each other), with ETags."""

    def __init__(self, size: int = 256):
        self._bodies: LRUCache = LRUCache(maxsize=size)
        self._lock = threading.Lock()

    def respond(self, answer: Reply, dump: Callable[[], Any], status: int) -> Response:
        with self._lock:
            found = self._bodies.get(answer.memo)
        if found is None:
            body = current_app.json.response(dump()).get_data()  # exactly what jsonify would send
            found = (body, f'"{hashlib.sha256(body).hexdigest()[:32]}"')
            with self._lock:
                self._bodies[answer.memo] = found
        body, etag = found
        # Authenticated but the same for every user: a client may keep it, and must ask again each time.
        headers = {**answer.headers, "ETag": etag, "Cache-Control": "private, no-cache"}
        if revalidated(request._get_current_object(), etag):
            return Response(status=304, headers=headers)
        return Response(body, status, headers=headers, mimetype="application/json")


def revalidated(current, etag: str) -> bool:
    """Whether the request's If-None-Match names this ETag, compared strongly (werkzeug's `contains`: a `W/`
    tag does not match). An app sends back the one tag it was given, so that exact header is recognised
    without parsing it; any other is parsed (a list, `*`)."""
    given = current.headers.get("If-None-Match")
    return bool(given) and (given == etag or current.if_none_match.contains(etag[1:-1]))



def register_url_rules(app) -> None:
    """Before any blueprint: the `raw_id` converter; and "//" in a path stays a 404 (Werkzeug would answer
    it with a redirect whose Location comes from the Host header)."""
    app.url_map.converters["raw_id"] = RawIdConverter
    app.url_map.merge_slashes = False
