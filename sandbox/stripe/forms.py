"""Stripe's form encoding (`metadata[k]=v`, `expand[0]=x`) decoded to nested dicts and lists, and typed reads."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qsl

from sandbox.stripe.faults import StripeFault, invalid, unknown_parameter

_PART = re.compile(r"\[([^\]]*)\]")


def decode(text: str | bytes | None) -> dict:
    """`a[b]=1&c[0]=x&c[]=y` -> {"a": {"b": "1"}, "c": ["x", "y"]}; every leaf stays a string, as Stripe receives it."""
    if isinstance(text, bytes):
        text = text.decode()
    root: dict = {}
    for key, value in parse_qsl(text or "", keep_blank_values=True):
        name, rest = (key.split("[", 1) + [""])[:2]
        path = [name] + _PART.findall("[" + rest) if rest else [name]
        node = root
        for part, nxt in zip(path, path[1:]):
            node = node.setdefault(part if part else str(len(node)), {})
        last = path[-1] if path[-1] else str(len(node))
        node[last] = value
    return _lists(root)


def _lists(node):
    # Stripe reads a hash whose keys are all indices as an array, in index order.
    if not isinstance(node, dict):
        return node
    node = {key: _lists(value) for key, value in node.items()}
    if node and all(key.isdigit() for key in node):
        return [node[key] for key in sorted(node, key=int)]
    return node


def canonical(params: dict) -> str:
    """One text per distinct set of parameters, whatever order they were sent in (idempotency keys compare these)."""
    return json.dumps(params, sort_keys=True, separators=(",", ":"))


def boolean(params: dict, name: str) -> bool | None:
    """The boolean parameter `name`, or None when absent."""
    value = params.get(name)
    if value is None:
        return None
    if value not in ("true", "false"):
        raise invalid(name, f"Invalid boolean: {value}")
    return value == "true"


def integer(params: dict, name: str, default: int, low: int, high: int) -> int:
    """The integer parameter `name` within [low, high], or `default` when absent."""
    value = params.get(name)
    if value is None:
        return default
    if not isinstance(value, str) or not re.fullmatch(r"-?\d+", value):
        raise invalid(name, f"Invalid integer: {value}")
    number = int(value)
    if not low <= number <= high:
        raise invalid(name, f"This value must be greater than or equal to {low} and less than or equal to {high}.")
    return number


def string(params: dict, name: str) -> str | None:
    """The string parameter `name`, or None when absent (a hash or an array there is refused)."""
    value = params.get(name)
    if value is not None and not isinstance(value, str):
        raise invalid(name, f"Invalid string: {value!r}")
    return value


def metadata(params: dict, current: dict | None = None, name: str = "metadata") -> dict:
    """`current` with the metadata parameter applied: an empty value unsets its key, `metadata=""` clears them all."""
    given = params.get(name, {})
    if given == "":
        return {}
    if not isinstance(given, dict):
        raise invalid(name, "Invalid hash")
    merged = dict(current or {})
    for key, value in given.items():
        if len(key) > 40 or not isinstance(value, str) or len(value) > 500:
            raise invalid(f"{name}[{key}]", "Metadata keys are at most 40 characters, values at most 500.")
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def required(params: dict, name: str, shown: str | None = None):
    """The parameter `name`, refused as Stripe refuses a missing one (`shown`: its name on the wire)."""
    value = params.get(name)
    if value is None or value == "":
        raise StripeFault(400, f"Missing required param: {shown or name}.", code="parameter_missing",
                          param=shown or name)
    return value


def only(params: dict, allowed: set[str]) -> None:
    """Refuse any parameter outside `allowed`, as Stripe does (the sandbox also refuses what it does not emulate)."""
    for name in params:
        if name not in allowed:
            raise unknown_parameter(name)
