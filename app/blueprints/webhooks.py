"""/webhooks: Stripe's deliveries, authenticated by their signature, not by Clerk."""

from flask import Blueprint, request

from app.extensions import services
from app.http import request_body
from app.services.errors import DomainError

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")
bp.auth = "stripe-signature"


@bp.post("/stripe")
def stripe_event():
    webhooks, limiter = services().webhooks, services().rate_limiter
    address = request.remote_addr or "unknown"
    try:
        event = webhooks.parse(request_body(), request.headers.get("Stripe-Signature"))
    except DomainError:
        # Rejected deliveries count in a bucket of their own, so junk cannot starve Stripe's.
        limiter.hit("webhook_rejected", address)
        raise
    limiter.hit("webhook", address)
    delivery = webhooks.process(event)
    return ({"received": True, "duplicate": True} if delivery.duplicate else {"received": True}), 200
