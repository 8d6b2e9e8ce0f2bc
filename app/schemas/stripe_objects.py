"""Stripe's objects as the API returns them: the fields clients use, typed; every other field passes through.

These schemas document (OpenAPI) and are checked against real answers by schemathesis; on the way
out the objects are sent exactly as Stripe returned them (`PassThrough`), all fields included.
"""

from __future__ import annotations

from marshmallow import INCLUDE, Schema, fields, validate


class PassThrough(fields.Nested):
    """A Stripe object sent as it is; the nested schema describes it for the OpenAPI document."""

    def _serialize(self, value, attr, obj, **kwargs):
        return value


def _ref(name: str, *, id_allowed: bool = True) -> dict:
    """An expandable Stripe field: the object, or (not expanded) its id, or null."""
    options = [{"$ref": f"#/components/schemas/{name}"}] + ([{"type": "string"}] if id_allowed else [])
    return {"oneOf": options, "nullable": True}


class Metadata(fields.Dict):
    def __init__(self, **kwargs):
        super().__init__(keys=fields.String(), values=fields.String(), **kwargs)


class StripeObject(Schema):
    class Meta:
        unknown = INCLUDE  # Stripe adds fields over time; the document says they may appear


class Recurring(StripeObject):
    interval = fields.String(required=True, validate=validate.OneOf(["day", "week", "month", "year"]))
    interval_count = fields.Integer(required=True)


class Product(StripeObject):
    """A Stripe product (a plan of the academy)."""

    id = fields.String(required=True)
    object = fields.String(required=True, validate=validate.Equal("product"))
    active = fields.Boolean(required=True)
    name = fields.String(required=True)
    description = fields.String(allow_none=True)
    default_price = fields.Raw(allow_none=True, metadata=_ref("Price"))
    images = fields.List(fields.String())
    marketing_features = fields.List(fields.Dict())
    metadata = Metadata()
    created = fields.Integer()
    updated = fields.Integer()
    livemode = fields.Boolean()


class Price(StripeObject):
    """A Stripe price: what a plan costs, once or every interval."""

    id = fields.String(required=True)
    object = fields.String(required=True, validate=validate.Equal("price"))
    active = fields.Boolean(required=True)
    currency = fields.String(required=True)
    unit_amount = fields.Integer(allow_none=True, metadata={"description": "In the currency's smallest unit."})
    type = fields.String(required=True, validate=validate.OneOf(["one_time", "recurring"]))
    recurring = fields.Nested(Recurring, allow_none=True)
    product = fields.Raw(required=True, metadata={"oneOf": [{"$ref": "#/components/schemas/Product"},
                                                            {"type": "string"}]})
    nickname = fields.String(allow_none=True)
    lookup_key = fields.String(allow_none=True)
    metadata = Metadata()
    created = fields.Integer()
    livemode = fields.Boolean()


class Customer(StripeObject):
    """The caller's Stripe customer."""

    id = fields.String(required=True)
    object = fields.String(required=True, validate=validate.Equal("customer"))
    email = fields.String(allow_none=True)
    name = fields.String(allow_none=True)
    metadata = Metadata(metadata={"description": "Carries clerk_user_id."})
    created = fields.Integer()
    livemode = fields.Boolean()
