// What the apps show for each error code; the switch is exhaustive, so a new code in openapi.json
// fails this file's compile until it has a line here.
import type { ApiError } from "@tatame/payments-client";

export function errorMessage(error: ApiError): string {
  switch (error.code) {
    case "UNAUTHORIZED":
      return "Please sign in again.";
    case "SUBSCRIPTION_EXISTS":
      return "You already have a membership.";
    case "RATE_LIMITED":
      return "Too many tries: wait a moment.";
    case "CUSTOMER_IN_PROGRESS":
    case "PURCHASE_IN_PROGRESS":
    case "EVENT_IN_PROGRESS":
      return "Still working on it: try again in a moment.";
    case "VALIDATION_ERROR":
      return `Something in the request was not accepted (${Object.keys(error.details ?? {}).join(", ")}).`;
    case "NOT_FOUND":
      return "That plan is no longer offered.";
    case "SERVICE_ERROR":
    case "SERVICE_UNAVAILABLE":
    case "INTERNAL_ERROR":
      return `Payments are unavailable right now (reference ${error.request_id ?? "none"}).`;
    case "INVALID_PAYLOAD":
    case "INVALID_SIGNATURE":
    case "MISSING_SIGNATURE":
    case "METHOD_NOT_ALLOWED":
    case "PAYLOAD_TOO_LARGE":
    case "UNSUPPORTED_MEDIA_TYPE":
      return `Unexpected error ${error.code}: ${error.message}`;
    default: {
      const unhandled: never = error;
      return `Unknown error ${(unhandled as ApiError).code}`;
    }
  }
}
