"""The customer request body and response."""

from __future__ import annotations

import unicodedata

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from .stripe_objects import Customer, PassThrough

# Control (Cc), format (Cf: zero-width, bidi overrides) and surrogate characters, and every separator (Zs, Zl, Zp)
# but the plain space: invisible or reordering text has no place in a name printed on an invoice.
REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp", "Zs"})


def _visible_name(value: str) -> None:
    if any(c != " " and unicodedata.category(c) in REFUSED_CATEGORIES for c in value):
        raise ValidationError("Must not contain control, format or separator characters other than the space.")
    if not value.strip(" "):
        raise ValidationError("Must not be blank.")


class CustomerBody(Schema):
    class Meta:
        unknown = RAISE

    email = fields.Email(validate=validate.Length(max=512),
                         metadata={"description": "Filled in only when the customer has none."})
    name = fields.String(validate=[validate.Length(min=1, max=256), _visible_name],
                         metadata={"description": "Filled in only when the customer has none."})


class CustomerReply(Schema):
    data = PassThrough(Customer, required=True)
    created = fields.Boolean(required=True, metadata={"description": "True the first time (201)."})
