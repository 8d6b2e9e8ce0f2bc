"""The shapes every route shares: the error envelope, health and webhook receipts."""

from __future__ import annotations

from marshmallow import Schema, fields

from app.services.errors import ALL


class ErrorBody(Schema):
    code = fields.String(required=True,
                         metadata={"enum": sorted({error.code for error in ALL} | {"INTERNAL_ERROR"})})
    message = fields.String(required=True)
    details = fields.Dict(metadata={"description": "Which field failed and why, or which check failed."})
    request_id = fields.String(required=True, allow_none=True)


class ErrorEnvelope(Schema):
    """Every error, from every path."""

    error = fields.Nested(ErrorBody, required=True)


class Liveness(Schema):
    status = fields.String(required=True, metadata={"enum": ["ok"]})
    service = fields.String(required=True)


class Readiness(Schema):
    status = fields.String(required=True, metadata={"enum": ["ok"]})
    checks = fields.Dict(keys=fields.String(), values=fields.String(), required=True)


class WebhookReceipt(Schema):
    received = fields.Boolean(required=True)
    duplicate = fields.Boolean(metadata={"description": "Present (true) when the event was already processed."})


class StripeEventData(Schema):
    object = fields.Dict(required=True, metadata={"description": "The Stripe object the event is about."})


class StripeEvent(Schema):
    """What Stripe posts: the body is verified as raw bytes against Stripe-Signature before it is read."""

    id = fields.String(required=True, metadata={"pattern": "^evt_[A-Za-z0-9_]{1,250}$"})
    object = fields.String(required=True, metadata={"enum": ["event"]})
    type = fields.String(required=True, metadata={"pattern": "^[a-z0-9_]+(\\.[a-z0-9_]+){1,5}$",
                                                  "example": "customer.subscription.updated"})
    data = fields.Nested(StripeEventData, required=True)
    created = fields.Integer()
    livemode = fields.Boolean()
    api_version = fields.String(allow_none=True)


class ClerkUser(Schema):
    """The parts of Clerk's user object we read (user.deleted sends only `id` and `deleted`)."""

    id = fields.String(required=True, metadata={"example": "user_2abc"})
    first_name = fields.String(allow_none=True)
    last_name = fields.String(allow_none=True)
    primary_email_address_id = fields.String(allow_none=True)
    email_addresses = fields.List(fields.Dict(), metadata={
        "description": "Each {id, email_address, verification: {status}}; the primary one, when verified, is used."})
    updated_at = fields.Integer(metadata={"description": "Milliseconds since the epoch: orders the user's changes."})
    deleted = fields.Boolean()


class ClerkEvent(Schema):
    """What Clerk posts through Svix: verified as raw bytes against the svix-* headers before it is read."""

    object = fields.String(required=True, metadata={"enum": ["event"]})
    type = fields.String(required=True, metadata={"pattern": "^[a-z0-9_]+(\\.[a-z0-9_]+){1,5}$",
                                                  "example": "user.updated"})
    data = fields.Nested(ClerkUser, required=True)
    timestamp = fields.Integer(metadata={"description": "When Clerk sent it, in milliseconds."})
