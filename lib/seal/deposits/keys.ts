/**
 * Deposit key material (contract §5/§6): the X25519 ingest key (private
 * half sealed in the payload, public half shared as a recipient token) and
 * contributors' Ed25519 signing keys (raw 32-byte seed files, public half
 * shared as a token for `bundle allow`).
 *
 * Invariants: tokens are base64url without padding of exactly 32 bytes,
 * written with a trailing newline; seed files must be owner-only (0600) and
 * hold exactly 32 bytes (one trailing LF then CR stripped); errors name the
 * file or flag, never key bytes.
 * @module
 */

import { decodeBase64Url, toBase64Url, utf8 } from "../../core/encoding.ts";
import { InputError } from "../../core/errors.ts";
import { describeFsError, readSecretFile } from "../../core/fs.ts";
import { SecretBytes } from "../../core/secret.ts";
import { publicKeyOf } from "../../crypto/signing.ts";
import { x25519PublicKey } from "../../crypto/x25519_seal.ts";

const TOKEN = "deposit_key_invalid";
/** Key length of every deposit key. */
export const DEPOSIT_KEY_LEN = 32;

/** Parses a 32-byte base64url-no-pad token (`what` names it in errors). */
export function parseKeyToken(text: string, what: string): Uint8Array {
  const bytes = decodeBase64Url(text.trim());
  if (bytes === undefined || bytes.length !== DEPOSIT_KEY_LEN) {
    throw new InputError(TOKEN, `${what}: expected a base64url (no padding) 32-byte key`);
  }
  return bytes;
}

/** The token form of a public key, with a trailing newline (file content). */
export function keyTokenLine(publicKey: Uint8Array): Uint8Array {
  return utf8(`${toBase64Url(publicKey)}\n`);
}

/** Reads a recipient token file (`-r`, `--deposit-key` output). */
export function readRecipientFile(path: string): Uint8Array {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (e) {
    throw new InputError(
      "deposit_key_unreadable",
      `recipient file ${path}: cannot read: ${describeFsError(e)}`,
    );
  }
  return parseKeyToken(text, `recipient file ${path}`);
}

/**
 * Reads an owner-only raw 32-byte Ed25519 seed file (`-i`). A line ending
 * is stripped only when the file is not already exactly 32 bytes (a raw
 * seed may end in 0x0a).
 */
export function readSeedFile(path: string): SecretBytes {
  const raw = readSecretFile(path, { requireOwnerOnly: true, what: "identity seed file" });
  const bytes = raw.expose();
  let end = bytes.length;
  if (end !== DEPOSIT_KEY_LEN && bytes[end - 1] === 0x0a) end--;
  if (end !== DEPOSIT_KEY_LEN && bytes[end - 1] === 0x0d) end--;
  if (end !== DEPOSIT_KEY_LEN) {
    raw.wipe();
    throw new InputError(TOKEN, `identity seed file ${path}: must contain exactly 32 bytes`);
  }
  if (end === bytes.length) return raw;
  const seed = SecretBytes.copyOf(bytes.subarray(0, end));
  raw.wipe();
  return seed;
}

/** The Ed25519 public key of a seed. */
export function contributorPublicKey(seed: Uint8Array): Uint8Array {
  return publicKeyOf("ed25519", seed);
}

/** The X25519 public key of the ingest private key. */
export function ingestPublicKey(privateKey: SecretBytes): Uint8Array {
  return x25519PublicKey(privateKey.expose());
}

/** A fresh Ed25519 seed. */
export function newSeed(): SecretBytes {
  const seed = new Uint8Array(DEPOSIT_KEY_LEN);
  crypto.getRandomValues(seed);
  return new SecretBytes(seed);
}
