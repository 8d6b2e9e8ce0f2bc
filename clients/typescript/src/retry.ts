// When an answer says "try again in a moment", and how long that moment is.

/** How many times one call may be sent, and how long it may wait in all between sends. */
export interface RetryOptions {
  /** Sends of one call, the first included (default 3; 1 turns retrying off). */
  maxAttempts?: number;
  /** Seconds one call may spend waiting on Retry-After, added up (default 10). */
  maxWaitSeconds?: number;
}

export const DEFAULT_RETRY: Required<RetryOptions> = { maxAttempts: 3, maxWaitSeconds: 10 };

/** Without a Retry-After header, wait this long. */
const FALLBACK_SECONDS = 1;

/**
 * Seconds to wait before sending again, or null when the answer is final.
 *
 * Retried: 429 (any), and 409 whose error code ends in `_IN_PROGRESS` (another request of the same
 * user is doing the same work right now; the service answers with Retry-After). Every other 409
 * (`SUBSCRIPTION_EXISTS`) and every other status is final.
 */
export async function retryDelay(response: Response): Promise<number | null> {
  if (response.status === 429) return retryAfterSeconds(response.headers.get("Retry-After"));
  if (response.status !== 409) return null;
  const code = await errorCode(response);
  return code?.endsWith("_IN_PROGRESS") ? retryAfterSeconds(response.headers.get("Retry-After")) : null;
}

/** Retry-After as seconds: a number of seconds or an HTTP date; missing or unreadable gives 1 s. */
export function retryAfterSeconds(header: string | null, now: number = Date.now()): number {
  if (header === null || header.trim() === "") return FALLBACK_SECONDS;
  const text = header.trim();
  if (/^\d+$/.test(text)) return Number(text);
  const date = Date.parse(text);
  return Number.isNaN(date) ? FALLBACK_SECONDS : Math.max(0, Math.ceil((date - now) / 1000));
}

/** The envelope's `error.code`, read from a copy so the body stays readable; null if there is none. */
export async function errorCode(response: Response): Promise<string | null> {
  try {
    const body: unknown = await response.clone().json();
    const error = (body as { error?: { code?: unknown } } | null)?.error;
    return typeof error?.code === "string" ? error.code : null;
  } catch {
    return null;
  }
}

export function sleep(seconds: number, signal?: AbortSignal | null): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, seconds * 1000);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
