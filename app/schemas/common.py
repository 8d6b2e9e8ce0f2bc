"""Fields and helpers shared by the schemas."""

from __future__ import annotations

import re

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from app.services.errors import ValidationFailed

STRIPE_ID = re.compile(r"^[A-Za-z0-9_-]{1,255}\Z")  # \Z, not $: "$" also matches before a final newline
STRIPE_ID_PATTERN = "^[A-Za-z0-9_-]{1,255}$"  # the same, as JSON Schema (ECMA) writes it, for the OpenAPI document
STRIPE_ID_MESSAGE = "Must be a Stripe id ([A-Za-z0-9_-], up to 255 characters)."


class StrictInteger(fields.Integer):
    """A whole number written in ASCII digits only: '5abc', '1.5', ' 5', '+5' and '٥' are refused."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str) or not re.fullmatch(r"[0-9]{1,6}", value):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class StrictBoolean(fields.Boolean):
    """Only the words `true` and `false`."""

    truthy = {"true"}
    falsy = {"false"}


class NoQuery(Schema):
    """For routes that take no query parameters: any one is a typo worth a 400."""

    class Meta:
        unknown = RAISE


def stripe_id(*, metadata: dict | None = None, **kwargs) -> fields.String:
    return fields.String(validate=validate.Regexp(STRIPE_ID, error=STRIPE_ID_MESSAGE),
                         metadata={"pattern": STRIPE_ID_PATTERN, **(metadata or {})}, **kwargs)


def load_query(schema: Schema, args) -> dict:
    """Load a query string (a MultiDict): a repeated key is an error, not a silent pick."""
    repeated = {key: ["Given more than once."] for key, values in args.lists() if len(values) > 1}
    if repeated:
        raise ValidationFailed(details=repeated)
    return load(schema, args.to_dict())


def load(schema: Schema, data) -> dict:
    try:
        return schema.load(data)
    except ValidationError as exc:
        raise ValidationFailed(details=_details(exc.messages)) from None


def validate_id(value: str, field: str = "id") -> str:
    if not STRIPE_ID.match(value or ""):
        raise ValidationFailed(details={field: [STRIPE_ID_MESSAGE]})
    return value


def _details(messages) -> dict:
    if isinstance(messages, dict):
        return messages
    return {"_schema": messages}
