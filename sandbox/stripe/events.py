"""Events: one recorded for every change the sandbox's Stripe makes, listed as GET /v1/events lists them (30 days),
and queued for webhook delivery (delivery.py)."""

from __future__ import annotations

import json
import time

from sandbox.stripe.faults import invalid, missing
from sandbox.stripe.forms import integer, only, string
from sandbox.stripe.lists import expand, page

RETENTION = 30 * 86400  # Stripe's Events API returns the last 30 days


def record(fake, type_: str, obj: dict, previous: dict | None = None) -> dict:
    """Record `type_` with a snapshot of `obj` after the change (and, for *.updated, what it was before)."""
    data = {"object": expand(obj, [], fake.resolve)}  # what a webhook carries: no includable fields
    if previous is not None:
        data["previous_attributes"] = previous
    event = {"id": fake.new_id("evt"), "object": "event", "api_version": fake.api_version, "created": fake.now(),
             "data": data, "livemode": False, "pending_webhooks": 0,
             "request": {"id": None, "idempotency_key": None}, "type": type_}
    with fake.state.transaction():
        fake.state.prune("event", fake.now() - RETENTION)
        fake.state.put(event)
        # Queued for delivery with its body: the Events API forgets after 30 days, a queued delivery does not.
        fake.state.execute("INSERT INTO stripe_deliveries (event_id, body, recorded, next_attempt) VALUES (?, ?, ?, ?)",
                           (event["id"], json.dumps(event), time.time(), time.time()))
        if type_.startswith("customer.subscription."):
            fake.subscriptions_changed(obj["customer"])  # what the customer is entitled to may have changed
    return event


def changed(before: dict, after: dict) -> dict:
    """Stripe's `previous_attributes`: the old value of each top-level field that changed."""
    return {key: before.get(key) for key in after if before.get(key) != after.get(key)}


def _created_filter(params: dict):
    created = params.get("created")
    if created is None:
        return lambda ts: True
    if isinstance(created, str):
        exact = integer(params, "created", 0, 0, 2**40)
        return lambda ts: ts == exact
    if not isinstance(created, dict) or not set(created) <= {"gt", "gte", "lt", "lte"}:
        raise invalid("created", "Invalid created: use gt, gte, lt or lte.")
    bounds = {op: integer(created, op, 0, 0, 2**40) for op in created}
    checks = {"gt": lambda ts, v: ts > v, "gte": lambda ts, v: ts >= v,
              "lt": lambda ts, v: ts < v, "lte": lambda ts, v: ts <= v}
    return lambda ts: all(checks[op](ts, value) for op, value in bounds.items())


def list_events(fake, params: dict) -> dict:
    only(params, {"type", "types", "created", "limit", "starting_after", "delivery_success", "expand"})
    single, types = string(params, "type"), params.get("types")
    if single is not None and types is not None:
        raise invalid("types", "You may only specify one of these parameters: type, types.")
    if types is not None and (not isinstance(types, list) or not 1 <= len(types) <= 20):
        raise invalid("types", "types must be an array of at most 20 event types.")
    wanted = set(types) if types else {single} if single else None
    in_range = _created_filter(params)
    oldest = fake.now() - RETENTION
    # Newest first; events of one second keep the order they happened in.
    found = [event for event, _ in reversed(fake.state.all("event"))
             if event["created"] >= oldest and in_range(event["created"])
             and (wanted is None or _matches(event["type"], wanted))]
    return page(found, params, "/v1/events", "event", fake.resolve)


def _matches(type_: str, wanted: set[str]) -> bool:
    # Stripe takes a wildcard at the end of a type: `customer.subscription.*`.
    return type_ in wanted or any(w.endswith(".*") and type_.startswith(w[:-1]) for w in wanted)


def retrieve_event(fake, params: dict, event_id: str) -> dict:
    only(params, {"expand"})
    found = fake.state.get(event_id)
    if found is None or found[0]["object"] != "event" or found[0]["created"] < fake.now() - RETENTION:
        raise missing("event", event_id)
    return found[0]


ROUTES = [
    ("GET", "/v1/events", list_events),
    ("GET", "/v1/events/{id}", retrieve_event),
]
