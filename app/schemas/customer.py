"""The customer request body and response."""

from __future__ import annotations

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from .common import CONTROL_CHARS
from .stripe_objects import Customer, PassThrough


def _printable(value: str) -> None:
    if CONTROL_CHARS.search(value):
        raise ValidationError("Must not contain control characters.")


class CustomerBody(Schema):
    class Meta:
        unknown = RAISE

    email = fields.Email(validate=validate.Length(max=512),
                         metadata={"description": "Filled in only when the customer has none."})
    name = fields.String(validate=[validate.Length(min=1, max=256), _printable],
                         metadata={"description": "Filled in only when the customer has none."})


class CustomerReply(Schema):
    data = PassThrough(Customer, required=True)
    created = fields.Boolean(required=True, metadata={"description": "True the first time (201)."})
