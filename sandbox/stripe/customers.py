"""Customers: create, retrieve, update, and search by metadata, as Stripe answers them (deletion: cascades.py)."""

from __future__ import annotations

import re
import secrets

from sandbox.stripe import events
from sandbox.stripe.faults import StripeFault, missing
from sandbox.stripe.forms import integer, metadata, only, string

FIELDS = {"email", "name", "description", "phone"}
WRITABLE = FIELDS | {"metadata", "preferred_locales", "expand"}
# The one search the service makes: metadata['key']:'value', with \' and \\ escaped inside the quotes.
SEARCH = re.compile(r"metadata\['((?:[^'\\]|\\.)+)'\]:'((?:[^'\\]|\\.)*)'")


def require(fake, customer_id) -> str:
    """The id of a live customer named by a `customer` parameter; Stripe's 400 otherwise."""
    if not isinstance(customer_id, str) or not customer_id:
        raise StripeFault(400, "Missing required param: customer.", code="parameter_missing", param="customer")
    found = fake.state.get(customer_id)
    if found is None or found[0]["object"] != "customer" or found[1]:
        raise missing("customer", customer_id, param="customer", status=400)
    return customer_id


def create(fake, params: dict) -> dict:
    only(params, WRITABLE)
    customer = {
        "id": fake.new_id("cus"), "object": "customer", "address": None, "balance": 0,
        "created": fake.now(), "currency": None, "default_source": None, "delinquent": False,
        "description": None, "discount": None, "email": None, "invoice_prefix": secrets.token_hex(4).upper(),
        "invoice_settings": {"custom_fields": None, "default_payment_method": None, "footer": None,
                             "rendering_options": None},
        "livemode": False, "metadata": metadata(params), "name": None, "next_invoice_sequence": 1,
        "phone": None, "preferred_locales": list(params.get("preferred_locales") or []), "shipping": None,
        "tax_exempt": "none", "test_clock": None,
    }
    customer.update({field: string(params, field) for field in FIELDS if field in params})
    with fake.state.transaction():
        fake.state.put(customer)
        events.record(fake, "customer.created", customer)
    return customer


def retrieve(fake, params: dict, customer_id: str) -> dict:
    only(params, {"expand"})
    found = fake.state.get(customer_id)
    if found is None or found[0]["object"] != "customer":
        raise missing("customer", customer_id)
    if found[1]:
        return {"id": customer_id, "object": "customer", "deleted": True}
    return found[0]


def update(fake, params: dict, customer_id: str) -> dict:
    only(params, WRITABLE)
    with fake.state.transaction():
        before = fake.require("customer", customer_id)
        customer = {**before, **{field: string(params, field) or None for field in FIELDS if field in params}}
        customer["metadata"] = metadata(params, customer["metadata"])
        if "preferred_locales" in params:
            customer["preferred_locales"] = list(params["preferred_locales"] or [])
        fake.state.put(customer)
        if customer != before:  # Stripe sends customer.updated only when something changed
            events.record(fake, "customer.updated", customer, events.changed(before, customer))
    return customer


def search(fake, params: dict) -> dict:
    only(params, {"query", "limit", "expand"})
    limit = integer(params, "limit", 10, 1, 100)
    match = SEARCH.fullmatch(string(params, "query") or "")
    if match is None:
        raise StripeFault(400, "The sandbox searches customers by metadata['key']:'value' only.", param="query")
    key, value = (re.sub(r"\\(.)", r"\1", part) for part in match.groups())
    # Stripe's index lags behind writes; with search_lags set it still lists deleted customers.
    found = [customer for customer, deleted in fake.state.all("customer")
             if (fake.search_lags or not deleted) and customer["metadata"].get(key) == value]
    return {"object": "search_result", "data": found[:limit], "has_more": len(found) > limit,
            "next_page": None, "url": "/v1/customers/search"}


ROUTES = [
    ("POST", "/v1/customers", create),
    ("GET", "/v1/customers/search", search),
    ("GET", "/v1/customers/{id}", retrieve),
    ("POST", "/v1/customers/{id}", update),
]
