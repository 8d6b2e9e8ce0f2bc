"""Liveness and readiness: public by design."""

from flask import Blueprint, jsonify

from app.errors import error_response
from app.extensions import services

bp = Blueprint("health", __name__)
bp.auth = "public"


@bp.get("/")
def liveness():
    """Never calls anything external."""
    return jsonify(status="ok", service="tatame-payments")


@bp.get("/health/ready")
def readiness():
    """200 when the store answers, else 503 naming the failed check."""
    ok, checks = services().readiness()
    if not ok:
        return error_response(503, "SERVICE_UNAVAILABLE", "A dependency is not ready.", checks)
    return jsonify(status="ok", checks=checks)
