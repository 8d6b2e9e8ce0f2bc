"""How each blueprint is authenticated: the Clerk before_request hook, and the declarations.

Every blueprint says how its routes are authenticated, in `bp.auth`: `protect_with_clerk(bp)`
attaches the hook below, `public(bp)`, `signed_by_stripe(bp)` and `signed_by_svix(bp)` opt out of it
visibly (the webhook routes check Stripe's or Svix's signature themselves). tests/api/test_route_auth.py refuses a
blueprint that declares nothing. The verifier itself is a service (app/services/clerk/).
"""

from __future__ import annotations

import functools
import logging
from typing import Callable

from flask import Blueprint, g, request

from app.services_container import services
from app.metrics import CLERK_VERIFICATIONS
from app.services.clerk import InvalidToken, KeySetUnavailable, bearer_token
from app.services.errors import Unauthorized, UpstreamError

log = logging.getLogger(__name__)

CLERK, PUBLIC, STRIPE_SIGNATURE, METRICS_TOKEN = "clerk", "public", "stripe-signature", "metrics-token"
SVIX_SIGNATURE = "svix-signature"
AUTH_MODES = (CLERK, PUBLIC, STRIPE_SIGNATURE, SVIX_SIGNATURE, METRICS_TOKEN)
VERIFIED = CLERK_VERIFICATIONS.labels("ok")  # counted on every signed-in request: its series, looked up once


def require_clerk_user() -> None:
    """before_request: a valid Clerk session token, or 401; then the user's rate limit (RATE_LIMIT_USER).
    Sets g.clerk_user_id and g.clerk_claims."""
    current = request._get_current_object()  # looked up once: this runs for every signed-in request
    if current.method == "OPTIONS":  # CORS preflights carry no credentials
        return
    token = bearer_token(current.headers.get("Authorization"))
    if token is None:
        CLERK_VERIFICATIONS.labels("missing").inc()
        raise Unauthorized()
    built = services()
    try:
        claims = built.verifier.verify(token)
    except InvalidToken as exc:
        log.info("token refused: %s", exc)
        CLERK_VERIFICATIONS.labels("refused").inc()
        raise Unauthorized() from None
    except KeySetUnavailable:
        log.error("Clerk key set unavailable")
        CLERK_VERIFICATIONS.labels("unavailable").inc()
        raise UpstreamError("The authentication service is unavailable.") from None
    VERIFIED.inc()
    scope = g._get_current_object()
    scope.clerk_user_id = user = claims["sub"]
    scope.clerk_claims = claims
    built.rate_limiter.hit("user", user)


def protect_with_clerk(blueprint: Blueprint) -> Blueprint:
    """Every route of `blueprint` needs a Clerk session token, and counts against the user's rate limit."""
    blueprint.before_request(require_clerk_user)
    blueprint.auth = CLERK
    return blueprint


def calls_stripe(*, purchase: bool = False) -> Callable:
    """Decorates a view (under `@endpoint`) that calls Stripe: while it runs, the caller holds one of their
    STRIPE_IN_FLIGHT_PER_USER turns, and a `purchase` (which makes objects at Stripe) first counts against
    RATE_LIMIT_PURCHASE. Only behind protect_with_clerk (it needs the caller). A request the wrapper refuses
    (a bad id, query or body) never reaches the view: it takes no turn and counts as no purchase."""
    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def with_a_turn(**arguments):
            built, user = services(), g.clerk_user_id
            if purchase:
                built.rate_limiter.hit("purchase", user)
            built.stripe_in_flight.enter(user)
            try:
                return view(**arguments)
            finally:
                built.stripe_in_flight.leave(user)

        return with_a_turn

    return decorate


def public(blueprint: Blueprint) -> Blueprint:
    """Every route of `blueprint` is public by design (liveness, readiness, the API's description)."""
    blueprint.auth = PUBLIC
    return blueprint


def signed_by_stripe(blueprint: Blueprint) -> Blueprint:
    """The routes of `blueprint` check a Stripe-Signature over the raw body instead of a token."""
    blueprint.auth = STRIPE_SIGNATURE
    return blueprint


def signed_by_svix(blueprint: Blueprint) -> Blueprint:
    """The routes of `blueprint` check a Svix signature (Clerk's webhooks) over the raw body instead of a token."""
    blueprint.auth = SVIX_SIGNATURE
    return blueprint


def require_metrics_token() -> None:
    """before_request: `Authorization: Bearer <METRICS_TOKEN>`, compared in constant time, or 401."""
    from app.metrics import token_matches

    if not token_matches(bearer_token(request.headers.get("Authorization")), services().config.metrics_token or ""):
        raise Unauthorized()


def protect_with_metrics_token(blueprint: Blueprint) -> Blueprint:
    """The scraper's routes: only with the METRICS_TOKEN bearer token (the blueprint exists only with one)."""
    blueprint.before_request(require_metrics_token)
    blueprint.auth = METRICS_TOKEN
    return blueprint
