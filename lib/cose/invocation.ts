/**
 * The sealed-invocation message (contract §11.3): a tagged COSE_Sign1 whose
 * payload is a tagged COSE_Encrypt carrying the claims and routing labels in
 * its protected header and a deterministic-CBOR body.
 *
 * Protected header of the COSE_Encrypt, exactly (nothing else is accepted):
 * `1` content alg, `2` crit = `[3, 15, <private labels present>]`, `3`
 * content type, `15` CWT claims `{1 iss?, 3 aud?, 4 exp?, 6 iat, 7 cti}`,
 * `−70001` in_reply_to, `−70002` request_hash (SHA3-256 of the request
 * bytes), `−70003` sender_key_id (= outer kid), `−70004` response_key_id,
 * `−70005` response_subject. The outer COSE_Sign1 protected header is
 * exactly `{1 alg, 4 kid}`.
 *
 * Role shapes: a request carries aud, −70003 and −70004 (−70005 optional)
 * and no −70001/−70002; a response carries −70001, −70002 and −70003 and no
 * −70004/−70005. The content type's suffix (`-request`/`-response`) must
 * match the role.
 * @module
 */

import { type CborMap, type CborValue, encodeCbor } from "./cbor.ts";
import {
  bytesField,
  type ContentAlg,
  contentAlgOf,
  type ContentSealer,
  CoseError,
  decodeStrict,
  encodeEncrypt,
  encodeSign1,
  expect,
  type KdfParties,
  mapField,
  type ParsedEncrypt,
  parseEncrypt,
  parseSign1,
  requireCanonical,
  type Sign1Signer,
  type SignAlg,
  signAlgOf,
  verifySign1,
} from "./cose.ts";

/** Private header labels. */
export const LABEL = {
  inReplyTo: -70001,
  requestHash: -70002,
  senderKeyId: -70003,
  responseKeyId: -70004,
  responseSubject: -70005,
} as const;

const CLAIMS = 15;
const CONTENT_TYPE_PREFIX = "application/basil.";
const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder("utf-8", { fatal: true });

/** Which side sent the message. */
export type Role = "request" | "response";

/** CWT claims (label 15). Times are Unix seconds. */
export interface InvocationClaims {
  readonly issuer?: string;
  readonly audience?: string;
  readonly issuedAt: number;
  readonly expiresAt?: number;
  /** Message id (`cti`), the replay-cache key with the sender. */
  readonly cti: Uint8Array;
}

/** The COSE_Encrypt protected header, typed. */
export interface InvocationHeader {
  readonly contentAlg: ContentAlg;
  readonly contentType: string;
  readonly claims: InvocationClaims;
  readonly inReplyTo?: Uint8Array;
  readonly requestHash?: Uint8Array;
  readonly senderKeyId: string;
  readonly responseKeyId?: string;
  readonly responseSubject?: string;
}

/** Builds the protected header map (the one canonical form). */
export function headerMap(h: InvocationHeader): CborMap {
  const claims: CborMap = new Map();
  if (h.claims.issuer !== undefined) claims.set(1, h.claims.issuer);
  if (h.claims.audience !== undefined) claims.set(3, h.claims.audience);
  if (h.claims.expiresAt !== undefined) claims.set(4, h.claims.expiresAt);
  claims.set(6, h.claims.issuedAt);
  claims.set(7, h.claims.cti);
  const privates: [number, CborValue | undefined][] = [
    [LABEL.inReplyTo, h.inReplyTo],
    [LABEL.requestHash, h.requestHash],
    [LABEL.senderKeyId, textEncoder.encode(h.senderKeyId)],
    [LABEL.responseKeyId, h.responseKeyId],
    [LABEL.responseSubject, h.responseSubject],
  ];
  const present = privates.filter(([, v]) => v !== undefined) as [number, CborValue][];
  const m: CborMap = new Map<number, CborValue>([
    [1, h.contentAlg === "A256GCM" ? 3 : 24],
    [2, [3, CLAIMS, ...present.map(([k]) => k)]],
    [3, h.contentType],
    [CLAIMS, claims],
  ]);
  for (const [k, v] of present) m.set(k, v);
  return m;
}

function optText(m: CborMap, label: number, what: string): string | undefined {
  const v = m.get(label);
  if (v === undefined) return undefined;
  expect(typeof v === "string" && v.length > 0, `${what} must be a non-empty text string`);
  return v as string;
}

function optBytes(m: CborMap, label: number, what: string): Uint8Array | undefined {
  const v = m.get(label);
  return v === undefined ? undefined : bytesField(v, what);
}

function uintField(v: CborValue | undefined, what: string): number {
  expect(typeof v === "number" && v >= 0, `${what} must be an unsigned integer`);
  return v as number;
}

/** Parses and re-encodes a COSE_Encrypt protected header; any deviation is rejected. */
export function parseHeader(m: CborMap, bytes: Uint8Array): InvocationHeader {
  const known = new Set<number>([1, 2, 3, CLAIMS, ...Object.values(LABEL)]);
  for (const k of m.keys()) {
    if (!known.has(k)) {
      throw new CoseError("decode-unknown-label", "unknown protected header label");
    }
  }
  const contentAlg = contentAlgOf(m.get(1));
  const contentType = optText(m, 3, "content type (3)");
  expect(contentType !== undefined, "content type (3) is required", "claims-missing");
  const cm = mapField(m.get(CLAIMS), "CWT claims (15)");
  for (const k of cm.keys()) {
    if (![1, 3, 4, 6, 7].includes(k)) {
      throw new CoseError("decode-unknown-label", "unknown CWT claim");
    }
  }
  expect(cm.has(6), "iat (6) is required", "claims-missing");
  expect(cm.has(7), "cti (7) is required", "claims-missing");
  const cti = bytesField(cm.get(7), "cti (7)");
  expect(cti.length >= 1 && cti.length <= 64, "cti (7) must be 1..64 bytes");
  const issuer = optText(cm, 1, "iss (1)");
  const audience = optText(cm, 3, "aud (3)");
  const exp = cm.get(4);
  const claims: InvocationClaims = {
    ...(issuer === undefined ? {} : { issuer }),
    ...(audience === undefined ? {} : { audience }),
    issuedAt: uintField(cm.get(6), "iat (6)"),
    ...(exp === undefined ? {} : { expiresAt: uintField(exp, "exp (4)") }),
    cti,
  };
  const senderRaw = optBytes(m, LABEL.senderKeyId, "sender_key_id (-70003)");
  expect(senderRaw !== undefined, "sender_key_id (-70003) is required", "claims-missing");
  let senderKeyId: string;
  try {
    senderKeyId = textDecoder.decode(senderRaw);
  } catch {
    throw new CoseError("decode-malformed", "sender_key_id (-70003) must be UTF-8");
  }
  const inReplyTo = optBytes(m, LABEL.inReplyTo, "in_reply_to (-70001)");
  const requestHash = optBytes(m, LABEL.requestHash, "request_hash (-70002)");
  if (requestHash) expect(requestHash.length === 32, "request_hash (-70002) must be 32 bytes");
  const responseKeyId = optText(m, LABEL.responseKeyId, "response_key_id (-70004)");
  const responseSubject = optText(m, LABEL.responseSubject, "response_subject (-70005)");
  const h: InvocationHeader = {
    contentAlg,
    contentType: contentType!,
    claims,
    senderKeyId,
    ...(inReplyTo ? { inReplyTo } : {}),
    ...(requestHash ? { requestHash } : {}),
    ...(responseKeyId === undefined ? {} : { responseKeyId }),
    ...(responseSubject === undefined ? {} : { responseSubject }),
  };
  requireCanonical(bytes, headerMap(h), "COSE_Encrypt protected header");
  return h;
}

/** Checks the role's label rules and content-type suffix. */
export function checkRoleShape(h: InvocationHeader, role: Role): void {
  const ok = role === "request"
    ? h.claims.audience !== undefined && h.responseKeyId !== undefined &&
      h.inReplyTo === undefined && h.requestHash === undefined &&
      h.contentType.endsWith("-request")
    : h.inReplyTo !== undefined && h.requestHash !== undefined &&
      h.responseKeyId === undefined && h.responseSubject === undefined &&
      h.contentType.endsWith("-response");
  if (!ok || !h.contentType.startsWith(CONTENT_TYPE_PREFIX)) {
    throw new CoseError("claims-role-shape", `labels do not fit a ${role}`);
  }
}

/** Time rules (contract §1 `[invocation]`). */
export interface ClaimsPolicy {
  readonly nowUnix: number;
  /** Allowed audiences; a request's `aud` must be one of them. */
  readonly audiences: readonly string[];
  readonly clockSkewSecs: number;
  readonly maxTtlSecs: number;
  /** Lifetime assumed when `exp` is absent (60). */
  readonly defaultTtlSecs?: number;
}

/** Audience, iat skew, exp (or iat+60) against skew, and exp−iat ≤ max TTL. */
export function checkClaims(h: InvocationHeader, role: Role, p: ClaimsPolicy): void {
  const c = h.claims;
  if (role === "request" && !p.audiences.includes(c.audience ?? "")) {
    throw new CoseError("claims-audience", "aud is not an audience of this broker");
  }
  if (c.issuedAt > p.nowUnix + p.clockSkewSecs) {
    throw new CoseError("claims-not-yet-valid", "iat is in the future beyond the clock skew");
  }
  const exp = c.expiresAt ?? c.issuedAt + (p.defaultTtlSecs ?? 60);
  if (exp < c.issuedAt || exp - c.issuedAt > p.maxTtlSecs) {
    throw new CoseError("claims-ttl-too-long", "exp - iat exceeds the maximum TTL");
  }
  if (exp + p.clockSkewSecs < p.nowUnix) {
    throw new CoseError("claims-expired", "the message has expired");
  }
}

/** Inputs to {@linkcode sealInvocation}. */
export interface SealInput {
  readonly signer: Sign1Signer;
  readonly header: InvocationHeader;
  /** The body, already deterministic CBOR. */
  readonly body: Uint8Array;
  readonly recipientPublicKey: Uint8Array;
  readonly recipientKeyId: string;
  readonly parties?: KdfParties;
  readonly externalAad?: Uint8Array;
  readonly ephemeralPrivateKey?: Uint8Array;
  readonly seal?: ContentSealer;
}

/** Builds the complete tagged COSE_Sign1(COSE_Encrypt) bytes. */
export function sealInvocation(input: SealInput): Promise<Uint8Array> {
  const inner = encodeEncrypt({
    protectedMap: headerMap(input.header),
    alg: input.header.contentAlg,
    plaintext: input.body,
    recipientPublicKey: input.recipientPublicKey,
    recipientKeyId: textEncoder.encode(input.recipientKeyId),
    ...(input.parties ? { parties: input.parties } : {}),
    ...(input.externalAad ? { externalAad: input.externalAad } : {}),
    ...(input.ephemeralPrivateKey ? { ephemeralPrivateKey: input.ephemeralPrivateKey } : {}),
    ...(input.seal ? { seal: input.seal } : {}),
  });
  const outer: CborMap = new Map<number, CborValue>([
    [1, input.signer.alg === "EdDSA" ? -8 : -7],
    [4, textEncoder.encode(input.header.senderKeyId)],
  ]);
  return encodeSign1(input.signer, outer, inner);
}

/** A structurally valid message whose signature is not checked yet. */
export interface ParsedInvocation {
  readonly kid: string;
  readonly alg: SignAlg;
  readonly header: InvocationHeader;
  readonly encrypt: ParsedEncrypt;
  /** The recipient kid as text. */
  readonly recipientKeyId: string;
  readonly verifySignature: (publicKey: Uint8Array) => void;
}

/**
 * Decodes a sealed message strictly and checks its role shape; the caller
 * then verifies the signature with the kid's key and checks the claims.
 */
export function parseInvocation(bytes: Uint8Array, role: Role): ParsedInvocation {
  const s = parseSign1(bytes);
  for (const k of s.protectedMap.keys()) {
    if (k !== 1 && k !== 4) {
      throw new CoseError("decode-unknown-label", "unknown outer header label");
    }
  }
  const alg = signAlgOf(s.protectedMap.get(1));
  const kidBytes = bytesField(s.protectedMap.get(4), "kid (4)");
  let kid: string;
  let recipientKeyId: string;
  const encrypt = parseEncrypt(s.payload);
  try {
    kid = textDecoder.decode(kidBytes);
    recipientKeyId = textDecoder.decode(encrypt.recipientKeyId);
  } catch {
    throw new CoseError("decode-malformed", "kid must be UTF-8");
  }
  requireCanonical(
    s.protectedBytes,
    new Map<number, CborValue>([[1, s.protectedMap.get(1)!], [4, kidBytes]]),
    "outer protected header",
  );
  const header = parseHeader(encrypt.protectedMap, encrypt.protectedBytes);
  checkRoleShape(header, role);
  if (header.senderKeyId !== kid) {
    throw new CoseError("claims-sender-mismatch", "sender_key_id differs from the outer kid");
  }
  return {
    kid,
    alg,
    header,
    encrypt,
    recipientKeyId,
    verifySignature: (pk) => verifySign1(s, alg, pk),
  };
}

/** Decodes a body map strictly (integer keys, canonical, no tags). */
export function decodeBody(bytes: Uint8Array): CborMap {
  return mapField(decodeStrict(bytes), "body");
}

/** CBOR bytes of a value (deterministic). */
export function cbor(value: CborValue): Uint8Array {
  return encodeCbor(value);
}
