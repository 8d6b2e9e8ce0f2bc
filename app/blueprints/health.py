"""Liveness and readiness: public by design."""

from flask import Blueprint

from app.auth import public
from app.services_container import services
from app.routing import endpoint
from app.schemas.envelopes import Liveness, Readiness
from app.services.errors import ServiceUnavailable

bp = public(Blueprint("health", __name__))
ALIVE = {"status": "ok", "service": "tatame-payments"}


@endpoint(bp, "GET", "/", response=Liveness, constant=True)
def liveness():
    """Liveness: answers without calling anything external."""
    return ALIVE


@endpoint(bp, "GET", "/health/ready", response=Readiness, errors=(ServiceUnavailable,))
def readiness():
    """Readiness: 200 when the store answers, else 503 naming the failed check."""
    ok, checks = services().readiness()
    if not ok:
        raise ServiceUnavailable("A dependency is not ready.", checks)
    return {"status": "ok", "checks": checks}
