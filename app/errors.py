"""The one error envelope: every exception, from every path, becomes it here.

What each error means (status, code, message, Retry-After) lives on its class in
`app/services/errors.py`; this module only maps the exceptions that are not ours
(Werkzeug's routing and body errors, the store's outages, anything unexpected) onto
those classes, and writes the envelope.
"""

from __future__ import annotations

import logging

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

from app.request_ids import current_request_id
from app.services import errors
from app.stores.base import StoreUnavailable

log = logging.getLogger(__name__)

# Werkzeug's own errors (routing, body limits, content types) → our classes. A 400 from Werkzeug
# is a request it could not parse at all, so it gets a message of its own.
HTTP_ERRORS: dict[int, errors.AppError] = {
    400: errors.ValidationFailed("The request could not be understood."),
    404: errors.NotFound(),
    405: errors.MethodNotAllowed(),
    413: errors.PayloadTooLarge(),
    415: errors.UnsupportedMediaType(),
}


def error_response(error: errors.AppError, headers: dict[str, str] | None = None):
    """The envelope for `error`, with its Retry-After and headers."""
    body = {"code": error.code, "message": error.message}
    if error.details:
        body["details"] = error.details
    body["request_id"] = current_request_id()
    response = jsonify({"error": body})
    response.status_code = error.status
    response.headers.update(error.headers)
    if error.retry_after is not None:
        response.headers["Retry-After"] = str(error.retry_after)
    response.headers.update(headers or {})
    return response


def register_error_handlers(app: Flask) -> None:
    """Map every exception to the envelope."""

    @app.errorhandler(errors.AppError)
    def app_error(exc: errors.AppError):
        return error_response(exc)

    @app.errorhandler(StoreUnavailable)
    def store_unavailable(exc: StoreUnavailable):
        log.error("store unavailable: %s", exc)
        return error_response(errors.ServiceUnavailable())

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        # A routing redirect would carry a Location built from the Host header: never send one.
        code = 404 if (exc.code or 500) < 400 else exc.code
        error = HTTP_ERRORS.get(code, errors.AppError())
        valid = getattr(exc, "valid_methods", None)
        headers = {"Allow": ", ".join(valid)} if exc.code == 405 and valid else None
        return error_response(error, headers)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("unhandled error")
        return error_response(errors.AppError())
