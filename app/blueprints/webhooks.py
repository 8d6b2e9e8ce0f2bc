"""/webhooks: Stripe's deliveries, authenticated by their signature, not by Clerk."""

from flask import Blueprint, request

from app.extensions import services
from app.http import request_body

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")
bp.auth = "stripe-signature"


@bp.before_request
def limit_per_address():
    services().rate_limiter.hit("webhook", request.remote_addr or "unknown")


@bp.post("/stripe")
def stripe_event():
    webhooks = services().webhooks
    event = webhooks.parse(request_body(), request.headers.get("Stripe-Signature"))
    delivery = webhooks.process(event)
    return ({"received": True, "duplicate": True} if delivery.duplicate else {"received": True}), 200
