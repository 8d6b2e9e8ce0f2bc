// One client per signed-in app: the web passes Clerk's useAuth().getToken, Expo the same from @clerk/clerk-expo.
import { createPaymentsClient, type GetToken, type PaymentsClient } from "@tatame/payments-client";

export const PAYMENTS_URL = "https://payments.tatame.example";

export function paymentsClient(getToken: GetToken): PaymentsClient {
  return createPaymentsClient({ baseUrl: PAYMENTS_URL, getToken });
}
