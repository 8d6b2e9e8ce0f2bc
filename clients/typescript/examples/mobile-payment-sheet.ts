// Mobile (Expo): the data @stripe/stripe-react-native's initPaymentSheet needs, from POST /stripe/payment-sheet.
import type { PaymentSheet, PaymentsClient } from "@tatame/payments-client";

import { errorMessage } from "./errors.js";

/** The fields of initPaymentSheet's parameters that come from the service. */
export interface PaymentSheetParams {
  merchantDisplayName: string;
  customerId: string;
  customerSessionClientSecret: string;
  paymentIntentClientSecret?: string;
  setupIntentClientSecret?: string;
  publishableKey: string | null;
}

export async function paymentSheetParams(api: PaymentsClient, priceId: string): Promise<PaymentSheetParams> {
  const { data, error } = await api.POST("/stripe/payment-sheet", { body: { price_id: priceId } });
  if (error) throw new Error(errorMessage(error.error));
  return toParams(data.data);
}

function toParams(sheet: PaymentSheet): PaymentSheetParams {
  if (sheet.client_secret === null) throw new Error("Nothing to pay: the membership is already active.");
  const secret = sheet.intent_type === "payment"
    ? { paymentIntentClientSecret: sheet.client_secret }
    : { setupIntentClientSecret: sheet.client_secret };
  return {
    merchantDisplayName: "Tatame",
    customerId: sheet.customer,
    customerSessionClientSecret: sheet.customer_session_client_secret,
    publishableKey: sheet.publishable_key,
    ...secret,
  };
}
