"""Catalog queries and responses."""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

from .common import StrictBoolean, StrictInteger, stripe_id
from .stripe_objects import PassThrough, Price, Product


class ProductListQuery(Schema):
    class Meta:
        unknown = RAISE

    active = StrictBoolean(load_default=True)
    limit = StrictInteger(load_default=10, validate=validate.Range(min=1, max=100))
    starting_after = stripe_id(metadata={"description": "The last id of the previous page."})


class PriceListQuery(ProductListQuery):
    product = stripe_id()
    type = fields.String(validate=validate.OneOf(["one_time", "recurring"]))


class _Page(Schema):
    count = fields.Integer(required=True)
    has_more = fields.Boolean(required=True, metadata={"description": "Ask again with starting_after."})


class ProductList(_Page):
    """A page of products, each with `default_price` expanded."""

    data = fields.List(PassThrough(Product), required=True)


class PriceList(_Page):
    """A page of prices, each with `product` expanded."""

    data = fields.List(PassThrough(Price), required=True)


class ProductReply(Schema):
    data = PassThrough(Product, required=True)


class PriceReply(Schema):
    data = PassThrough(Price, required=True)
