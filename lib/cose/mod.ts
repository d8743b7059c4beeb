/**
 * lib/cose/mod.ts — the sealed-invocation client API (contract §11.3), for
 * callers that build requests and read responses (the NATS bridge tests,
 * the benchmark, workloads written in TypeScript):
 *
 * - {@linkcode buildSignRequest}: a tagged COSE_Sign1(COSE_Encrypt) carrying
 *   an `application/basil.sign-request`, signed with the sender's key and
 *   sealed to the broker's request-encryption X25519 public key.
 * - {@linkcode openSignResponse}: verifies the broker's response signature,
 *   checks it answers this request (in_reply_to = cti, request_hash =
 *   SHA3-256 of the request bytes), opens it with the response X25519
 *   private key and decodes the sign-response body.
 *
 * Lower layers: ./cbor.ts (strict deterministic CBOR), ./cose.ts (Sign1,
 * Encrypt, ECDH-ES+HKDF-256), ./invocation.ts (headers, claims, role
 * rules), ./bodies.ts (bodies), ./replay.ts (replay cache).
 * @module
 */

import { sha3_256 } from "@noble/hashes/sha3.js";
import {
  CONTENT_TYPE,
  decodeSignResponse,
  encodeSignRequest,
  type SignRequestBody,
  type SignResponseBody,
} from "./bodies.ts";
import {
  type ContentSealer,
  CoseError,
  openEncrypt,
  type Sign1Signer,
  type SignAlg,
} from "./cose.ts";
import { checkClaims, parseInvocation, sealInvocation } from "./invocation.ts";

export { CborError, CborTag, type CborValue, decodeCbor, encodeCbor } from "./cbor.ts";
export {
  CONTENT_TYPE,
  decodeSignRequest,
  decodeSignResponse,
  encodeSignRequest,
  encodeSignResponse,
  type InvocationStatus,
  type SignRequestBody,
  type SignResponseBody,
  STATUS_CODE,
} from "./bodies.ts";
export {
  type ContentSealer,
  CoseError,
  type CoseReason,
  localSigner,
  parseSign1,
  type Sign1Signer,
  type SignAlg,
  verifySign1,
} from "./cose.ts";
export {
  checkClaims,
  type ClaimsPolicy,
  type InvocationClaims,
  type InvocationHeader,
  parseInvocation,
  sealInvocation,
} from "./invocation.ts";

/** Inputs to {@linkcode buildSignRequest}. */
export interface SignRequestInput {
  /** The sender's signer (e.g. `localSigner("EdDSA", seed)`). */
  readonly signer: Sign1Signer;
  /** The sender key id (outer kid and −70003); the broker's catalog name for the sender key. */
  readonly senderKeyId: string;
  /** The broker's request-encryption X25519 public key (32 bytes) and its key id. */
  readonly recipientPublicKey: Uint8Array;
  readonly recipientKeyId: string;
  /** One of the broker's `[invocation] audience` URIs. */
  readonly audience: string;
  /** The catalog id of the sealing key the response is sealed to. */
  readonly responseKeyId: string;
  /** Where the bridge publishes the reply (optional). */
  readonly responseSubject?: string;
  /** The body: catalog key to sign with, raw message, wire SigningAlgorithm number. */
  readonly body: SignRequestBody;
  /** Unix seconds; default now. */
  readonly issuedAt?: number;
  /** Default issuedAt + 60. */
  readonly expiresAt?: number;
  /** Message id; default 16 random bytes. */
  readonly cti?: Uint8Array;
  /** Deterministic parts (fixtures only). */
  readonly ephemeralPrivateKey?: Uint8Array;
  readonly seal?: ContentSealer;
}

/** A built request and the values needed to match its response. */
export interface BuiltRequest {
  readonly bytes: Uint8Array;
  readonly cti: Uint8Array;
}

/** Builds a sealed `application/basil.sign-request`. */
export async function buildSignRequest(input: SignRequestInput): Promise<BuiltRequest> {
  const iat = input.issuedAt ?? Math.floor(Date.now() / 1000);
  const cti = input.cti ?? crypto.getRandomValues(new Uint8Array(16));
  const bytes = await sealInvocation({
    signer: input.signer,
    header: {
      contentAlg: "A256GCM",
      contentType: CONTENT_TYPE.signRequest,
      claims: {
        audience: input.audience,
        issuedAt: iat,
        expiresAt: input.expiresAt ?? iat + 60,
        cti,
      },
      senderKeyId: input.senderKeyId,
      responseKeyId: input.responseKeyId,
      ...(input.responseSubject === undefined ? {} : { responseSubject: input.responseSubject }),
    },
    body: encodeSignRequest(input.body),
    recipientPublicKey: input.recipientPublicKey,
    recipientKeyId: input.recipientKeyId,
    ...(input.ephemeralPrivateKey ? { ephemeralPrivateKey: input.ephemeralPrivateKey } : {}),
    ...(input.seal ? { seal: input.seal } : {}),
  });
  return { bytes, cti };
}

/** Inputs to {@linkcode openSignResponse}. */
export interface OpenResponseInput {
  /** The SealedResponse.message bytes. */
  readonly response: Uint8Array;
  /** The request bytes this answers (for in_reply_to and request_hash). */
  readonly request: BuiltRequest;
  /** The broker's response-signing public key and algorithm. */
  readonly brokerPublicKey: Uint8Array;
  readonly brokerAlg?: SignAlg;
  /** The broker's response-signing key id (outer kid), when the caller pins it. */
  readonly brokerKeyId?: string;
  /** The X25519 private key of the request's response_key_id. */
  readonly responsePrivateKey: Uint8Array;
  /** Unix seconds; default now. */
  readonly nowUnix?: number;
  readonly clockSkewSecs?: number;
  readonly maxTtlSecs?: number;
}

/** The decoded response and its claims. */
export interface OpenedResponse {
  readonly body: SignResponseBody;
  readonly senderKeyId: string;
  readonly cti: Uint8Array;
}

/**
 * Verifies and opens a sealed `application/basil.sign-response`. Throws
 * `CoseError` (reason token) when anything does not check out.
 */
export function openSignResponse(input: OpenResponseInput): OpenedResponse {
  const p = parseInvocation(input.response, "response");
  if (input.brokerAlg && p.alg !== input.brokerAlg) {
    throw new CoseError("unsupported-algorithm", "response signed with an unexpected algorithm");
  }
  if (input.brokerKeyId !== undefined && p.kid !== input.brokerKeyId) {
    throw new CoseError("claims-sender-mismatch", "response kid is not the broker's");
  }
  p.verifySignature(input.brokerPublicKey);
  checkClaims(p.header, "response", {
    nowUnix: input.nowUnix ?? Math.floor(Date.now() / 1000),
    audiences: [],
    clockSkewSecs: input.clockSkewSecs ?? 30,
    maxTtlSecs: input.maxTtlSecs ?? 300,
  });
  if (p.header.contentType !== CONTENT_TYPE.signResponse) {
    throw new CoseError("unsupported-content-type", "not a sign-response");
  }
  if (!equal(p.header.inReplyTo!, input.request.cti)) {
    throw new CoseError("claims-role-shape", "in_reply_to does not name the request");
  }
  if (!equal(p.header.requestHash!, sha3_256(input.request.bytes))) {
    throw new CoseError("claims-role-shape", "request_hash does not match the request");
  }
  const plain = openEncrypt(p.encrypt, input.responsePrivateKey);
  try {
    return { body: decodeSignResponse(plain), senderKeyId: p.kid, cti: p.header.claims.cti };
  } finally {
    plain.fill(0);
  }
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
