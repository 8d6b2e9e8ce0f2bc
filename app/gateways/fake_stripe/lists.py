"""What every Stripe list shares: cursor pagination over newest-first objects, and `expand[]`."""

from __future__ import annotations

import copy
from typing import Callable

from app.gateways.fake_stripe.faults import StripeFault, missing
from app.gateways.fake_stripe.forms import integer

# Which field of which object holds the id of which other object: what `expand[]` may name.
# A new expandable field (a subscription's latest_invoice, ...) is one line here.
EXPANDABLE: dict[str, dict[str, str]] = {
    "product": {"default_price": "price"},
    "price": {"product": "product"},
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
    """A copy of `obj` with each path's id replaced by the object it names (nested paths too)."""
    obj = copy.deepcopy(obj)
    for path in paths:
        _expand_path(obj, path, resolve, ".".join(path))
    return obj


def _expand_path(obj: dict, path: list[str], resolve: Resolve, whole: str) -> None:
    field, rest = path[0], path[1:]
    target = EXPANDABLE.get(obj.get("object"), {}).get(field)
    if target is None:
        raise StripeFault(400, f"This property cannot be expanded ({whole}).", param="expand")
    value = obj.get(field)
    if isinstance(value, str):
        found = resolve(target, value)
        value = obj[field] = copy.deepcopy(found) if found is not None else value
    if rest and isinstance(value, dict):
        _expand_path(value, rest, resolve, whole)
