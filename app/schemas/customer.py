"""The customer request body and response."""

from __future__ import annotations

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from .common import CONTROL_CHARS


def _printable(value: str) -> None:
    if CONTROL_CHARS.search(value):
        raise ValidationError("Must not contain control characters.")


class CustomerBody(Schema):
    class Meta:
        unknown = RAISE

    email = fields.Email(validate=validate.Length(max=512))
    name = fields.String(validate=[validate.Length(min=1, max=256), _printable])


class CustomerResponse(Schema):
    data = fields.Raw()
    created = fields.Boolean()
