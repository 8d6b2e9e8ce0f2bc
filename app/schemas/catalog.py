"""Catalog queries and responses."""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

from .common import StrictBoolean, StrictInteger, stripe_id


class ProductListQuery(Schema):
    class Meta:
        unknown = RAISE

    active = StrictBoolean(load_default=True)
    limit = StrictInteger(load_default=10, validate=validate.Range(min=1, max=100))
    starting_after = stripe_id()


class PriceListQuery(ProductListQuery):
    product = stripe_id()
    type = fields.String(validate=validate.OneOf(["one_time", "recurring"]))


class ListResponse(Schema):
    """`{"data": [...], "count": n, "has_more": bool}`: objects exactly as Stripe returns them."""

    data = fields.Raw()  # a list of Stripe objects, passed through as they are
    count = fields.Integer()
    has_more = fields.Boolean()


class ObjectResponse(Schema):
    data = fields.Raw()
