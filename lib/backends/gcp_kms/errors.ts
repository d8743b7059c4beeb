/**
 * How Cloud KMS failures become broker errors. The caller only ever sees
 * the fixed BACKEND_UNAVAILABLE, BACKEND_ERROR or DECRYPT_FAILED messages;
 * the gRPC status, the method and the resource name go to `detail` (logged,
 * never sent). Google's error text is clipped and stripped of control
 * characters before it reaches `detail`.
 * @module
 */

import { BasilError, decryptFailed, KEY_NOT_FOUND_MESSAGE } from "../../core/errors.ts";

const MAX_DETAIL_TEXT = 200;

/** gRPC status codes (the numbers google-gax errors carry in `code`). */
export const GrpcCode = {
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

/** Statuses that say "could not get an answer", not "the answer is no". */
const TRANSIENT: ReadonlySet<number> = new Set([
  GrpcCode.CANCELLED,
  GrpcCode.DEADLINE_EXCEEDED,
  GrpcCode.RESOURCE_EXHAUSTED,
  GrpcCode.ABORTED,
  GrpcCode.UNAVAILABLE,
]);

/** The gRPC status of a client error, or undefined when it carries none. */
export function grpcCodeOf(e: unknown): number | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === "number" ? code : undefined;
}

/** The backend could not be reached or did not answer in time. */
export function unavailable(detail: string): BasilError {
  return new BasilError("BACKEND_UNAVAILABLE", undefined, { detail });
}

/** The backend answered, but refused or answered nonsense. */
export function rejected(detail: string): BasilError {
  return new BasilError("BACKEND_ERROR", undefined, { detail });
}

/** The key or version is not stored. */
export function keyNotFound(detail: string): BasilError {
  return new BasilError("INTERNAL", KEY_NOT_FOUND_MESSAGE, { detail });
}

/** One log-safe line about a failed call. */
export function describe(what: string, e: unknown): string {
  const code = grpcCodeOf(e);
  const name = code === undefined
    ? (e instanceof Error ? e.name : "error")
    : (Object.entries(GrpcCode).find(([, v]) => v === code)?.[0] ?? `status ${code}`);
  const text = e instanceof Error ? clip(e.message) : "";
  return `gcp-kms ${what}: ${name}${text === "" ? "" : `: ${text}`}`;
}

/**
 * A failed call as a broker error: transient statuses are
 * BACKEND_UNAVAILABLE, NOT_FOUND is key-not-found, everything else (and
 * any error without a status, such as a credential the auth library could
 * not use) BACKEND_ERROR.
 */
export function mapCallError(what: string, e: unknown): BasilError {
  if (e instanceof BasilError) return e;
  const code = grpcCodeOf(e);
  const detail = describe(what, e);
  if (code !== undefined && TRANSIENT.has(code)) return unavailable(detail);
  if (code === GrpcCode.NOT_FOUND) return keyNotFound(detail);
  return rejected(detail);
}

/**
 * A failed Decrypt: a refusal about the input (INVALID_ARGUMENT: wrong
 * tag, AAD or key; FAILED_PRECONDITION: a disabled or destroyed version;
 * NOT_FOUND) is DECRYPT_FAILED; an outage stays BACKEND_UNAVAILABLE, a
 * permission or auth problem BACKEND_ERROR, so callers know to retry.
 */
export function mapDecryptError(what: string, e: unknown): BasilError {
  if (e instanceof BasilError) return e;
  const code = grpcCodeOf(e);
  if (
    code === GrpcCode.INVALID_ARGUMENT || code === GrpcCode.FAILED_PRECONDITION ||
    code === GrpcCode.NOT_FOUND
  ) {
    return decryptFailed("decrypt", describe(what, e));
  }
  return mapCallError(what, e);
}

/** Backend text made safe for one log field. */
export function clip(text: string): string {
  // deno-lint-ignore no-control-regex
  const clean = text.replace(/[\u0000-\u001f\u007f]+/g, " ");
  return clean.length > MAX_DETAIL_TEXT ? `${clean.slice(0, MAX_DETAIL_TEXT)}…` : clean;
}
