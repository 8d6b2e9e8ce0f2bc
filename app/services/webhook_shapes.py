"""What a handled event's object must look like before a handler reads it.

Stripe never sends an object whose id is missing or not a string, whose metadata is not a map
of strings, or whose references (customer, subscription, payment_intent, latest_charge, invoice,
an invoice's parent subscription) are neither null, an id, nor an expanded object with an id; a
signed event that does is refused with INVALID_PAYLOAD (before it is claimed, so nothing is
half-done) instead of failing inside a handler with a 500 that Stripe would retry for three days. Types we do not handle are recorded whatever their shape: nothing reads them.
"""

from __future__ import annotations

import re

from app.services.errors import InvalidPayload

OBJECT_ID = re.compile(r"^[A-Za-z0-9_]{1,255}\Z")
# Objects Stripe sends without an id of their own, and the reference that names what they are about instead.
WITHOUT_ID = {"entitlements.active_entitlement_summary": "customer"}
# The expandable fields a handler reads, and what each names.
REFERENCES = {"customer": "customer", "subscription": "subscription", "payment_intent": "payment_intent",
              "latest_charge": "charge", "invoice": "invoice"}


def check_handled_object(obj: dict) -> None:
    """Raise InvalidPayload naming each field of `obj` that Stripe could not have sent."""
    problems: dict[str, list[str]] = {}
    named_by = WITHOUT_ID.get(obj.get("object"))
    if named_by is not None:
        if not _is_id(obj.get(named_by)):
            problems[f"data.object.{named_by}"] = [f"Must be a {named_by} id."]
    elif not _is_id(obj.get("id")):
        problems["data.object.id"] = ["Must be a Stripe id."]
    if "object" in obj and not isinstance(obj["object"], str):
        problems["data.object.object"] = ["Must be a string."]
    metadata = obj.get("metadata", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        problems["data.object.metadata"] = ["Must be a map of strings."]
    for name, what in REFERENCES.items():
        if name in obj and not _is_reference(obj[name]):
            problems[f"data.object.{name}"] = [f"Must be a {what} id, an expanded {what}, or null."]
    parent = obj.get("parent")
    details = parent.get("subscription_details") if isinstance(parent, dict) else None
    if parent is not None and not isinstance(parent, dict):
        problems["data.object.parent"] = ["Must be an object or null."]
    elif details is not None and not isinstance(details, dict):
        problems["data.object.parent.subscription_details"] = ["Must be an object or null."]
    elif details and "subscription" in details and not _is_reference(details["subscription"]):
        problems["data.object.parent.subscription_details.subscription"] = [
            "Must be a subscription id, an expanded subscription, or null."]
    items = obj.get("items")
    if items is not None and not (isinstance(items, dict) and isinstance(items.get("data", []), list)
                                  and all(isinstance(item, dict) for item in items.get("data", []))):
        problems["data.object.items"] = ["Must be a list object of items."]
    if "status" in obj and not isinstance(obj["status"], str):
        problems["data.object.status"] = ["Must be a string."]
    if problems:
        raise InvalidPayload(details=problems)


def _is_id(value) -> bool:
    return isinstance(value, str) and OBJECT_ID.match(value) is not None


def _is_reference(value) -> bool:
    """An expandable field: null, an id, or the expanded object with its id."""
    return value is None or _is_id(value) or (isinstance(value, dict) and _is_id(value.get("id")))
