// Web and mobile: "Cancel membership" ends it at the end of the paid period; "Keep it" undoes that.
import type { PaymentsClient, Subscription } from "@tatame/payments-client";

import { errorMessage } from "./errors.js";

export async function cancelMembership(api: PaymentsClient): Promise<Subscription> {
  const { data, error } = await api.POST("/stripe/subscription/cancel");
  if (error) throw new Error(errorMessage(error.error));
  return data.data;
}

export async function keepMembership(api: PaymentsClient): Promise<Subscription> {
  const { data, error } = await api.POST("/stripe/subscription/resume");
  if (error) throw new Error(errorMessage(error.error));
  return data.data;
}
