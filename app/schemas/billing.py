"""Billing bodies and answers (docs/billing.md)."""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

from .common import StrictInteger, stripe_id

URL = {"validate": validate.Length(min=1, max=2048),
       "metadata": {"description": "Must start with an allowed origin of the app (or an allowed app scheme)."}}


class _Body(Schema):
    class Meta:
        unknown = RAISE  # a body never names a customer, a user or a subscription


class CheckoutBody(_Body):
    price_id = stripe_id(required=True)
    success_url = fields.String(**URL)
    cancel_url = fields.String(**URL)


class PortalBody(_Body):
    return_url = fields.String(**URL)


class PaymentSheetBody(_Body):
    price_id = stripe_id(required=True)


class NoBody(_Body):
    """Cancel and resume act on the caller's own subscription: nothing to say but an empty body or `{}`."""


class SubscriptionView(Schema):
    id = fields.String(required=True)
    status = fields.String(required=True)
    price = fields.String(allow_none=True)
    product = fields.String(allow_none=True)
    quantity = fields.Integer(allow_none=True)
    current_period_end = fields.Integer(allow_none=True, metadata={"description": "Unix seconds."})
    cancel_at_period_end = fields.Boolean(required=True)
    cancel_at = fields.Integer(allow_none=True)
    canceled_at = fields.Integer(allow_none=True)
    trial_end = fields.Integer(allow_none=True)
    updated_at = fields.Integer(allow_none=True)


class Membership(Schema):
    status = fields.String(required=True, metadata={"description": "Stripe's status, or 'none'."})
    access = fields.Boolean(required=True)
    features = fields.List(fields.String(), required=True, metadata={
        "description": "Lookup keys of the features the membership unlocks (Stripe Entitlements), sorted; [] when"
                       " none or without access."})
    subscription = fields.Nested(SubscriptionView, required=True, allow_none=True)


class MembershipReply(Schema):
    data = fields.Nested(Membership, required=True)


class CheckoutSession(Schema):
    id = fields.String(required=True)
    url = fields.String(required=True, allow_none=True, metadata={"description": "A capability: never log it."})
    mode = fields.String(required=True, validate=validate.OneOf(["subscription", "payment"]))
    expires_at = fields.Integer(required=True, allow_none=True)
    price = fields.String(required=True)


class CheckoutReply(Schema):
    data = fields.Nested(CheckoutSession, required=True)
    created = fields.Boolean(required=True, metadata={"description": "False: the open session of an earlier tap."})


class CheckoutStatus(Schema):
    id = fields.String(required=True)
    status = fields.String(required=True, allow_none=True)
    payment_status = fields.String(required=True, allow_none=True)
    mode = fields.String(required=True, allow_none=True)
    subscription = fields.String(allow_none=True)


class CheckoutStatusReply(Schema):
    data = fields.Nested(CheckoutStatus, required=True)


class PortalSession(Schema):
    url = fields.String(required=True, metadata={"description": "A capability: never log it."})


class PortalReply(Schema):
    data = fields.Nested(PortalSession, required=True)


class PaymentSheet(Schema):
    customer = fields.String(required=True)
    customer_session_client_secret = fields.String(required=True)
    intent_type = fields.String(required=True, validate=validate.OneOf(["payment", "setup"]))
    client_secret = fields.String(required=True, allow_none=True)
    subscription = fields.String(metadata={"description": "Recurring prices: the incomplete subscription."})
    publishable_key = fields.String(required=True, allow_none=True)


class PaymentSheetReply(Schema):
    data = fields.Nested(PaymentSheet, required=True)
    created = fields.Boolean(required=True)


class SubscriptionReply(Schema):
    data = fields.Nested(SubscriptionView, required=True)


class InvoiceListQuery(Schema):
    class Meta:
        unknown = RAISE

    limit = StrictInteger(load_default=10, validate=validate.Range(min=1, max=100))
    starting_after = stripe_id(metadata={"description": "The last id of the previous page."})


class Period(Schema):
    start = fields.Integer(required=True, allow_none=True, metadata={"description": "Unix seconds."})
    end = fields.Integer(required=True, allow_none=True, metadata={"description": "Unix seconds."})


class PaymentView(Schema):
    """An invoice (a plan's charge: its number, period, hosted page and PDF) or a one-time payment (its receipt)."""

    id = fields.String(required=True, metadata={"description": "Stripe's id: in_... or pi_..."})
    kind = fields.String(required=True, validate=validate.OneOf(["invoice", "payment"]))
    number = fields.String(required=True, allow_none=True)
    status = fields.String(required=True, metadata={
        "description": "Stripe's: open, paid, void, uncollectible (invoices); succeeded, refunded, ... (payments)."})
    amount_due = fields.Integer(required=True, metadata={"description": "In the currency's minor unit."})
    amount_paid = fields.Integer(required=True)
    currency = fields.String(required=True)
    created = fields.Integer(required=True, metadata={"description": "Unix seconds."})
    period = fields.Nested(Period, required=True, allow_none=True)
    description = fields.String(required=True, allow_none=True,
                                metadata={"description": "The plan or item bought (product name, else price id)."})
    hosted_invoice_url = fields.String(required=True, allow_none=True)
    invoice_pdf = fields.String(required=True, allow_none=True)
    receipt_url = fields.String(required=True, allow_none=True)


class InvoiceList(Schema):
    """A page of the caller's invoices and one-time payments, newest first."""

    data = fields.List(fields.Nested(PaymentView), required=True)
    count = fields.Integer(required=True)
    has_more = fields.Boolean(required=True, metadata={"description": "Ask again with starting_after."})
