/**
 * The one table from how a request ended to the `outcome` its allowed
 * decisions record (see {@linkcode FAILURE_CLASSES}). Denials never come
 * through here: their outcome is always `deny`.
 * @module
 */

import { BasilError } from "../core/errors.ts";
import type { BasilErrorCode } from "../core/errors.ts";
import type { FailureClass, Outcome } from "./record.ts";

/**
 * Broker error code → outcome of the allowed decisions of a request that
 * failed with it. A request refused by a denial (UNAUTHORIZED after some
 * allowed decisions, as in an ImportSet with one denied entry) records `deny`:
 * nothing was applied.
 */
const BY_CODE: Readonly<Record<BasilErrorCode, Outcome>> = {
  UNAUTHENTICATED: "deny",
  UNAUTHORIZED: "deny",
  INVALID_REQUEST: "invalid_request",
  INVALID_ARGUMENT: "invalid_request",
  DECRYPT_FAILED: "decrypt_failed",
  PAYLOAD_TOO_LARGE: "payload_too_large",
  UNSUPPORTED: "unsupported",
  UNSUPPORTED_ALGORITHM: "unsupported",
  BACKEND_UNAVAILABLE: "backend_unavailable",
  BACKEND_ERROR: "backend_error",
  INTERNAL: "internal_error",
  NO_REVOCATION_STORE: "failed_precondition",
  INVOCATION_DISABLED: "failed_precondition",
  FAILED_PRECONDITION: "failed_precondition",
  DATA_LOSS: "internal_error",
  RATE_LIMITED: "rate_limited",
};

/** How a request's input errors are recorded: `validation_failed` for a credential validation. */
export type InvalidAs = Extract<FailureClass, "invalid_request" | "validation_failed">;

/**
 * The outcome of the allowed decisions of a request that failed with `e`.
 * A broker error keeps its class even when the client has gone away
 * meanwhile (`cancelled` would hide a backend failure); an abort, or a
 * foreign error after the client went away (`clientGone`), is `cancelled`.
 * `invalidAs` replaces `invalid_request` for operations whose input errors
 * are validation verdicts.
 */
export function failureOutcome(e: unknown, clientGone: boolean, invalidAs: InvalidAs): Outcome {
  if (e instanceof BasilError) {
    const o = BY_CODE[e.code];
    return o === "invalid_request" ? invalidAs : o;
  }
  if (clientGone || (e instanceof DOMException && e.name === "AbortError")) return "cancelled";
  return "internal_error";
}
