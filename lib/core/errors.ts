/**
 * The closed set of broker error codes, and the error classes that carry them.
 *
 * Invariants:
 * - `publicMessage` is the only text that may reach a caller; it never holds a
 *   secret, a backend body, a path of a secret, or whether a key exists.
 * - UNAUTHORIZED always says "not authorized" and DECRYPT_FAILED always says
 *   "decrypt failed", so neither is an oracle. The real reason goes to the
 *   audit log and the `detail` field (logged, never sent).
 *
 * The mapping to gRPC status codes lives in one table, lib/transport/status.ts.
 * @module
 */

/** Every reason token the broker puts in `BrokerErrorInfo.reason`. */
export type BasilErrorCode =
  | "UNAUTHENTICATED"
  | "UNAUTHORIZED"
  | "INVALID_REQUEST"
  | "INVALID_ARGUMENT"
  | "DECRYPT_FAILED"
  | "PAYLOAD_TOO_LARGE"
  | "UNSUPPORTED"
  | "UNSUPPORTED_ALGORITHM"
  | "BACKEND_UNAVAILABLE"
  | "BACKEND_ERROR"
  | "INTERNAL"
  | "NO_REVOCATION_STORE"
  | "INVOCATION_DISABLED"
  | "FAILED_PRECONDITION"
  | "DATA_LOSS"
  | "RATE_LIMITED";

/** Fixed caller-facing messages for the codes whose text must never vary. */
export const FIXED_MESSAGES: Readonly<Partial<Record<BasilErrorCode, string>>> = {
  UNAUTHENTICATED: "missing peer credentials",
  UNAUTHORIZED: "not authorized",
  DECRYPT_FAILED: "decrypt failed",
  BACKEND_UNAVAILABLE: "backend unavailable",
  BACKEND_ERROR: "backend operation failed",
};

/** Messages used when none is given. */
const DEFAULT_MESSAGES: Readonly<Partial<Record<BasilErrorCode, string>>> = {
  INTERNAL: "internal error",
};

/** Options shared by every {@linkcode BasilError}. */
export interface BasilErrorOptions {
  /** The operation token (`get`, `sign`, ...) for `BrokerErrorInfo.op`. */
  op?: string;
  /** Operator-facing detail for logs; never sent to a caller. */
  detail?: string;
  cause?: unknown;
}

/** A broker error with a stable code and a caller-safe message. */
export class BasilError extends Error {
  /** The reason token. */
  readonly code: BasilErrorCode;
  /** The operation that failed, if known. */
  readonly op: string | undefined;
  /** Operator-facing detail (logs only). */
  readonly detail: string | undefined;

  constructor(code: BasilErrorCode, message?: string, options: BasilErrorOptions = {}) {
    super(
      FIXED_MESSAGES[code] ?? message ?? DEFAULT_MESSAGES[code] ?? code.toLowerCase(),
      { cause: options.cause },
    );
    this.name = "BasilError";
    this.code = code;
    this.op = options.op;
    this.detail = options.detail;
  }

  /** The same error, tagged with an operation token if it has none. */
  withOp(op: string): BasilError {
    if (this.op !== undefined) return this;
    return new BasilError(this.code, this.message, { op, detail: this.detail, cause: this.cause });
  }
}

/** A denied or unknown key: indistinguishable by construction. */
export function unauthorized(op: string, detail?: string): BasilError {
  return new BasilError("UNAUTHORIZED", undefined, { op, detail });
}

/** A malformed or inconsistent request; `message` must be caller-safe. */
export function invalidRequest(message: string, op?: string): BasilError {
  return new BasilError("INVALID_REQUEST", message, { op });
}

/** Any decrypt, unwrap or open failure, always the same. */
export function decryptFailed(op: string, detail?: string): BasilError {
  return new BasilError("DECRYPT_FAILED", undefined, { op, detail });
}

/** The caller-facing message of INTERNAL "the backend holds no such key or version". */
export const KEY_NOT_FOUND_MESSAGE = "key material not found in backend";

/** Whether `e` is the INTERNAL error for missing key material (a key or version not stored). */
export function isKeyNotFound(e: unknown): boolean {
  return e instanceof BasilError && e.code === "INTERNAL" && e.message === KEY_NOT_FOUND_MESSAGE;
}

/** An input over its configured cap. */
export function payloadTooLarge(field: string, limit: number, op?: string): BasilError {
  return new BasilError(
    "PAYLOAD_TOO_LARGE",
    `${field} exceeds the ${limit}-byte limit`,
    { op },
  );
}

/** A subject's request rate limit is exhausted (policy `rateLimits`). */
export function rateLimited(op: string): BasilError {
  return new BasilError("RATE_LIMITED", "rate limit exceeded", { op });
}

/**
 * A problem with an input file (config, catalog, policy, bundle) or CLI
 * argument, found before the agent serves. The message names the file, the
 * field and the reason; it never quotes a secret.
 */
export class InputError extends Error {
  /** Stable token for scripts and tests (`config_invalid`, `bundle_locked`, ...). */
  readonly token: string;

  constructor(token: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "InputError";
    this.token = token;
  }
}

/** Formats "file: field: reason", the shape of every input error. */
export function fieldError(
  token: string,
  file: string,
  field: string,
  reason: string,
): InputError {
  const where = field === "" ? file : `${file}: ${field}`;
  return new InputError(token, `${where}: ${reason}`);
}
