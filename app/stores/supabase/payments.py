"""Payment history on Supabase: reads and the guarded write through tatame_* functions."""

from __future__ import annotations

from typing import Any

from ..base import PaymentRecord
from .client import SupabaseClient, timestamp

PAYMENT_TABLE = "stripe_payments"
# The record's fields, each a column and a p_<field> argument of tatame_save_payment.
_FIELDS = (
    "stripe_id", "kind", "clerk_user_id", "stripe_customer_id", "number", "status", "amount_due", "amount_paid",
    "currency", "stripe_created", "period_start", "period_end", "description", "hosted_invoice_url", "invoice_pdf",
    "receipt_url", "stamp",
)
PAYMENT_COLUMNS = ",".join((*_FIELDS, "updated_at"))
_INTEGERS = ("amount_due", "amount_paid", "stripe_created", "stamp")
_OPTIONAL_INTEGERS = ("period_start", "period_end")


def _record(row: dict[str, Any]) -> PaymentRecord:
    values = {name: row[name] for name in _FIELDS}
    values.update({name: int(row[name]) for name in _INTEGERS})
    values.update({name: None if row[name] is None else int(row[name]) for name in _OPTIONAL_INTEGERS})
    return PaymentRecord(**values, updated_at=timestamp(row.get("updated_at")))


class Payments(SupabaseClient):
    """The Store's payment history methods."""

    def save_payment(self, record: PaymentRecord) -> bool:
        """Insert, or replace a row with a smaller stamp; whether it was written (see Store.save_payment)."""
        return self._call_flag("tatame_save_payment", {f"p_{field}": getattr(record, field) for field in _FIELDS})

    def get_payment(self, stripe_id: str) -> PaymentRecord | None:
        """The invoice's or payment's row, or None."""
        row = self._select_one(PAYMENT_TABLE, PAYMENT_COLUMNS, "stripe_id", stripe_id)
        return None if row is None else self._parse("payment", _record, row)

    def list_payments(self, clerk_user_id: str, limit: int, after: tuple[int, str] | None = None) -> list[PaymentRecord]:
        """At most `limit` of the user's rows, newest first, after the cursor (see Store.list_payments)."""
        params = {"p_clerk_user_id": clerk_user_id, "p_limit": limit,
                  "p_after_created": after[0] if after else None, "p_after_id": after[1] if after else None}
        rows = self._rpc("tatame_list_payments", params)
        if not isinstance(rows, list):
            raise self._unexpected("tatame_list_payments", rows)
        return [self._parse("payment", _record, self._row("tatame_list_payments", row)) for row in rows]
