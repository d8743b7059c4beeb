/**
 * How AWS SDK failures become broker errors. The caller only ever sees the
 * fixed BACKEND_UNAVAILABLE / BACKEND_ERROR / DECRYPT_FAILED messages (or
 * "key material not found"); the exception name, HTTP status and AWS's
 * clipped message go to `detail`, which is logged and never sent.
 *
 * - No HTTP answer (connection refused, timeout, credential chain failure)
 *   and server faults, throttling and KMS-internal errors are unavailability.
 * - Every other exception is a rejection.
 * @module
 */

import { BasilError, KEY_NOT_FOUND_MESSAGE } from "../../core/errors.ts";
import { clip, rejected, unavailable } from "../vault/errors.ts";

/** The parts of an SDK exception Basil looks at. */
interface SdkError {
  readonly name: string;
  readonly message: string;
  readonly status?: number;
  readonly fault?: string;
}

function sdkError(e: unknown): SdkError {
  const x = (typeof e === "object" && e !== null ? e : {}) as Record<string, unknown>;
  const meta = (typeof x.$metadata === "object" && x.$metadata !== null ? x.$metadata : {}) as {
    httpStatusCode?: unknown;
  };
  return {
    name: typeof x.name === "string" ? x.name : "Error",
    message: typeof x.message === "string" ? x.message : "",
    status: typeof meta.httpStatusCode === "number" ? meta.httpStatusCode : undefined,
    fault: typeof x.$fault === "string" ? x.$fault : undefined,
  };
}

/** The exception name of an SDK error (`NotFoundException`, ...). */
export function awsErrorName(e: unknown): string {
  return sdkError(e).name;
}

const TRANSIENT = new Set([
  "ThrottlingException",
  "LimitExceededException",
  "DependencyTimeoutException",
  "KMSInternalException",
  "KeyUnavailableException",
  "CustomKeyStoreInvalidStateException",
]);

/** Exceptions of a Decrypt that depend on the envelope (or AAD) given. */
const DECRYPT_REFUSALS = new Set([
  "InvalidCiphertextException",
  "IncorrectKeyException",
  "NotFoundException",
  "ValidationException",
  "SerializationException",
]);

function describe(what: string, s: SdkError): string {
  const said = s.message === "" ? "" : `: ${clip(s.message)}`;
  return `aws-kms ${what}: ${clip(s.name)}${
    s.status === undefined ? "" : ` (HTTP ${s.status})`
  }${said}`;
}

/** The broker error for a failed KMS call `what`. */
export function awsError(what: string, e: unknown): BasilError {
  if (e instanceof BasilError) return e;
  const s = sdkError(e);
  const detail = describe(what, s);
  if (s.status === undefined || s.fault === "server" || s.status >= 500 || TRANSIENT.has(s.name)) {
    return unavailable(detail);
  }
  return rejected(detail);
}

/** A Decrypt failure: DECRYPT_FAILED when it depends on the envelope, else as {@linkcode awsError}. */
export function decryptError(what: string, e: unknown): BasilError {
  if (e instanceof BasilError) return e;
  const s = sdkError(e);
  if (s.status !== undefined && DECRYPT_REFUSALS.has(s.name)) {
    return new BasilError("DECRYPT_FAILED", undefined, {
      op: "decrypt",
      detail: describe(what, s),
    });
  }
  return awsError(what, e);
}

/** Whether the SDK error says the key (or alias) does not exist. */
export function isNotFound(e: unknown): boolean {
  const s = sdkError(e);
  return s.status !== undefined && s.name === "NotFoundException";
}

/** Absent key or version: INTERNAL "key material not found in backend". */
export function notFound(detail: string): BasilError {
  return new BasilError("INTERNAL", KEY_NOT_FOUND_MESSAGE, { detail });
}
