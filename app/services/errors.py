"""Domain errors raised by the services; `app/errors.py` maps each to an HTTP answer."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error a service raises on purpose."""

    def __init__(self, message: str, details: dict | None = None):
        super().__init__(message)
        self.message = message
        self.details = details


class ValidationFailed(DomainError):
    """The caller's input is wrong; `details` maps field names to messages."""


class NotFound(DomainError):
    """The object does not exist upstream."""


class UpstreamError(DomainError):
    """Stripe (or another upstream) failed; the message is safe to show, the cause is logged."""


class CustomerInProgress(DomainError):
    """Another request is still creating this user's Stripe customer."""


class MissingSignature(DomainError):
    pass


class InvalidSignature(DomainError):
    pass


class InvalidPayload(DomainError):
    pass


class EventInProgress(DomainError):
    """Another delivery of the same event holds a live claim."""


class EventFailed(DomainError):
    """The event's handler raised; the event is recorded as failed and will be retried."""


class RateLimited(DomainError):
    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after
