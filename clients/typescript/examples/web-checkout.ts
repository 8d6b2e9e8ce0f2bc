// Web (Next.js): "Subscribe" sends the browser to Stripe Checkout; a member goes to their membership page.
import type { PaymentsClient } from "@tatame/payments-client";

import { errorMessage } from "./errors.js";

export type CheckoutStep = { redirectTo: string } | { message: string };

export async function startCheckout(api: PaymentsClient, priceId: string, origin: string): Promise<CheckoutStep> {
  const { data, error } = await api.POST("/stripe/checkout-session", {
    body: { price_id: priceId, success_url: `${origin}/membership?checkout=done`, cancel_url: `${origin}/plans` },
  });
  if (error) {
    if (error.error.code === "SUBSCRIPTION_EXISTS") return { redirectTo: `${origin}/membership` };
    return { message: errorMessage(error.error) };
  }
  if (!data.data.url) return { message: "This checkout has already ended: pick a plan again." };
  return { redirectTo: data.data.url };
}
