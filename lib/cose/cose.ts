/**
 * COSE building blocks for the sealed-invocation profile (RFC 9052/9053):
 * COSE_Sign1 (tag 18, EdDSA −8 or ES256 −7) and COSE_Encrypt (tag 96) with
 * one ECDH-ES + HKDF-256 (−25) X25519 recipient and an AES-256-GCM (3) or
 * ChaCha20-Poly1305 (24) content layer.
 *
 * Headers are parsed into typed fields and re-encoded; a protected header
 * whose bytes differ from that re-encoding (an unknown label, a text label,
 * a different `crit`, a non-canonical form) is rejected. Every failure is a
 * {@linkcode CoseError} with a stable reason token; the message never
 * carries input bytes.
 * @module
 */

import { ed25519, x25519 } from "@noble/curves/ed25519.js";
import { p256 } from "@noble/curves/nist.js";
import { hkdf } from "@noble/hashes/hkdf.js";
import { sha256 } from "@noble/hashes/sha2.js";
import {
  type AeadAlgorithm,
  aeadOpen,
  AeadOpenError,
  aeadSeal,
  type AeadSealed,
} from "../crypto/aead.ts";
import { verifyMessage } from "../crypto/signing.ts";
import { x25519PublicKey, x25519SharedSecret } from "../crypto/x25519_seal.ts";
import {
  CborError,
  type CborMap,
  CborTag,
  type CborValue,
  compareBytes,
  decodeCbor,
  encodeCbor,
} from "./cbor.ts";

/** COSE tags. */
export const TAG_SIGN1 = 18;
/** COSE_Encrypt tag. */
export const TAG_ENCRYPT = 96;

/** COSE algorithm identifiers used here. */
export const ALG = {
  EdDSA: -8,
  ES256: -7,
  A256GCM: 3,
  ChaCha20Poly1305: 24,
  ECDH_ES_HKDF_256: -25,
} as const;

/** Signature algorithms of the outer COSE_Sign1. */
export type SignAlg = "EdDSA" | "ES256";
/** Content encryption algorithms. */
export type ContentAlg = "A256GCM" | "ChaCha20Poly1305";

/** Stable rejection reasons (the fixture's names where it has one). */
export type CoseReason =
  | "decode-malformed"
  | "decode-noncanonical"
  | "decode-wrong-tag"
  | "decode-unknown-label"
  | "unsupported-algorithm"
  | "signature-invalid"
  | "open-failed"
  | "recipient-mismatch"
  | "claims-missing"
  | "claims-expired"
  | "claims-not-yet-valid"
  | "claims-ttl-too-long"
  | "claims-audience"
  | "claims-replay"
  | "claims-role-shape"
  | "claims-sender-mismatch"
  | "unsupported-content-type"
  | "body-invalid";

/** A rejection with a reason token; the message names a field, never data. */
export class CoseError extends Error {
  constructor(readonly reason: CoseReason, message: string) {
    super(message);
    this.name = "CoseError";
  }
}

/** Maps a codec failure to its reason. */
export function cborReason(e: CborError): CoseReason {
  return e.failure === "wrong-tag"
    ? "decode-wrong-tag"
    : e.failure === "noncanonical"
    ? "decode-noncanonical"
    : "decode-malformed";
}

/** Decodes with {@linkcode decodeCbor}, turning codec errors into `CoseError`s. */
export function decodeStrict(bytes: Uint8Array, tags: readonly number[] = []): CborValue {
  try {
    return decodeCbor(bytes, { tags });
  } catch (e) {
    if (e instanceof CborError) throw new CoseError(cborReason(e), e.message);
    throw new CoseError("decode-malformed", "undecodable CBOR");
  }
}

/** Throws `decode-malformed` naming `what` unless `ok`. */
export function expect(ok: boolean, what: string, reason: CoseReason = "decode-malformed"): void {
  if (!ok) throw new CoseError(reason, what);
}

/** A byte-string field or a `decode-malformed` error naming it. */
export function bytesField(v: CborValue | undefined, what: string): Uint8Array {
  expect(v instanceof Uint8Array, `${what} must be a byte string`);
  return v as Uint8Array;
}

/** A map field or a `decode-malformed` error naming it. */
export function mapField(v: CborValue | undefined, what: string): CborMap {
  expect(v instanceof Map, `${what} must be a map`);
  return v as CborMap;
}

/** Requires that `bytes` equal `encodeCbor(value)` (the re-encode rule). */
export function requireCanonical(bytes: Uint8Array, value: CborValue, what: string): void {
  if (compareBytes(bytes, encodeCbor(value)) !== 0) {
    throw new CoseError("decode-unknown-label", `${what} is not in the profile's canonical form`);
  }
}

// ---------------------------------------------------------------- signing

/** Signs a Sig_structure; the broker passes one that signs through its backend. */
export type Sign1Signer = {
  readonly alg: SignAlg;
  readonly sign: (toBeSigned: Uint8Array) => Uint8Array | Promise<Uint8Array>;
};

/** A signer over a raw local key (clients and tests): Ed25519 seed or P-256 scalar. */
export function localSigner(alg: SignAlg, privateKey: Uint8Array): Sign1Signer {
  const key = privateKey.slice();
  return {
    alg,
    sign: (m) =>
      alg === "EdDSA"
        ? ed25519.sign(m, key)
        : p256.sign(m, key, { prehash: true, lowS: false, format: "compact" }),
  };
}

/**
 * Verifies a raw signature: Ed25519 (32-byte key) through node:crypto
 * (OpenSSL), as the broker verifies every Ed25519 signature, about 40×
 * faster here than the pure-JS curve; P-256 (SEC1 point, raw r‖s over
 * SHA-256) with @noble/curves.
 */
export function verifySignature(
  alg: SignAlg,
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
): boolean {
  if (alg === "EdDSA") return verifyMessage("ed25519", publicKey, message, signature);
  try {
    return signature.length === 64 &&
      p256.verify(signature, message, publicKey, { prehash: true, lowS: false, format: "compact" });
  } catch {
    return false;
  }
}

/** `Sig_structure` for COSE_Sign1. */
export function sigStructure1(
  protectedBytes: Uint8Array,
  externalAad: Uint8Array,
  payload: Uint8Array,
): Uint8Array {
  return encodeCbor(["Signature1", protectedBytes, externalAad, payload]);
}

/** A parsed COSE_Sign1 (bytes kept for verification). */
export interface ParsedSign1 {
  readonly protectedBytes: Uint8Array;
  readonly protectedMap: CborMap;
  readonly unprotected: CborMap;
  readonly payload: Uint8Array;
  readonly signature: Uint8Array;
}

/** Builds a tagged COSE_Sign1 with an empty unprotected header. */
export async function encodeSign1(
  signer: Sign1Signer,
  protectedMap: CborMap,
  payload: Uint8Array,
  externalAad: Uint8Array = new Uint8Array(0),
): Promise<Uint8Array> {
  const protectedBytes = encodeCbor(protectedMap);
  const signature = await signer.sign(sigStructure1(protectedBytes, externalAad, payload));
  return encodeCbor(new CborTag(TAG_SIGN1, [protectedBytes, new Map(), payload, signature]));
}

/**
 * The shared frame of COSE_Sign1 and COSE_Encrypt: a tagged 4-element array
 * whose first element is the protected header (a bstr holding a strict map)
 * and second the unprotected header map; the last two are the caller's.
 */
function coseStructure(bytes: Uint8Array, tag: number, name: string): {
  protectedBytes: Uint8Array;
  protectedMap: CborMap;
  unprotected: CborMap;
  rest: [CborValue | undefined, CborValue | undefined];
} {
  const top = decodeStrict(bytes, [tag]);
  expect(top instanceof CborTag && top.tag === tag, `not a tagged ${name}`, "decode-wrong-tag");
  const arr = (top as CborTag).value;
  expect(Array.isArray(arr) && arr.length === 4, `${name} must be a 4-element array`);
  const [p, u, a, b] = arr as CborValue[];
  const protectedBytes = bytesField(p, `${name} protected`);
  return {
    protectedBytes,
    protectedMap: mapField(decodeStrict(protectedBytes), `${name} protected header`),
    unprotected: mapField(u, `${name} unprotected`),
    rest: [a, b],
  };
}

/** Parses a tagged COSE_Sign1 strictly (no signature check). */
export function parseSign1(bytes: Uint8Array): ParsedSign1 {
  const { protectedBytes, protectedMap, unprotected, rest: [payload, sig] } = coseStructure(
    bytes,
    TAG_SIGN1,
    "COSE_Sign1",
  );
  expect(
    unprotected.size === 0,
    "COSE_Sign1 unprotected header must be empty",
    "decode-unknown-label",
  );
  return {
    protectedBytes,
    protectedMap,
    unprotected,
    payload: bytesField(payload, "COSE_Sign1 payload"),
    signature: bytesField(sig, "COSE_Sign1 signature"),
  };
}

/** The signature algorithm named by a protected `alg` value. */
export function signAlgOf(v: CborValue | undefined): SignAlg {
  if (v === ALG.EdDSA) return "EdDSA";
  if (v === ALG.ES256) return "ES256";
  throw new CoseError("unsupported-algorithm", "COSE_Sign1 alg must be EdDSA (-8) or ES256 (-7)");
}

/** Checks the signature of a parsed COSE_Sign1. */
export function verifySign1(
  s: ParsedSign1,
  alg: SignAlg,
  publicKey: Uint8Array,
  externalAad: Uint8Array = new Uint8Array(0),
): void {
  const tbs = sigStructure1(s.protectedBytes, externalAad, s.payload);
  if (!verifySignature(alg, publicKey, tbs, s.signature)) {
    throw new CoseError("signature-invalid", "COSE_Sign1 signature does not verify");
  }
}

// ---------------------------------------------------------------- encryption

/** Optional PartyU/PartyV identities (protected recipient labels −21/−24). */
export interface KdfParties {
  readonly partyU?: Uint8Array;
  readonly partyV?: Uint8Array;
}

/** The recipient's protected header map. */
export function recipientProtected(parties: KdfParties): CborMap {
  const m: CborMap = new Map([[1, ALG.ECDH_ES_HKDF_256]]);
  const crit: number[] = [];
  if (parties.partyU) crit.push(-21), m.set(-21, parties.partyU);
  if (parties.partyV) crit.push(-24), m.set(-24, parties.partyV);
  if (crit.length > 0) m.set(2, crit);
  return m;
}

function contentAlgId(alg: ContentAlg): number {
  return alg === "A256GCM" ? ALG.A256GCM : ALG.ChaCha20Poly1305;
}

/** The content algorithm named by a protected `alg` value. */
export function contentAlgOf(v: CborValue | undefined): ContentAlg {
  if (v === ALG.A256GCM) return "A256GCM";
  if (v === ALG.ChaCha20Poly1305) return "ChaCha20Poly1305";
  throw new CoseError(
    "unsupported-algorithm",
    "COSE_Encrypt alg must be A256GCM (3) or ChaCha20-Poly1305 (24)",
  );
}

/** HKDF-SHA256 over the ECDH secret with the COSE_KDF_Context as info (RFC 9053 §5). */
export function deriveCek(
  shared: Uint8Array,
  alg: ContentAlg,
  recipientProtectedBytes: Uint8Array,
  parties: KdfParties,
): Uint8Array {
  const context = encodeCbor([
    contentAlgId(alg),
    [parties.partyU ?? null, null, null],
    [parties.partyV ?? null, null, null],
    [256, recipientProtectedBytes],
  ]);
  return hkdf(sha256, shared, undefined, context, 32);
}

/** Inputs for {@linkcode encodeEncrypt}. */
export interface EncryptInput {
  /** Protected header of the COSE_Encrypt (alg must match `alg`). */
  readonly protectedMap: CborMap;
  readonly alg: ContentAlg;
  readonly plaintext: Uint8Array;
  readonly recipientPublicKey: Uint8Array;
  readonly recipientKeyId: Uint8Array;
  readonly parties?: KdfParties;
  readonly externalAad?: Uint8Array;
  /** Deterministic ephemeral key for fixtures; random when absent. */
  readonly ephemeralPrivateKey?: Uint8Array;
  /**
   * The content sealer; default {@linkcode aeadSeal} (fresh random nonce).
   * Fixture tests pass one with a fixed nonce.
   */
  readonly seal?: ContentSealer;
}

/** Seals `plaintext` under `key` binding `aad`; returns the nonce and `ciphertext ‖ tag`. */
export type ContentSealer = (
  alg: AeadAlgorithm,
  key: Uint8Array,
  plaintext: Uint8Array,
  aad: Uint8Array,
) => AeadSealed;

/** Builds a tagged COSE_Encrypt with one ECDH-ES+HKDF-256 X25519 recipient. */
export function encodeEncrypt(input: EncryptInput): Uint8Array {
  const parties = input.parties ?? {};
  // X25519 runs natively (node:crypto): @noble's is ~0.7 ms per operation here.
  const eph = input.ephemeralPrivateKey?.slice() ?? x25519.utils.randomSecretKey();
  const ephPublic = x25519PublicKey(eph);
  const shared = x25519SharedSecret(eph, input.recipientPublicKey);
  if (shared === undefined) {
    eph.fill(0);
    throw new Error("the recipient X25519 public key is not usable"); // as @noble threw
  }
  const rProtected = encodeCbor(recipientProtected(parties));
  const cek = deriveCek(shared, input.alg, rProtected, parties);
  try {
    const protectedBytes = encodeCbor(input.protectedMap);
    const aad = encodeCbor(["Encrypt", protectedBytes, input.externalAad ?? new Uint8Array(0)]);
    const { nonce, ciphertext } = (input.seal ?? aeadSeal)(
      aeadName(input.alg),
      cek,
      input.plaintext,
      aad,
    );
    const coseKey: CborMap = new Map<number, CborValue>([[1, 1], [-1, 4], [-2, ephPublic]]);
    const recipient = [
      rProtected,
      new Map<number, CborValue>([[4, input.recipientKeyId], [-1, coseKey]]),
      null,
    ];
    return encodeCbor(
      new CborTag(TAG_ENCRYPT, [protectedBytes, new Map([[5, nonce]]), ciphertext, [recipient]]),
    );
  } finally {
    eph.fill(0);
    shared.fill(0);
    cek.fill(0);
  }
}

function aeadName(alg: ContentAlg): "aes-256-gcm" | "chacha20-poly1305" {
  return alg === "A256GCM" ? "aes-256-gcm" : "chacha20-poly1305";
}

/** A parsed COSE_Encrypt, before opening. */
export interface ParsedEncrypt {
  readonly protectedBytes: Uint8Array;
  readonly protectedMap: CborMap;
  readonly nonce: Uint8Array;
  readonly ciphertext: Uint8Array;
  readonly recipientProtectedBytes: Uint8Array;
  readonly parties: KdfParties;
  readonly recipientKeyId: Uint8Array;
  readonly ephemeralPublicKey: Uint8Array;
}

/** Parses a tagged COSE_Encrypt strictly (exactly one X25519 ECDH-ES+HKDF-256 recipient). */
export function parseEncrypt(bytes: Uint8Array): ParsedEncrypt {
  const { protectedBytes, protectedMap, unprotected, rest: [ct, rs] } = coseStructure(
    bytes,
    TAG_ENCRYPT,
    "COSE_Encrypt",
  );
  expect(
    unprotected.size === 1,
    "COSE_Encrypt unprotected header must hold only the IV",
    "decode-unknown-label",
  );
  const nonce = bytesField(unprotected.get(5), "COSE_Encrypt IV (5)");
  expect(nonce.length === 12, "COSE_Encrypt IV must be 12 bytes");
  const ciphertext = bytesField(ct, "COSE_Encrypt ciphertext");
  expect(Array.isArray(rs) && rs.length === 1, "COSE_Encrypt must have exactly one recipient");
  const r = (rs as CborValue[])[0];
  expect(Array.isArray(r) && r.length === 3, "COSE_recipient must be a 3-element array");
  const [rp, ru, rct] = r as CborValue[];
  expect(rct === null, "COSE_recipient ciphertext must be nil for ECDH-ES");
  const recipientProtectedBytes = bytesField(rp, "COSE_recipient protected");
  const rpm = mapField(decodeStrict(recipientProtectedBytes), "COSE_recipient protected header");
  if (rpm.get(1) !== ALG.ECDH_ES_HKDF_256) {
    throw new CoseError("unsupported-algorithm", "recipient alg must be ECDH-ES+HKDF-256 (-25)");
  }
  const partyU = rpm.get(-21);
  const partyV = rpm.get(-24);
  const parties: KdfParties = {
    ...(partyU === undefined ? {} : { partyU: bytesField(partyU, "PartyU identity (-21)") }),
    ...(partyV === undefined ? {} : { partyV: bytesField(partyV, "PartyV identity (-24)") }),
  };
  requireCanonical(
    recipientProtectedBytes,
    recipientProtected(parties),
    "COSE_recipient protected header",
  );
  const rum = mapField(ru, "COSE_recipient unprotected");
  expect(
    rum.size === 2,
    "COSE_recipient unprotected must hold kid and the ephemeral key",
    "decode-unknown-label",
  );
  const recipientKeyId = bytesField(rum.get(4), "COSE_recipient kid (4)");
  const key = mapField(rum.get(-1), "COSE_recipient ephemeral key (-1)");
  expect(
    key.size === 3 && key.get(1) === 1 && key.get(-1) === 4,
    "ephemeral key must be an OKP X25519 COSE_Key",
  );
  const ephemeralPublicKey = bytesField(key.get(-2), "ephemeral key x (-2)");
  expect(ephemeralPublicKey.length === 32, "ephemeral key x must be 32 bytes");
  expect(
    canonicalU(ephemeralPublicKey),
    "ephemeral key x must be a canonical X25519 u-coordinate (below 2^255 - 19)",
  );
  return {
    protectedBytes,
    protectedMap,
    nonce,
    ciphertext,
    recipientProtectedBytes,
    parties,
    recipientKeyId,
    ephemeralPublicKey,
  };
}

/**
 * True when the little-endian `u` is below 2^255 − 19. X25519 masks the top
 * bit and reduces modulo p, so a non-canonical `u` names the same point: it
 * would let a second byte string open to the same plaintext.
 */
function canonicalU(u: Uint8Array): boolean {
  if (u[31]! < 0x7f) return true;
  if (u[31]! > 0x7f) return false;
  for (let i = 30; i >= 1; i--) if (u[i] !== 0xff) return true;
  return u[0]! < 0xed;
}

/**
 * Opens a parsed COSE_Encrypt with the recipient's X25519 private key. Every
 * failure (low-order point, tag, AAD, key) is the one `open-failed` error.
 */
export function openEncrypt(
  e: ParsedEncrypt,
  recipientPrivateKey: Uint8Array,
  externalAad: Uint8Array = new Uint8Array(0),
): Uint8Array {
  const alg = contentAlgOf(e.protectedMap.get(1));
  let shared: Uint8Array | undefined;
  let cek: Uint8Array | undefined;
  try {
    shared = x25519SharedSecret(recipientPrivateKey, e.ephemeralPublicKey);
    if (shared === undefined) throw new AeadOpenError();
    cek = deriveCek(shared, alg, e.recipientProtectedBytes, e.parties);
    const aad = encodeCbor(["Encrypt", e.protectedBytes, externalAad]);
    return aeadOpen(aeadName(alg), cek, { nonce: e.nonce, ciphertext: e.ciphertext }, aad);
  } catch {
    throw new CoseError("open-failed", "COSE_Encrypt did not open");
  } finally {
    shared?.fill(0);
    cek?.fill(0);
  }
}
