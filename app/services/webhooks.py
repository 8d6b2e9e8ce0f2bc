"""Webhook deliveries: verify, claim in the database, handle once, record the outcome.

Stripe's are verified and parsed here; Clerk's (app/services/clerk_webhooks.py) are claimed and run
through the same `run_once`, in the same events table."""

from __future__ import annotations

import json
import logging
import re
import uuid
from dataclasses import dataclass
from typing import Callable, Mapping

from app.metrics import HANDLER_SECONDS, WEBHOOKS, timed
from app.services.errors import AppError, EventFailed, EventInProgress, InvalidPayload
from app.services.rate_limit import RateLimiter
from app.services.webhook_handlers import Handler, HandlerContext
from app.services.webhook_shapes import check_handled_object
from app.services.webhook_signature import verify_signature
from app.stores.base import ClaimOutcome, Store

log = logging.getLogger(__name__)

# \Z, not $: "$" also matches before a trailing newline.
EVENT_ID = re.compile(r"^evt_[A-Za-z0-9_]{1,250}\Z")
EVENT_TYPE = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+){1,5}\Z")


@dataclass(frozen=True)
class Delivery:
    event_id: str
    event_type: str
    duplicate: bool


class WebhookService:
    """Turns a signed delivery into exactly one run of the event's handler."""

    def __init__(
        self,
        store: Store,
        handlers: Mapping[str, Handler],
        *,
        context: HandlerContext,
        limiter: RateLimiter,
        secrets: tuple[str, ...],
        tolerance: int = 300,
        lease_seconds: float = 60.0,
    ):
        self.store, self.handlers, self.context, self.limiter = store, handlers, context, limiter
        self.secrets, self.tolerance, self.lease_seconds = secrets, tolerance, lease_seconds

    def receive(self, payload: bytes, signature_header: str | None, sender: str) -> Delivery:
        """A delivery from `sender` (the client address): verified, rate-limited, processed once."""
        try:
            event = self.parse(payload, signature_header)
        except AppError as exc:
            WEBHOOKS.labels("unknown", f"rejected_{exc.code.lower()}").inc()
            # Rejected deliveries count in a bucket of their own, so junk cannot starve Stripe's.
            self.limiter.hit("webhook_rejected", sender)
            raise
        self.limiter.hit("webhook", sender)
        return self.process(event)

    def parse(self, payload: bytes, signature_header: str | None) -> dict:
        """The verified event, or MissingSignature / InvalidSignature / InvalidPayload."""
        verify_signature(payload, signature_header, self.secrets, self.tolerance)
        try:
            event = json.loads(payload)
        except (ValueError, RecursionError):
            raise InvalidPayload("The webhook body is not JSON.") from None
        if not (
            isinstance(event, dict)
            and event.get("object") == "event"
            and isinstance(event.get("id"), str) and EVENT_ID.match(event["id"])
            and isinstance(event.get("type"), str) and EVENT_TYPE.match(event["type"])
            and isinstance(event.get("data"), dict)
            and isinstance(event["data"].get("object"), dict)
        ):
            raise InvalidPayload()
        if event["type"] in self.handlers:
            check_handled_object(event["data"]["object"])
        return event

    def process(self, event: dict) -> Delivery:
        """Run the event's handler unless it already ran; raises EventInProgress or EventFailed."""
        event_type = event["type"]
        handler = self.handlers.get(event_type)
        label = event_type if handler is not None else "unhandled"  # bounded: our handled types
        return self.run_once(event["id"], event_type, label,
                             None if handler is None else lambda: handler(event, self.context))

    def run_once(self, event_id: str, event_type: str, label: str, run: Callable[[], None] | None) -> Delivery:
        """`run` once for the delivery `event_id`, under a claim in the events table, whichever source sent it
        (Stripe's ids are evt_..., other sources' are namespaced, e.g. clerk:msg_...); None records it unhandled.
        Raises EventInProgress while another delivery holds the claim, EventFailed when `run` raises; a 409 that
        `run` raises (CustomerInProgress) is answered as itself. Either way the claim is released for a retry."""
        token = uuid.uuid4().hex
        claim = self.store.claim_event(event_id, event_type, token, self.lease_seconds)
        if claim.outcome is ClaimOutcome.PROCESSED:
            WEBHOOKS.labels(label, "duplicate").inc()
            return Delivery(event_id, event_type, duplicate=True)
        if claim.outcome is ClaimOutcome.IN_PROGRESS:
            WEBHOOKS.labels(label, "in_progress").inc()
            raise EventInProgress()
        try:
            if run is not None:
                with timed(HANDLER_SECONDS, label):
                    run()
            else:
                log.info("event recorded without a handler", extra={"event_id": event_id, "event_type": event_type})
        except Exception as exc:
            self.store.mark_event_failed(event_id, token, f"{type(exc).__name__}: {exc}")
            if isinstance(exc, AppError) and exc.status == 409:
                # Not yet (what the handler needs is being made by another request): the sender retries later.
                WEBHOOKS.labels(label, "deferred").inc()
                raise
            log.exception("handler for %s failed on %s (attempt %d)", event_type, event_id, claim.event.attempts)
            WEBHOOKS.labels(label, "failed").inc()
            raise EventFailed() from exc
        if not self.store.mark_event_processed(event_id, token):
            log.warning("event %s finished after its lease was taken over", event_id)
        WEBHOOKS.labels(label, "processed").inc()
        return Delivery(event_id, event_type, duplicate=False)
