"""The OpenAPI 3 document, written from the routes' own declarations (app/routing.py).

apispec's marshmallow plugin turns the schemas into JSON Schema; everything else (paths,
parameters, statuses, security) is read off each route's `Endpoint`. `make openapi` writes
the committed copy (openapi.json); a test fails when the two differ.
"""

from __future__ import annotations

import json
import re

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask

from app.auth import CLERK, STRIPE_SIGNATURE, SVIX_SIGNATURE
from app.routing import Endpoint
from app.schemas.common import STRIPE_ID_PATTERN
from app.schemas.envelopes import ErrorEnvelope
from app.services.errors import (AppError, PayloadTooLarge, RateLimited, Unauthorized, UnsupportedMediaType,
                                 ValidationFailed)

TITLE, VERSION = "Tatame payments API", "1.0.0"
SECURITY = {
    CLERK: {"clerk": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                      "description": "A Clerk session token (RS256)."}},
    STRIPE_SIGNATURE: {"stripeSignature": {"type": "apiKey", "in": "header", "name": "Stripe-Signature",
                                           "description": "Stripe's HMAC-SHA256 signature of the raw body (v1)."}},
    SVIX_SIGNATURE: {"svixSignature": {"type": "apiKey", "in": "header", "name": "svix-signature",
                                       "description": "Svix's HMAC-SHA256 signature (v1) of the svix-id, the"
                                                      " svix-timestamp and the raw body; all three headers are"
                                                      " required."}},
}
# Errors any route of a kind can answer, on top of what it declares.
IMPLIED = {CLERK: (Unauthorized, RateLimited)}
REQUEST_ID = {"X-Request-ID": {"description": "The request's id (the client's own when it sent a sane one).",
                               "schema": {"type": "string"}}}


def _schema_name(resolver_schema) -> str:
    cls = resolver_schema if isinstance(resolver_schema, type) else type(resolver_schema)
    return cls.__name__


def build_openapi(app: Flask) -> dict:
    """The whole document for `app`'s routes, in a stable order."""
    spec = APISpec(title=TITLE, version=VERSION, openapi_version="3.0.3",
                   plugins=[MarshmallowPlugin(schema_name_resolver=_schema_name)],
                   info={"description": "Plans, customers and Stripe webhooks for the Tatame apps. Every error is "
                                        "the ErrorEnvelope; every response carries X-Request-ID."})
    for scheme in SECURITY.values():
        for name, definition in scheme.items():
            spec.components.security_scheme(name, definition)
    spec.components.schema("ErrorEnvelope", schema=ErrorEnvelope)
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, sorted(r.methods))):
        declared: Endpoint | None = getattr(app.view_functions[rule.endpoint], "endpoint", None)
        if declared is None:
            continue
        auth = app.blueprints[rule.endpoint.split(".")[0]].auth
        spec.path(path=_openapi_path(rule.rule),
                  operations={declared.method.lower(): _operation(declared, auth, rule.rule)})
    return spec.to_dict()


def _openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def _operation(declared: Endpoint, auth: str, rule: str) -> dict:
    operation: dict = {"summary": declared.summary, "operationId": f"{declared.method.lower()}_{_slug(rule)}"}
    parameters = [{"in": "path", "name": name, "required": True,
                   "schema": {"type": "string", "pattern": STRIPE_ID_PATTERN, "maxLength": 255}}
                  for name in declared.ids]
    if declared.query is not None:
        parameters.append({"in": "query", "schema": declared.query})
    if parameters and (declared.ids or declared.query.fields):
        operation["parameters"] = parameters
    if declared.body is not None:
        operation["requestBody"] = {"required": False, "content": {"application/json": {"schema": declared.body}}}
    if declared.raw_body is not None:
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": declared.raw_body}}}
    if auth in SECURITY:
        operation["security"] = [{name: []} for name in SECURITY[auth]]
    headers = {**REQUEST_ID, **{name: {"description": text, "schema": {"type": "string"}}
                                for name, text in declared.headers.items()}}
    responses = {str(status): {"description": "Success.", "headers": headers,
                               "content": {"application/json": {"schema": declared.response}}}
                 for status in (declared.status, *declared.also) if status != 304}
    if 304 in declared.also:
        responses["304"] = {"description": "Not modified: If-None-Match named this body's ETag. No body.",
                            "headers": headers}
    takes_input = declared.query is not None or declared.body is not None or declared.ids
    errors = [*declared.errors, *IMPLIED.get(auth, ()), *((ValidationFailed,) if takes_input else ()),
              *((PayloadTooLarge, UnsupportedMediaType) if declared.body is not None else ()), AppError]
    errors = [error for error in errors if not (declared.raw_body is not None and error is ValidationFailed)]
    for status in sorted({error.status for error in errors}):
        codes = sorted({error.code for error in errors if error.status == status})
        responses[str(status)] = {"description": ", ".join(codes), "headers": REQUEST_ID,
                                  "content": {"application/json": {"schema": "ErrorEnvelope"}}}
    operation["responses"] = responses
    return operation


def _slug(rule: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", _openapi_path(rule).lower()).strip("_") or "root"



def dumps(document: dict) -> str:
    """The committed form of the document: stable, readable, one trailing newline."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
