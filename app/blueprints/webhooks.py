"""/webhooks: Stripe's deliveries, authenticated by their signature, not by Clerk."""

from flask import Blueprint, request

from app.auth import signed_by_stripe
from app.services_container import services
from app.request_limits import request_body
from app.routing import endpoint
from app.schemas.envelopes import StripeEvent, WebhookReceipt
from app.services.errors import (EventFailed, EventInProgress, InvalidPayload, InvalidSignature, MissingSignature,
                                 PayloadTooLarge, RateLimited, ServiceUnavailable)

bp = signed_by_stripe(Blueprint("webhooks", __name__, url_prefix="/webhooks"))


@endpoint(bp, "POST", "/stripe", raw_body=StripeEvent, response=WebhookReceipt,
          errors=(MissingSignature, InvalidSignature, InvalidPayload, EventInProgress, PayloadTooLarge, RateLimited,
                  EventFailed, ServiceUnavailable))
def stripe_event():
    """A Stripe event delivery, verified over the raw body and processed exactly once."""
    delivery = services().webhooks.receive(request_body(), request.headers.get("Stripe-Signature"),
                                           request.remote_addr or "unknown")
    return {"received": True, "duplicate": True} if delivery.duplicate else {"received": True}
