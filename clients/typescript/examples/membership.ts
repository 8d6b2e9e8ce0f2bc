// Web and mobile: the member's access, shown on the membership screen and used to unlock classes.
import type { Membership, PaymentsClient } from "@tatame/payments-client";

import { errorMessage } from "./errors.js";

export interface MembershipView {
  access: boolean;
  status: string;
  renewsOrEndsOn: Date | null;
  endsAtPeriodEnd: boolean;
}

export async function loadMembership(api: PaymentsClient): Promise<MembershipView> {
  const { data, error } = await api.GET("/stripe/subscription");
  if (error) throw new Error(errorMessage(error.error));
  return view(data.data);
}

function view(membership: Membership): MembershipView {
  const subscription = membership.subscription && "id" in membership.subscription ? membership.subscription : null;
  const end = subscription?.current_period_end;
  return {
    access: membership.access,
    status: membership.status,
    renewsOrEndsOn: typeof end === "number" ? new Date(end * 1000) : null,
    endsAtPeriodEnd: subscription?.cancel_at_period_end ?? false,
  };
}
