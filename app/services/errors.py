"""The one error model: every error the service answers with is a class here.

Each class carries its HTTP status, the contract's code, a default message and, where
the client should wait, `retry_after`. Services raise them (they stay plain Python:
nothing here knows Flask); `app/errors.py` turns any of them into the JSON envelope.
"""

from __future__ import annotations


class AppError(Exception):
    """Base of every error answered on purpose; subclasses set status, code and message."""

    status = 500
    code = "INTERNAL_ERROR"
    message = "An unexpected error occurred."
    retry_after: int | None = None
    headers: dict[str, str] = {}

    def __init__(self, message: str | None = None, details: dict | None = None, *, retry_after: int | None = None):
        self.message = message or type(self).message
        super().__init__(self.message)
        self.details = details
        if retry_after is not None:
            self.retry_after = retry_after


class ValidationFailed(AppError):
    """The caller's input is wrong; `details` maps field names to messages."""

    status, code, message = 400, "VALIDATION_ERROR", "Invalid request parameters."


class MissingSignature(AppError):
    status, code, message = 400, "MISSING_SIGNATURE", "The Stripe-Signature header is missing."


class InvalidSignature(AppError):
    status, code, message = 400, "INVALID_SIGNATURE", "The webhook signature is invalid."


class InvalidPayload(AppError):
    status, code, message = 400, "INVALID_PAYLOAD", "The webhook body is not a Stripe event."


class Unauthorized(AppError):
    """No token, or one that fails any check: one message for every reason (no oracle)."""

    status, code, message = 401, "UNAUTHORIZED", "Missing or invalid authentication token."
    headers = {"WWW-Authenticate": 'Bearer realm="tatame"'}


class NotFound(AppError):
    """The object (or route) does not exist, or is not the caller's."""

    status, code, message = 404, "NOT_FOUND", "The requested resource was not found."


class MethodNotAllowed(AppError):
    status, code, message = 405, "METHOD_NOT_ALLOWED", "This method is not allowed on this path."


class EventInProgress(AppError):
    """Another delivery of the same event holds a live claim."""

    status, code, message, retry_after = 409, "EVENT_IN_PROGRESS", "This event is being processed; retry later.", 5


class CustomerInProgress(AppError):
    """Another request is still creating this user's Stripe customer."""

    status, code, retry_after = 409, "CUSTOMER_IN_PROGRESS", 5
    message = "The customer is being created; try again shortly."


class SubscriptionExists(AppError):
    """A recurring purchase while the user has a live subscription: plan changes go through the portal."""

    status, code = 409, "SUBSCRIPTION_EXISTS"
    message = "You already have a subscription; change plans in the customer portal."


class PurchaseInProgress(AppError):
    """Another request of the same user is creating the same purchase right now."""

    status, code, retry_after = 409, "PURCHASE_IN_PROGRESS", 2
    message = "This purchase is being prepared; try again shortly."


class PayloadTooLarge(AppError):
    status, code, message = 413, "PAYLOAD_TOO_LARGE", "The request body is too large."


class UnsupportedMediaType(AppError):
    status, code, message = 415, "UNSUPPORTED_MEDIA_TYPE", "This endpoint accepts application/json only."


class RateLimited(AppError):
    status, code, message, retry_after = 429, "RATE_LIMITED", "Too many requests; slow down.", 60


class EventFailed(AppError):
    """The event's handler raised; the event is recorded as failed and will be retried."""

    message = "The event could not be processed; it will be retried."


class UpstreamError(AppError):
    """Stripe (or another upstream) failed; the message is safe to show, the cause is logged."""

    status, code, message = 502, "SERVICE_ERROR", "The payment service is unavailable."


class IdempotencyConflict(UpstreamError):
    """Stripe refused an idempotency key already used with other parameters (or in use right now)."""

    message = "The payment service refused a conflicting request."


class UpstreamBusy(UpstreamError):
    """Every slot for Stripe calls in this process is taken (Stripe is slow): fail fast, ask for a retry."""

    message, retry_after = "The payment service is busy; retry shortly.", 2


class ServiceUnavailable(AppError):
    """The store (or another dependency this instance needs) cannot be reached."""

    status, code, message, retry_after = 503, "SERVICE_UNAVAILABLE", "The service is temporarily unavailable.", 5


# Every error class, by status: what the OpenAPI document and the HTTP-error mapping read.
ALL = (ValidationFailed, MissingSignature, InvalidSignature, InvalidPayload, Unauthorized, NotFound,
       MethodNotAllowed, EventInProgress, CustomerInProgress, SubscriptionExists, PurchaseInProgress,
       PayloadTooLarge, UnsupportedMediaType, RateLimited, EventFailed, UpstreamError, ServiceUnavailable)
