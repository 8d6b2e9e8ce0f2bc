// The Tatame payments API for the web and mobile apps: typed calls (openapi-fetch over the types
// generated from openapi.json), the Clerk session token and a request id on every call, and a
// bounded retry where the service answers "try again in a moment".
import createClient, { type Client } from "openapi-fetch";

import type { components, paths } from "./openapi.js";
import { DEFAULT_RETRY, type RetryOptions, retryDelay, sleep } from "./retry.js";

export type { components, operations, paths } from "./openapi.js";
export type { RetryOptions } from "./retry.js";
export { retryAfterSeconds } from "./retry.js";

type Schemas = components["schemas"];

/** The error envelope every failure carries: `{ error: { code, message, details?, request_id } }`. */
export type ErrorEnvelope = Schemas["ErrorEnvelope"];
/** One variant per code the service documents; `switch (error.code)` narrows it. */
export type ApiError = Schemas["ErrorBody"];
export type ErrorCode = ApiError["code"];
/** The codes that mean "the same work is under way in another request": retried after Retry-After. */
export type InProgressCode = Extract<ErrorCode, `${string}_IN_PROGRESS`>;

export type Price = Schemas["Price"];
export type Product = Schemas["Product"];
export type CheckoutSession = Schemas["CheckoutSession"];
export type PaymentSheet = Schemas["PaymentSheet"];
export type Membership = Schemas["Membership"];
export type Subscription = Schemas["SubscriptionView"];
/** An invoice (`kind: "invoice"`) or a one-time payment (`kind: "payment"`) from GET /stripe/invoices. */
export type Payment = Schemas["PaymentView"];

/** What Clerk gives: `useAuth().getToken` (@clerk/nextjs, @clerk/clerk-react, @clerk/clerk-expo). */
export type GetToken = () => Promise<string | null>;

export interface PaymentsClientOptions {
  /** Where the service answers, e.g. "https://payments.tatame.app" (no trailing path). */
  baseUrl: string;
  /** Called before every send; null sends no Authorization (the service answers 401 UNAUTHORIZED). */
  getToken: GetToken;
  /** Bounds on retrying 429 and *_IN_PROGRESS answers; false sends each call once. */
  retry?: RetryOptions | false;
  /** A request id for each call (kept across its retries); default: a random UUID. */
  requestId?: () => string;
  /** Default: the platform's fetch. */
  fetch?: (request: Request) => Promise<Response>;
}

/** openapi-fetch's client over every path of the service: `api.GET("/stripe/prices")` and so on. */
export type PaymentsClient = Client<paths, "application/json">;

export function createPaymentsClient(options: PaymentsClientOptions): PaymentsClient {
  const send = options.fetch ?? ((request: Request) => globalThis.fetch(request));
  const retry = options.retry === false ? { maxAttempts: 1, maxWaitSeconds: 0 } : {
    maxAttempts: bound(options.retry?.maxAttempts, DEFAULT_RETRY.maxAttempts, 1),
    maxWaitSeconds: bound(options.retry?.maxWaitSeconds, DEFAULT_RETRY.maxWaitSeconds, 0),
  };
  const requestId = options.requestId ?? randomId;

  async function fetchWithRetry(request: Request): Promise<Response> {
    const id = request.headers.get("X-Request-ID") ?? requestId();
    let waited = 0;
    for (let attempt = 1; ; attempt++) {
      const attemptRequest = request.clone();
      const token = await options.getToken();
      if (token) attemptRequest.headers.set("Authorization", `Bearer ${token}`);
      attemptRequest.headers.set("X-Request-ID", id);
      const response = await send(attemptRequest);
      const delay = await retryDelay(response);
      if (delay === null || attempt >= retry.maxAttempts || waited + delay > retry.maxWaitSeconds) {
        return asEnvelope(response);
      }
      await response.body?.cancel().catch(() => undefined);  // this answer is dropped: free its connection
      await sleep(delay, request.signal);
      waited += delay;
    }
  }

  return createClient<paths, "application/json">({ baseUrl: options.baseUrl.replace(/\/+$/, ""), fetch: fetchWithRetry });
}

/** A finite number no smaller than `least`, or the default (so no option can make the retry unbounded). */
function bound(value: number | undefined, fallback: number, least: number): number {
  return typeof value === "number" && Number.isFinite(value) ? Math.max(least, Math.floor(value)) : fallback;
}

/** True when `value` is the service's error envelope (for errors caught outside the client's results). */
export function isErrorEnvelope(value: unknown): value is ErrorEnvelope {
  const error = (value as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  return typeof error?.code === "string" && typeof error.message === "string";
}

/**
 * A failure that is not the service's envelope (a proxy's HTML page, an empty 502) becomes one, so
 * `error` is always an ErrorEnvelope: SERVICE_UNAVAILABLE, with the status and a short excerpt.
 */
async function asEnvelope(response: Response): Promise<Response> {
  if (response.status < 400) return response;
  const text = await response.clone().text();
  try {
    if (isErrorEnvelope(JSON.parse(text))) return response;
  } catch {
    // not JSON: fall through
  }
  const envelope: ErrorEnvelope = {
    error: {
      code: "SERVICE_UNAVAILABLE",
      message: `HTTP ${response.status} without the service's error envelope`,
      details: { status: response.status, body: text.slice(0, 200) },
      request_id: response.headers.get("X-Request-ID"),
    },
  };
  const headers = new Headers(response.headers);
  headers.set("Content-Type", "application/json");
  headers.delete("Content-Length");
  return new Response(JSON.stringify(envelope), { status: response.status, statusText: response.statusText, headers });
}

/** A random (version 4) UUID: crypto.randomUUID where the platform has it (not Node 18, not React Native). */
function randomId(): string {
  const crypto = (globalThis as { crypto?: Partial<Pick<Crypto, "randomUUID" | "getRandomValues">> }).crypto;
  if (typeof crypto?.randomUUID === "function") return crypto.randomUUID();
  const bytes = new Uint8Array(16);
  if (typeof crypto?.getRandomValues === "function") crypto.getRandomValues(bytes);
  else for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
  bytes[6] = (bytes[6]! & 0x0f) | 0x40;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
