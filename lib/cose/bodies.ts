/**
 * Deterministic-CBOR bodies of the sealed invocations (contract §11.3).
 *
 * - `application/basil.sign-request`: `{1 key_id tstr, 2 message bstr, 3 algorithm uint}`
 *   (algorithm = the wire SigningAlgorithm number, advisory as for Sign).
 * - `application/basil.sign-response`: `{1 status {1 code, 2 reason tstr,
 *   3 message tstr|null, 4 retryable bool}, 2 policy_generation uint,
 *   3 signature bstr|null}`; codes 1 OK, 2 DENIED, 3 INVALID_REQUEST,
 *   4 INTERNAL_ERROR.
 *
 * Decoding accepts exactly these shapes: a missing, extra or mistyped field
 * is `body-invalid` naming the field, and the bytes must re-encode equal.
 * @module
 */

import type { CborMap, CborValue } from "./cbor.ts";
import { CoseError, requireCanonical } from "./cose.ts";
import { cbor, decodeBody } from "./invocation.ts";

/** Content types. */
export const CONTENT_TYPE = {
  signRequest: "application/basil.sign-request",
  signResponse: "application/basil.sign-response",
} as const;

/** A sign request body. */
export interface SignRequestBody {
  readonly keyId: string;
  readonly message: Uint8Array;
  readonly algorithm: number;
}

/** Status codes of a response. */
export const STATUS_CODE = { OK: 1, DENIED: 2, INVALID_REQUEST: 3, INTERNAL_ERROR: 4 } as const;

/** A response status. */
export interface InvocationStatus {
  readonly code: number;
  readonly reason: string;
  readonly message?: string;
  readonly retryable: boolean;
}

/** A sign response body. */
export interface SignResponseBody {
  readonly status: InvocationStatus;
  readonly policyGeneration: number;
  readonly signature?: Uint8Array;
}

function bad(field: string): never {
  throw new CoseError("body-invalid", `body field ${field} is missing or mistyped`);
}

function exactKeys(m: CborMap, keys: number[], where: string): void {
  if (m.size !== keys.length || !keys.every((k) => m.has(k))) bad(`${where} keys`);
}

/** Encodes a sign request body. */
export function encodeSignRequest(b: SignRequestBody): Uint8Array {
  return cbor(new Map<number, CborValue>([[1, b.keyId], [2, b.message], [3, b.algorithm]]));
}

/** Decodes a sign request body strictly. */
export function decodeSignRequest(bytes: Uint8Array): SignRequestBody {
  const m = decodeBody(bytes);
  exactKeys(m, [1, 2, 3], "sign-request");
  const keyId = m.get(1);
  const message = m.get(2);
  const algorithm = m.get(3);
  if (typeof keyId !== "string" || keyId.length === 0) bad("key_id (1)");
  if (!(message instanceof Uint8Array)) bad("message (2)");
  if (typeof algorithm !== "number" || algorithm < 0) bad("algorithm (3)");
  requireCanonical(bytes, m, "sign-request body");
  return { keyId, message, algorithm };
}

/** Encodes a sign response body. */
export function encodeSignResponse(b: SignResponseBody): Uint8Array {
  const status = new Map<number, CborValue>([
    [1, b.status.code],
    [2, b.status.reason],
    [3, b.status.message ?? null],
    [4, b.status.retryable],
  ]);
  return cbor(
    new Map<number, CborValue>([[1, status], [2, b.policyGeneration], [3, b.signature ?? null]]),
  );
}

/** Decodes a sign response body strictly. */
export function decodeSignResponse(bytes: Uint8Array): SignResponseBody {
  const m = decodeBody(bytes);
  exactKeys(m, [1, 2, 3], "sign-response");
  const s = m.get(1);
  if (!(s instanceof Map)) bad("status (1)");
  exactKeys(s, [1, 2, 3, 4], "status");
  const code = s.get(1);
  const reason = s.get(2);
  const message = s.get(3);
  const retryable = s.get(4);
  if (typeof code !== "number" || code < 1 || code > 4) bad("status.code (1)");
  if (typeof reason !== "string") bad("status.reason (2)");
  if (message !== null && typeof message !== "string") bad("status.message (3)");
  if (typeof retryable !== "boolean") bad("status.retryable (4)");
  const gen = m.get(2);
  if (typeof gen !== "number" || gen < 0) bad("policy_generation (2)");
  const sig = m.get(3);
  if (sig !== null && !(sig instanceof Uint8Array)) bad("signature (3)");
  return {
    status: { code, reason, ...(message === null ? {} : { message }), retryable },
    policyGeneration: gen,
    ...(sig === null ? {} : { signature: sig }),
  };
}
