// Web and mobile plans screen: the recurring prices on offer, with their product's name.
import type { PaymentsClient, Price } from "@tatame/payments-client";

import { errorMessage } from "./errors.js";

export interface PlanCard {
  priceId: string;
  name: string;
  amount: string;
  interval: string | null;
}

export async function loadPlans(api: PaymentsClient): Promise<PlanCard[]> {
  const { data, error } = await api.GET("/stripe/prices", { params: { query: { type: "recurring", limit: 20 } } });
  if (error) throw new Error(errorMessage(error.error));
  return data.data.map(planCard);
}

function planCard(price: Price): PlanCard {
  const product = typeof price.product === "string" ? null : price.product;
  const amount = price.unit_amount === null || price.unit_amount === undefined ? "-" : (price.unit_amount / 100).toFixed(2);
  const recurring = price.recurring as { interval?: string } | null | undefined;
  return {
    priceId: price.id,
    name: product?.name ?? price.nickname ?? price.id,
    amount: `${amount} ${price.currency.toUpperCase()}`,
    interval: recurring?.interval ?? null,
  };
}
