"""Stripe webhook deliveries: verify, claim in the database, handle once, record the outcome."""

from __future__ import annotations

import json
import logging
import re
import uuid
from dataclasses import dataclass
from typing import Mapping

from app.services.catalog import CatalogService
from app.services.errors import EventFailed, EventInProgress, InvalidPayload
from app.services.webhook_handlers import Handler, HandlerContext
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
        catalog: CatalogService,
        secrets: tuple[str, ...],
        tolerance: int = 300,
        lease_seconds: float = 60.0,
    ):
        self.store, self.handlers, self.catalog = store, handlers, catalog
        self.secrets, self.tolerance, self.lease_seconds = secrets, tolerance, lease_seconds

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
            raise InvalidPayload("The webhook body is not a Stripe event.")
        return event

    def process(self, event: dict) -> Delivery:
        """Run the event's handler unless it already ran; raises EventInProgress or EventFailed."""
        event_id, event_type = event["id"], event["type"]
        token = uuid.uuid4().hex
        claim = self.store.claim_event(event_id, event_type, token, self.lease_seconds)
        if claim.outcome is ClaimOutcome.PROCESSED:
            return Delivery(event_id, event_type, duplicate=True)
        if claim.outcome is ClaimOutcome.IN_PROGRESS:
            raise EventInProgress("This event is being processed; retry later.")
        handler = self.handlers.get(event_type)
        try:
            if handler is not None:
                handler(event, HandlerContext(store=self.store, catalog=self.catalog))
            else:
                log.info("stripe event recorded without a handler",
                         extra={"event_id": event_id, "event_type": event_type})
        except Exception as exc:
            log.exception("handler for %s failed on %s (attempt %d)", event_type, event_id, claim.event.attempts)
            self.store.mark_event_failed(event_id, token, f"{type(exc).__name__}: {exc}")
            raise EventFailed("The event could not be processed; it will be retried.") from exc
        if not self.store.mark_event_processed(event_id, token):
            log.warning("event %s finished after its lease was taken over", event_id)
        return Delivery(event_id, event_type, duplicate=False)
