// The purchase, end to end through the client, against the service started offline by
// tests/client/test_typescript_client.py (TATAME_API_URL, TATAME_TOKEN): plans, checkout, pay on the
// sandbox's local page, membership active, cancel at the period's end.
import assert from "node:assert/strict";
import { test } from "node:test";

import { createPaymentsClient, type Membership } from "../src/index.js";

const baseUrl = process.env.TATAME_API_URL;
const token = process.env.TATAME_TOKEN;

function step(text: string): void {
  console.log(`walk: ${text}`);
}

test("plans → checkout → pay → membership active → cancel", { skip: !baseUrl || !token ? "TATAME_API_URL and TATAME_TOKEN are not set" : false }, async () => {
  let calls = 0;
  const api = createPaymentsClient({ baseUrl: baseUrl!, getToken: async () => token!, requestId: () => `ts-walk-${++calls}` });

  const plans = await api.GET("/stripe/prices", { params: { query: { type: "recurring" } } });
  assert.equal(plans.error, undefined, JSON.stringify(plans.error));
  assert.equal(plans.response.headers.get("X-Request-ID"), "ts-walk-1");
  const price = plans.data!.data.find((p) => p.type === "recurring" && p.active);
  assert.ok(price, "a recurring price is on offer");
  step(`plans: ${plans.data!.data.length} recurring price(s); picked ${price.id} (${price.unit_amount} ${price.currency})`);

  const before = await api.GET("/stripe/subscription");
  assert.equal(before.data?.data.access, false);
  step(`membership before: status=${before.data!.data.status} access=${before.data!.data.access}`);

  const checkout = await api.POST("/stripe/checkout-session", { body: { price_id: price.id } });
  assert.equal(checkout.error, undefined, JSON.stringify(checkout.error));
  assert.equal(checkout.response.status, 201);
  const session = checkout.data!.data;
  assert.ok(session.url?.includes(`/dev/checkout/${session.id}`), `the local checkout page: ${session.url}`);
  step(`checkout session ${session.id} (${session.mode}, ${session.price}): 201, page ${new URL(session.url!).pathname}`);

  const paid = await fetch(new URL(`/dev/checkout/${session.id}/pay`, baseUrl), { method: "POST", redirect: "manual" });
  assert.equal(paid.status, 303);
  step(`paid on the local page: ${paid.status} → ${paid.headers.get("Location")}`);

  let membership: Membership | undefined;
  const started = Date.now();
  while (Date.now() - started < 15_000) {
    const answer = await api.GET("/stripe/subscription");
    assert.equal(answer.error, undefined, JSON.stringify(answer.error));
    membership = answer.data!.data;
    if (membership.access) break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  assert.equal(membership?.access, true, `membership never became active: ${JSON.stringify(membership)}`);
  assert.equal(membership.status, "active");
  step(`membership active after ${Date.now() - started} ms: status=${membership.status} access=${membership.access}`);

  const again = await api.POST("/stripe/checkout-session", { body: { price_id: price.id } });
  assert.equal(again.response.status, 409);
  assert.equal(again.error?.error.code, "SUBSCRIPTION_EXISTS");
  step(`a second checkout: ${again.response.status} ${again.error.error.code} (request ${again.error.error.request_id})`);

  const cancel = await api.POST("/stripe/subscription/cancel");
  assert.equal(cancel.error, undefined, JSON.stringify(cancel.error));
  assert.equal(cancel.data!.data.cancel_at_period_end, true);
  const after = await api.GET("/stripe/subscription");
  assert.equal(after.data?.data.access, true, "access lasts until the period ends");
  step(`cancelled: cancel_at_period_end=${cancel.data!.data.cancel_at_period_end}, access still ${after.data!.data.access} until the period ends`);
});
