"""/webhooks/clerk: Clerk's user events, delivered and signed by Svix, authenticated by that signature."""

from flask import Blueprint, request

from app.auth import signed_by_svix
from app.services_container import services
from app.request_limits import request_body
from app.routing import endpoint
from app.schemas.envelopes import ClerkEvent, WebhookReceipt
from app.services.errors import (CustomerInProgress, EventFailed, EventInProgress, InvalidPayload, InvalidSignature,
                                 MissingSignature, PayloadTooLarge, RateLimited, ServiceUnavailable)

bp = signed_by_svix(Blueprint("clerk_webhooks", __name__, url_prefix="/webhooks"))


@endpoint(bp, "POST", "/clerk", raw_body=ClerkEvent, response=WebhookReceipt,
          errors=(MissingSignature, InvalidSignature, InvalidPayload, EventInProgress, CustomerInProgress,
                  PayloadTooLarge, RateLimited, EventFailed, ServiceUnavailable))
def clerk_event():
    """A Clerk user event, verified with Svix over the raw body and processed exactly once."""
    delivery = services().clerk_webhooks.receive(request_body(), request.headers, request.remote_addr or "unknown")
    return {"received": True, "duplicate": True} if delivery.duplicate else {"received": True}
