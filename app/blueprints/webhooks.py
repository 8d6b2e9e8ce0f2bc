"""/webhooks: Stripe's deliveries, authenticated by their signature, not by Clerk."""

from flask import Blueprint, request

from app.auth import signed_by_stripe
from app.extensions import services
from app.http import request_body

bp = signed_by_stripe(Blueprint("webhooks", __name__, url_prefix="/webhooks"))


@bp.post("/stripe")
def stripe_event():
    delivery = services().webhooks.receive(request_body(), request.headers.get("Stripe-Signature"),
                                           request.remote_addr or "unknown")
    return ({"received": True, "duplicate": True} if delivery.duplicate else {"received": True}), 200
