"""Liveness and readiness: public by design."""

from flask import Blueprint, jsonify

from app.auth import public
from app.extensions import services
from app.services.errors import ServiceUnavailable

bp = public(Blueprint("health", __name__))


@bp.get("/")
def liveness():
    """Never calls anything external."""
    return jsonify(status="ok", service="tatame-payments")


@bp.get("/health/ready")
def readiness():
    """200 when the store answers, else 503 naming the failed check."""
    ok, checks = services().readiness()
    if not ok:
        raise ServiceUnavailable("A dependency is not ready.", checks)
    return jsonify(status="ok", checks=checks)
