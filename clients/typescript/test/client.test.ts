// The client's own behaviour, with fetch answered here (the network edge): headers, retries, errors.
import assert from "node:assert/strict";
import { test } from "node:test";

import { createPaymentsClient, type PaymentsClientOptions, retryAfterSeconds } from "../src/index.js";

interface Sent {
  method: string;
  url: string;
  headers: Headers;
  body: string;
}

function envelope(status: number, code: string, headers: Record<string, string> = {}): Response {
  const body = { error: { code, message: code.toLowerCase(), request_id: "req-from-service" } };
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json", ...headers } });
}

function ok(status: number, data: unknown): Response {
  return new Response(JSON.stringify({ data }), { status, headers: { "Content-Type": "application/json" } });
}

/** A client whose fetch answers from `answers` in turn (the last one repeats) and records what was sent. */
function clientAnswering(answers: Array<() => Response>, options: Partial<PaymentsClientOptions> = {}) {
  const sent: Sent[] = [];
  const api = createPaymentsClient({
    baseUrl: "https://payments.test/",
    getToken: async () => "token-1",
    ...options,
    fetch: async (request) => {
      sent.push({ method: request.method, url: request.url, headers: request.headers, body: await request.text() });
      return (answers[sent.length - 1] ?? answers[answers.length - 1]!)();
    },
  });
  return { api, sent };
}

const MEMBERSHIP = { status: "none", access: false, subscription: null };

test("every call carries the Clerk token and its own request id", async () => {
  let ids = 0;
  const { api, sent } = clientAnswering([() => ok(200, MEMBERSHIP)], { requestId: () => `call-${++ids}` });
  const { data } = await api.GET("/stripe/subscription");
  await api.GET("/stripe/subscription");
  assert.deepEqual(data?.data, MEMBERSHIP);
  assert.equal(sent[0]!.url, "https://payments.test/stripe/subscription");
  assert.equal(sent[0]!.headers.get("Authorization"), "Bearer token-1");
  assert.deepEqual(sent.map((s) => s.headers.get("X-Request-ID")), ["call-1", "call-2"]);
});

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test("the default request id is a UUID the service accepts as its own", async () => {
  const { api, sent } = clientAnswering([() => ok(200, MEMBERSHIP)]);
  await api.GET("/stripe/subscription");
  assert.match(sent[0]!.headers.get("X-Request-ID")!, UUID);
});

test("a platform without Web Crypto (React Native) still sends UUIDs, each its own", async () => {
  const crypto = Object.getOwnPropertyDescriptor(globalThis, "crypto");
  Object.defineProperty(globalThis, "crypto", { value: undefined, configurable: true, writable: true });
  try {
    const { api, sent } = clientAnswering([() => ok(200, MEMBERSHIP)]);
    await api.GET("/stripe/subscription");
    await api.GET("/stripe/subscription");
    const [first, second] = sent.map((s) => s.headers.get("X-Request-ID")!);
    assert.match(first!, UUID);
    assert.notEqual(first, second);
  } finally {
    if (crypto) Object.defineProperty(globalThis, "crypto", crypto);
    else delete (globalThis as { crypto?: unknown }).crypto;
  }
});

test("no token sends no Authorization header, and the 401 comes back typed", async () => {
  const { api, sent } = clientAnswering([() => envelope(401, "UNAUTHORIZED")], { getToken: async () => null });
  const { data, error } = await api.GET("/stripe/subscription");
  assert.equal(sent[0]!.headers.has("Authorization"), false);
  assert.equal(data, undefined);
  assert.equal(error?.error.code, "UNAUTHORIZED");
  assert.equal(error?.error.request_id, "req-from-service");
});

test("an in-progress 409 is sent again after Retry-After, same id, same body, fresh token", async () => {
  let tokens = 0;
  const { api, sent } = clientAnswering(
    [() => envelope(409, "PURCHASE_IN_PROGRESS", { "Retry-After": "1" }), () => ok(201, { id: "cs_1" })],
    { getToken: async () => `token-${++tokens}` },
  );
  const started = Date.now();
  const { data, error } = await api.POST("/stripe/checkout-session", { body: { price_id: "price_monthly" } });
  const elapsed = Date.now() - started;
  assert.equal(error, undefined);
  assert.deepEqual(data?.data, { id: "cs_1" });
  assert.equal(sent.length, 2);
  assert.ok(elapsed >= 950, `waited ${elapsed} ms, Retry-After said 1 s`);
  assert.equal(sent[1]!.headers.get("X-Request-ID"), sent[0]!.headers.get("X-Request-ID"));
  assert.deepEqual(sent.map((s) => s.body), ['{"price_id":"price_monthly"}', '{"price_id":"price_monthly"}']);
  assert.deepEqual(sent.map((s) => s.headers.get("Authorization")), ["Bearer token-1", "Bearer token-2"]);
});

test("429 is retried at most maxAttempts times, then the last answer is returned", async () => {
  const { api, sent } = clientAnswering([() => envelope(429, "RATE_LIMITED", { "Retry-After": "0" })]);
  const { error, response } = await api.GET("/stripe/prices");
  assert.equal(sent.length, 3);
  assert.equal(response.status, 429);
  assert.equal(error?.error.code, "RATE_LIMITED");
});

test("a wait past the total budget is not waited: the answer comes back at once", async () => {
  const { api, sent } = clientAnswering([() => envelope(429, "RATE_LIMITED", { "Retry-After": "30" })]);
  const started = Date.now();
  const { error, response } = await api.GET("/stripe/prices");
  assert.ok(Date.now() - started < 500);
  assert.equal(sent.length, 1);
  assert.equal(error?.error.code, "RATE_LIMITED");
  assert.equal(response.headers.get("Retry-After"), "30");
});

test("the waits of one call add up to at most maxWaitSeconds", async () => {
  const { api, sent } = clientAnswering([() => envelope(409, "CUSTOMER_IN_PROGRESS", { "Retry-After": "1" })], {
    retry: { maxAttempts: 10, maxWaitSeconds: 1 },
  });
  const { error } = await api.POST("/stripe/customer", { body: {} });
  assert.equal(sent.length, 2);
  assert.equal(error?.error.code, "CUSTOMER_IN_PROGRESS");
});

test("retry options that are not finite numbers fall back to the defaults: never unbounded", async () => {
  const { api, sent } = clientAnswering([() => envelope(429, "RATE_LIMITED", { "Retry-After": "0" })], {
    retry: { maxAttempts: Number.POSITIVE_INFINITY, maxWaitSeconds: Number.NaN },
  });
  await api.GET("/stripe/prices");
  assert.equal(sent.length, 3);
});

test("a final 409 (SUBSCRIPTION_EXISTS) is not retried, and retry: false sends once", async () => {
  const exists = clientAnswering([() => envelope(409, "SUBSCRIPTION_EXISTS", { "Retry-After": "0" })]);
  const { error } = await exists.api.POST("/stripe/checkout-session", { body: { price_id: "price_monthly" } });
  assert.equal(exists.sent.length, 1);
  assert.equal(error?.error.code, "SUBSCRIPTION_EXISTS");

  const once = clientAnswering([() => envelope(429, "RATE_LIMITED", { "Retry-After": "0" })], { retry: false });
  await once.api.GET("/stripe/prices");
  assert.equal(once.sent.length, 1);
});

test("a failure without the envelope (a proxy's page) still comes back as one", async () => {
  const page = () => new Response("<html>Bad gateway</html>", { status: 502, headers: { "Content-Type": "text/html" } });
  const { api } = clientAnswering([page]);
  const { error, response } = await api.GET("/stripe/prices");
  assert.equal(response.status, 502);
  assert.equal(error?.error.code, "SERVICE_UNAVAILABLE");
  assert.deepEqual(error?.error.details, { status: 502, body: "<html>Bad gateway</html>" });
});

test("Retry-After is read as seconds or as an HTTP date", () => {
  const now = Date.parse("2026-01-01T00:00:00Z");
  assert.equal(retryAfterSeconds("7", now), 7);
  assert.equal(retryAfterSeconds("Thu, 01 Jan 2026 00:00:05 GMT", now), 5);
  assert.equal(retryAfterSeconds(null, now), 1);
  assert.equal(retryAfterSeconds("soon", now), 1);
});
