"""Clerk's webhook deliveries (sent and signed by Svix): verified with the svix library, claimed once.

Verification is `svix.webhooks.Webhook.verify` over the raw bytes and the svix-id, svix-timestamp and
svix-signature headers, with each configured secret in turn (rotation: Clerk shows the new secret
while the old one still signs). Svix's library refuses a timestamp more than 5 minutes from our
clock, either way; that tolerance is its own and not configurable. A verified delivery is then
claimed and run through the same WebhookService.run_once, in the same events table, as Stripe's:
its id is `clerk:` + the svix-id, which no Stripe event id (`evt_...`) can equal.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Mapping

from svix.webhooks import Webhook, WebhookVerificationError

from app.services.accounts import AccountService
from app.services.clerk_handlers import ClerkHandler
from app.services.errors import AppError, InvalidPayload, InvalidSignature, MissingSignature
from app.services.rate_limit import RateLimiter
from app.services.webhooks import EVENT_TYPE, Delivery, WebhookService
from app.metrics import WEBHOOKS

SOURCE = "clerk"
HEADERS = ("svix-id", "svix-timestamp", "svix-signature")
MAX_HEADER_LENGTH = 4096
MESSAGE_ID = re.compile(r"^[A-Za-z0-9_-]{1,200}\Z")  # Svix's msg_...; signed, so it is Svix's own
OBJECT_ID = re.compile(r"^[A-Za-z0-9_]{1,255}\Z")


@dataclass(frozen=True)
class ClerkWebhooks:
    """Turns a Svix-signed Clerk delivery into exactly one run of the event's handler."""

    webhooks: WebhookService
    handlers: Mapping[str, ClerkHandler]
    accounts: AccountService
    limiter: RateLimiter
    secrets: tuple[str, ...]

    def receive(self, payload: bytes, headers: Mapping[str, str], sender: str) -> Delivery:
        """A delivery from `sender` (the client address): verified, rate-limited, processed once."""
        try:
            message_id, event = self.parse(payload, headers)
        except AppError as exc:
            WEBHOOKS.labels(f"{SOURCE}:unknown", f"rejected_{exc.code.lower()}").inc()
            self.limiter.hit("clerk_webhook_rejected", sender)
            raise
        self.limiter.hit("clerk_webhook", sender)
        event_id = f"{SOURCE}:{message_id}"
        event = {**event, "id": event_id}  # Clerk's events have no id of their own: the delivery's names it
        handler = self.handlers.get(event["type"])
        label = f"{SOURCE}:{event['type'] if handler is not None else 'unhandled'}"  # bounded: our handled types
        return self.webhooks.run_once(event_id, f"{SOURCE}:{event['type']}", label,
                                      None if handler is None else lambda: handler(event, self.accounts))

    def parse(self, payload: bytes, headers: Mapping[str, str]) -> tuple[str, dict]:
        """(svix-id, the verified event), or MissingSignature / InvalidSignature / InvalidPayload."""
        given = {name: headers.get(name) or "" for name in HEADERS}
        if not all(value.strip() for value in given.values()):
            raise MissingSignature("The svix-id, svix-timestamp and svix-signature headers are required.")
        if not self.secrets or any(len(value) > MAX_HEADER_LENGTH for value in given.values()):
            raise InvalidSignature()
        for secret in self.secrets:
            try:
                Webhook(secret).verify(payload, given)
                break
            except WebhookVerificationError:
                continue
        else:
            raise InvalidSignature()
        if not MESSAGE_ID.match(given["svix-id"]):
            raise InvalidPayload(details={"svix-id": ["Must be a Svix message id."]})
        try:
            event = json.loads(payload)
        except (ValueError, RecursionError):
            raise InvalidPayload("The webhook body is not JSON.") from None
        if not (isinstance(event, dict) and event.get("object") == "event"
                and isinstance(event.get("type"), str) and EVENT_TYPE.match(event["type"])
                and isinstance(event.get("data"), dict)):
            raise InvalidPayload("The webhook body is not a Clerk event.")
        if event["type"] in self.handlers:
            check_user(event["type"], event["data"])
        return given["svix-id"], event


def check_user(event_type: str, user: dict) -> None:
    """Raise InvalidPayload naming each field of a handled event's user that Clerk could not have sent."""
    problems: dict[str, list[str]] = {}
    if not (isinstance(user.get("id"), str) and OBJECT_ID.match(user["id"])):
        problems["data.id"] = ["Must be a Clerk user id."]
    if event_type == "user.deleted":
        if user.get("deleted") is not True:
            problems["data.deleted"] = ["Must be true."]
    else:
        stamp = user.get("updated_at")
        if not isinstance(stamp, int) or isinstance(stamp, bool) or stamp < 0:
            problems["data.updated_at"] = ["Must be milliseconds since the epoch."]
        for name in ("first_name", "last_name", "primary_email_address_id"):
            if user.get(name) is not None and not isinstance(user[name], str):
                problems[f"data.{name}"] = ["Must be a string or null."]
        addresses = user.get("email_addresses", [])
        if not isinstance(addresses, list) or not all(
                isinstance(a, dict) and isinstance(a.get("id"), str) and isinstance(a.get("email_address"), str)
                and isinstance(a.get("verification") or {}, dict) for a in addresses):
            problems["data.email_addresses"] = ["Must be a list of email addresses with id and email_address."]
    if problems:
        raise InvalidPayload("The webhook body is not a Clerk event.", details=problems)
