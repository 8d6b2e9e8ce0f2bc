"""Payment history: the member's invoices and one-time payments, kept from Stripe, read from the store.

Every writer (an invoice, checkout, payment_intent or charge webhook; `flask stripe sync`) takes a
stamp from the store *before* it reads the object from Stripe, and the store writes the read only
when its stamp is greater than the stored one (compared in the database), exactly as subscriptions
(app/services/subscriptions.py): late, repeated and reordered deliveries end as Stripe's latest state.

GET /stripe/invoices reads the store only: never a Stripe call on read.

Kept: every invoice once finalized (a draft can still be deleted, so it waits), and every one-time
payment that carries our metadata `clerk_user_id` (set server-side by checkout and the payment
sheet; a subscription's invoice payments carry none, and are shown as their invoice). The owner
is always the object's (or its customer's) metadata, never a field a client chose.
"""

from __future__ import annotations

import logging

from app.gateways.base import BillingGateway, expandable_id
from app.services.catalog import CatalogService
from app.services.errors import NotFound, ValidationFailed
from app.stores.base import PaymentRecord, Store

log = logging.getLogger(__name__)


class PaymentHistory:
    """Reads invoices and one-time payments from Stripe into the store, and pages through a user's rows."""

    def __init__(self, store: Store, gateway: BillingGateway, catalog: CatalogService):
        self.store, self.gateway, self.catalog = store, gateway, catalog

    # --- writing: re-read from Stripe, store through the guarded write ------------------------
    def refresh_invoice(self, invoice_id: str) -> PaymentRecord | None:
        """Re-read the invoice and store it unless a newer read is stored; None when not kept (a draft, unknown)."""
        stamp = self.store.next_stamp()
        invoice = self.gateway.get_invoice(invoice_id)
        if invoice is None:
            log.warning("invoice %s is unknown to Stripe; its stored state is kept", invoice_id)
            return self.store.get_payment(invoice_id)
        return self.record_invoice(invoice, stamp)

    def refresh_payment(self, intent_id: str) -> PaymentRecord | None:
        """Re-read the PaymentIntent (its latest charge expanded) and store it if it is one of our one-time payments."""
        stamp = self.store.next_stamp()
        intent = self.gateway.get_payment_intent(intent_id)
        if intent is None:
            log.warning("payment intent %s is unknown to Stripe; its stored state is kept", intent_id)
            return self.store.get_payment(intent_id)
        return self.record_payment(intent, stamp)

    def record_invoice(self, invoice: dict, stamp: int, owners: dict[str, str | None] | None = None
                       ) -> PaymentRecord | None:
        """Store `invoice`, read after `stamp` was taken; what is stored now (None: a draft, not kept yet).

        `owners`: customer id → Clerk user already looked up (sync reads many invoices of one customer)."""
        if invoice.get("status") in (None, "draft"):
            return None
        record = invoice_record(invoice, stamp, self._invoice_owner(invoice, owners),
                                self._plan(_invoice_price(invoice)))
        return self._save(record)

    def record_payment(self, intent: dict, stamp: int) -> PaymentRecord | None:
        """Store a one-time payment (a PaymentIntent with our metadata), read after `stamp`; None when not ours."""
        meta = intent.get("metadata") or {}
        if not meta.get("clerk_user_id"):
            return None  # not a one-time purchase of ours (a subscription invoice's payment, say)
        plan = self._plan(meta.get("price_id")) if meta.get("price_id") else None
        return self._save(payment_record(intent, stamp, meta["clerk_user_id"], plan or intent.get("description")))

    def _save(self, record: PaymentRecord) -> PaymentRecord:
        if self._erased(record):
            # An erased member's late delivery (their final invoice, a replay): storing it would bring them back.
            log.info("%s of a deleted customer we hold nothing of is not stored", record.stripe_id)
            return record
        if self.store.save_payment(record):
            return record
        return self.store.get_payment(record.stripe_id) or record

    def _erased(self, record: PaymentRecord) -> bool:
        """A new row of a customer that is neither the user's mapped one nor still at Stripe (the member was
        erased, app/services/accounts.py). One Stripe read, only for a row of an unmapped customer."""
        if not record.stripe_customer_id:
            return False
        mapping = self.store.get_customer_mapping(record.clerk_user_id) if record.clerk_user_id else None
        if mapping is not None and mapping.stripe_customer_id == record.stripe_customer_id:
            return False
        return self.store.get_payment(record.stripe_id) is None and self.gateway.get_customer(
            record.stripe_customer_id) is None

    def _invoice_owner(self, invoice: dict, owners: dict[str, str | None] | None) -> str | None:
        """The Clerk user: the invoice's metadata, its subscription's (copied by Stripe), else its customer's."""
        details = (invoice.get("parent") or {}).get("subscription_details") or {}
        for meta in (invoice.get("metadata"), details.get("metadata")):
            user = (meta or {}).get("clerk_user_id")
            if user:
                return user
        customer = invoice.get("customer")
        if isinstance(customer, dict):
            return (customer.get("metadata") or {}).get("clerk_user_id")
        if not isinstance(customer, str):
            return None
        if owners is not None and customer in owners:
            return owners[customer]
        user = ((self.gateway.get_customer(customer) or {}).get("metadata") or {}).get("clerk_user_id")
        if owners is not None:
            owners[customer] = user
        return user

    def _plan(self, price_id: str | None) -> str | None:
        """What the member bought: the price's product name (from the cached catalog), else the price id."""
        if not price_id:
            return None
        try:
            product = self.catalog.get_price(price_id).data.get("product")
        except NotFound:
            return price_id
        return (product.get("name") if isinstance(product, dict) else None) or price_id

    # --- reading: the store only --------------------------------------------------------------
    def page(self, clerk_user_id: str, limit: int = 10, starting_after: str | None = None) -> dict:
        """One page of the user's invoices and payments, newest first, with Stripe's list rules."""
        after = None
        if starting_after is not None:
            cursor = self.store.get_payment(starting_after)
            if cursor is None or cursor.clerk_user_id != clerk_user_id:  # another user's row is no cursor of yours
                raise ValidationFailed(details={"starting_after": ["No such object."]})
            after = (cursor.stripe_created, cursor.stripe_id)
        rows = self.store.list_payments(clerk_user_id, limit + 1, after)
        data = [public(row) for row in rows[:limit]]
        return {"data": data, "count": len(data), "has_more": len(rows) > limit}


def _invoice_price(invoice: dict) -> str | None:
    """The first line's price: `pricing.price_details.price` in the pinned API, `price` before it."""
    lines = ((invoice.get("lines") or {}).get("data")) or []
    if not lines:
        return None
    line = lines[0]
    details = (line.get("pricing") or {}).get("price_details") or {}
    return expandable_id(details.get("price")) or expandable_id(line.get("price"))


def invoice_record(invoice: dict, stamp: int, clerk_user_id: str | None, plan: str | None) -> PaymentRecord:
    """The stored shape of a Stripe invoice: the billed period is its first line's."""
    lines = ((invoice.get("lines") or {}).get("data")) or []
    period = (lines[0].get("period") or {}) if lines else {}
    return PaymentRecord(
        stripe_id=invoice["id"], kind="invoice", clerk_user_id=clerk_user_id,
        stripe_customer_id=expandable_id(invoice.get("customer")), number=invoice.get("number"),
        status=invoice["status"], amount_due=int(invoice.get("amount_due") or 0),
        amount_paid=int(invoice.get("amount_paid") or 0), currency=invoice.get("currency") or "",
        stripe_created=int(invoice.get("created") or 0),
        period_start=period.get("start", invoice.get("period_start")),
        period_end=period.get("end", invoice.get("period_end")),
        description=plan or invoice.get("description"), hosted_invoice_url=invoice.get("hosted_invoice_url"),
        invoice_pdf=invoice.get("invoice_pdf"), receipt_url=None, stamp=stamp,
    )


def payment_record(intent: dict, stamp: int, clerk_user_id: str, description: str | None) -> PaymentRecord:
    """The stored shape of a one-time PaymentIntent; a refunded latest charge shows in the status."""
    charge = intent.get("latest_charge")
    charge = charge if isinstance(charge, dict) else {}
    status = intent["status"]
    if charge.get("refunded"):
        status = "refunded"
    elif charge.get("amount_refunded"):
        status = "partially_refunded"
    return PaymentRecord(
        stripe_id=intent["id"], kind="payment", clerk_user_id=clerk_user_id,
        stripe_customer_id=expandable_id(intent.get("customer")), number=None, status=status,
        amount_due=int(intent.get("amount") or 0), amount_paid=int(intent.get("amount_received") or 0),
        currency=intent.get("currency") or "", stripe_created=int(intent.get("created") or 0),
        period_start=None, period_end=None, description=description, hosted_invoice_url=None, invoice_pdf=None,
        receipt_url=charge.get("receipt_url"), stamp=stamp,
    )


def public(record: PaymentRecord) -> dict:
    """What GET /stripe/invoices shows of a stored invoice or payment."""
    return {"id": record.stripe_id, "kind": record.kind, "number": record.number, "status": record.status,
            "amount_due": record.amount_due, "amount_paid": record.amount_paid, "currency": record.currency,
            "created": record.stripe_created,
            "period": ({"start": record.period_start, "end": record.period_end}
                       if record.kind == "invoice" else None),
            "description": record.description, "hosted_invoice_url": record.hosted_invoice_url,
            "invoice_pdf": record.invoice_pdf, "receipt_url": record.receipt_url}
