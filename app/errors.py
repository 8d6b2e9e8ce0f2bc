"""The one error envelope: every exception, from every path, becomes it here."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from app.services import errors as domain
from app.stores.base import StoreUnavailable

log = logging.getLogger(__name__)
REQUEST_ID_KEY = "tatame.request_id"  # where the request-id middleware (app/http.py) leaves the id


class ApiError(Exception):
    """An HTTP error with the contract's code, raised by views and hooks."""

    def __init__(self, status: int, code: str, message: str, details: dict | None = None, headers=None):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.details, self.headers = details, headers or {}


class Unauthorized(ApiError):
    def __init__(self):
        super().__init__(401, "UNAUTHORIZED", "Missing or invalid authentication token.",
                         headers={"WWW-Authenticate": 'Bearer realm="tatame"'})


# Domain error → (status, code). The message comes from the error itself.
DOMAIN_ERRORS: dict[type[domain.DomainError], tuple[int, str]] = {
    domain.ValidationFailed: (400, "VALIDATION_ERROR"),
    domain.MissingSignature: (400, "MISSING_SIGNATURE"),
    domain.InvalidSignature: (400, "INVALID_SIGNATURE"),
    domain.InvalidPayload: (400, "INVALID_PAYLOAD"),
    domain.NotFound: (404, "NOT_FOUND"),
    domain.EventInProgress: (409, "EVENT_IN_PROGRESS"),
    domain.CustomerInProgress: (409, "CUSTOMER_IN_PROGRESS"),
    domain.RateLimited: (429, "RATE_LIMITED"),
    domain.EventFailed: (500, "INTERNAL_ERROR"),
    domain.UpstreamError: (502, "SERVICE_ERROR"),
}

# Werkzeug's own errors (routing, body limits, content types) → code and a plain message.
HTTP_ERRORS = {
    400: ("VALIDATION_ERROR", "The request could not be understood."),
    404: ("NOT_FOUND", "The requested resource was not found."),
    405: ("METHOD_NOT_ALLOWED", "This method is not allowed on this path."),
    413: ("PAYLOAD_TOO_LARGE", "The request body is too large."),
    415: ("UNSUPPORTED_MEDIA_TYPE", "This endpoint accepts application/json only."),
}


def error_response(status: int, code: str, message: str, details: dict | None = None, headers=None):
    body = {"code": code, "message": message}
    if details:
        body["details"] = details
    body["request_id"] = request.environ.get(REQUEST_ID_KEY)
    response = jsonify({"error": body})
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def register_error_handlers(app: Flask) -> None:
    """Map every exception to the envelope."""

    @app.errorhandler(ApiError)
    def api_error(exc: ApiError):
        return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)

    @app.errorhandler(domain.DomainError)
    def domain_error(exc: domain.DomainError):
        status, code = next(
            (pair for cls, pair in DOMAIN_ERRORS.items() if isinstance(exc, cls)), (500, "INTERNAL_ERROR")
        )
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, domain.RateLimited) else None
        if isinstance(exc, (domain.EventInProgress, domain.CustomerInProgress)):
            headers = {"Retry-After": "5"}
        return error_response(status, code, exc.message, exc.details, headers)

    @app.errorhandler(StoreUnavailable)
    def store_unavailable(exc: StoreUnavailable):
        log.error("store unavailable: %s", exc)
        return error_response(503, "SERVICE_UNAVAILABLE", "The service is temporarily unavailable.",
                              headers={"Retry-After": "5"})

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        code, message = HTTP_ERRORS.get(exc.code or 500, ("INTERNAL_ERROR", "An unexpected error occurred."))
        valid = getattr(exc, "valid_methods", None)
        headers = {"Allow": ", ".join(valid)} if exc.code == 405 and valid else None
        if (exc.code or 500) >= 500:
            code, message = "INTERNAL_ERROR", "An unexpected error occurred."
        return error_response(exc.code or 500, code, message, headers=headers)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("unhandled error")
        return error_response(500, "INTERNAL_ERROR", "An unexpected error occurred.")
