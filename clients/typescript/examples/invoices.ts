// Web and mobile: "what I paid", the member's invoices and one-time payments, newest first, a page at a time.
import type { Payment, PaymentsClient } from "@tatame/payments-client";

import { errorMessage } from "./errors.js";

export interface PaymentLine {
  id: string;
  title: string;
  amount: string;
  status: string;
  date: Date;
  /** Stripe's page for an invoice (pay an open one, download it), or the payment's receipt. */
  link: string | null;
  pdf: string | null;
}

export interface PaymentHistoryPage {
  lines: PaymentLine[];
  /** Pass it back to load the next page; null on the last one. */
  next: string | null;
}

export async function loadPaymentHistory(api: PaymentsClient, after?: string): Promise<PaymentHistoryPage> {
  const query = after ? { limit: 20, starting_after: after } : { limit: 20 };
  const { data, error } = await api.GET("/stripe/invoices", { params: { query } });
  if (error) throw new Error(errorMessage(error.error));
  const lines = data.data.map(line);
  const last = lines[lines.length - 1];
  return { lines, next: data.has_more && last ? last.id : null };
}

function line(payment: Payment): PaymentLine {
  const paid = payment.kind === "invoice" && payment.status !== "paid" ? payment.amount_due : payment.amount_paid;
  const title = payment.description ?? (payment.number ? `Invoice ${payment.number}` : "Payment");
  return {
    id: payment.id,
    title,
    amount: `${(paid / 100).toFixed(2)} ${payment.currency.toUpperCase()}`,
    status: payment.status,
    date: new Date(payment.created * 1000),
    link: payment.hosted_invoice_url ?? payment.receipt_url ?? null,
    pdf: payment.invoice_pdf ?? null,
  };
}
