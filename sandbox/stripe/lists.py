"""What every Stripe list shares: cursor pagination over newest-first objects, and `expand[]`."""

from __future__ import annotations

import copy
from typing import Callable

from sandbox.stripe.faults import StripeFault, missing
from sandbox.stripe.forms import integer

# Which field of which object holds the id of which other object: what `expand[]` may name.
# A new expandable field (a subscription's latest_invoice, ...) is one line here.
EXPANDABLE: dict[str, dict[str, str]] = {
    "product": {"default_price": "price"},
    "price": {"product": "product"},
    "checkout.session": {"customer": "customer", "subscription": "subscription", "invoice": "invoice",
                         "payment_intent": "payment_intent"},
    "subscription": {"customer": "customer", "latest_invoice": "invoice", "pending_setup_intent": "setup_intent"},
    "invoice": {"customer": "customer"},
    "payment_intent": {"customer": "customer", "latest_charge": "charge"},
    "charge": {"customer": "customer", "payment_intent": "payment_intent"},
    "setup_intent": {"customer": "customer"},
}
# Fields Stripe leaves out of an object unless `expand[]` names them ("includable"): stored, shown on request.
# Fields whose name starts with `_` are the sandbox's bookkeeping and are never shown.
INCLUDABLE: dict[str, set[str]] = {
    "invoice": {"confirmation_secret"},
}

Resolve = Callable[[str, str], dict | None]  # (type, id) -> the stored object, or None


def newest_first(objects: list[dict]) -> list[dict]:
    """Stripe's order for lists: most recently created first (ties broken by id, so the order is stable)."""
    return sorted(objects, key=lambda o: (o.get("created", 0), o["id"]), reverse=True)


def page(objects: list[dict], params: dict, url: str, kind: str, resolve: Resolve) -> dict:
    """One page of `objects` (already filtered, newest first) by limit and starting_after, expanded."""
    limit = integer(params, "limit", 10, 1, 100)
    cursor = params.get("starting_after")
    if cursor is not None:
        ids = [obj["id"] for obj in objects]
        if cursor not in ids:
            raise missing(kind, cursor, param="starting_after", status=400)
        objects = objects[ids.index(cursor) + 1:]
    paths = expansions(params, listing=True)
    return {"object": "list", "data": [expand(obj, paths, resolve) for obj in objects[:limit]],
            "has_more": len(objects) > limit, "url": url}


def expansions(params: dict, listing: bool = False) -> list[list[str]]:
    """The `expand[]` paths as lists of field names; on a list each must start with `data.`."""
    paths = params.get("expand") or []
    if not isinstance(paths, list):
        raise StripeFault(400, "Invalid array", code="parameter_invalid", param="expand")
    split = []
    for path in paths:
        parts = path.split(".")
        if listing:
            if parts[0] != "data" or len(parts) < 2:
                raise StripeFault(400, f"This property cannot be expanded ({path}).", param="expand")
            parts = parts[1:]
        split.append(parts)
    return split


def expand(obj: dict, paths: list[list[str]], resolve: Resolve) -> dict:
    """A copy of `obj` with each path's id replaced by the object it names (nested too); includables on request."""
    obj = copy.deepcopy(obj)
    kept: set[tuple[int, str]] = set()
    for path in paths:
        _expand_path(obj, path, resolve, ".".join(path), kept)
    _strip(obj, kept)
    return obj


def _expand_path(obj: dict, path: list[str], resolve: Resolve, whole: str, kept: set) -> None:
    field, rest = path[0], path[1:]
    if field in INCLUDABLE.get(obj.get("object"), ()):
        kept.add((id(obj), field))
        value = obj.get(field)
    else:
        target = EXPANDABLE.get(obj.get("object"), {}).get(field)
        if target is None:
            raise StripeFault(400, f"This property cannot be expanded ({whole}).", param="expand")
        value = obj.get(field)
        if isinstance(value, str):
            found = resolve(target, value)
            value = obj[field] = copy.deepcopy(found) if found is not None else value
    if rest and isinstance(value, dict):
        _expand_path(value, rest, resolve, whole, kept)


def _strip(node, kept: set) -> None:
    if isinstance(node, list):
        for item in node:
            _strip(item, kept)
    elif isinstance(node, dict):
        kind = node.get("object")  # an event's data.object is a dict, not a type
        for field in INCLUDABLE.get(kind, ()) if isinstance(kind, str) else ():
            if (id(node), field) not in kept:
                node.pop(field, None)
        for field in [key for key in node if key.startswith("_")]:
            del node[field]  # the sandbox's own bookkeeping (what Stripe keeps but does not show)
        for value in node.values():
            _strip(value, kept)
