/**
 * One credential deposit record (contract §6): a backend credential sealed
 * to the bundle's X25519 ingest key and signed by a contributor's Ed25519
 * key, appended outside the payload AEAD by someone without an unlock
 * secret.
 *
 * Wire rules:
 * - sealed_cred = X25519 sealed box (§11.4) of the credential's externally
 *   tagged JSON, AAD = `basil-bundle-deposit-v1` ‖ JSON
 *   `{"label":"deposit-cred","bundle_id":[16 ints],"epoch","backend_id","seq","contributor_key_id"}`;
 * - signature = Ed25519 over JSON
 *   `{backend_id, epoch, seq, contributor_key_id, sealed_cred}` in that
 *   order, binary fields base64url without padding (as in the file).
 *
 * Invariants: the credential JSON is built and parsed as bytes and wiped;
 * {@linkcode openDepositCred} reports `decrypt-failed` / `decode-failed`
 * and never throws anything else.
 * @module
 */

import { concat, toBase64Url, utf8 } from "../../core/encoding.ts";
import { signMessage, verifyMessage } from "../../crypto/signing.ts";
import { openX25519, sealX25519 } from "../../crypto/x25519_seal.ts";
import { type BackendCred, readCred, writeCred } from "../creds.ts";
import type { DepositRecord } from "../format.ts";
import { type JsonValue, parseJsonBytes, wipeJson } from "../json_bytes.ts";
import { JsonWriter } from "../json_writer.ts";

const AAD_LABEL = utf8("basil-bundle-deposit-v1");

/** What a record binds besides the credential. */
export interface DepositBinding {
  readonly bundleId: Uint8Array;
  readonly epoch: number;
  readonly backendId: string;
  readonly seq: number;
  readonly contributorKeyId: string;
}

/** The sealed box AAD for a deposit. */
export function depositAad(b: DepositBinding): Uint8Array {
  const json = JSON.stringify({
    label: "deposit-cred",
    bundle_id: [...b.bundleId],
    epoch: b.epoch,
    backend_id: b.backendId,
    seq: b.seq,
    contributor_key_id: b.contributorKeyId,
  });
  return concat(AAD_LABEL, utf8(json));
}

/** The bytes a contributor signs. */
export function signedBytes(r: Omit<DepositRecord, "signature">): Uint8Array {
  return utf8(JSON.stringify({
    backend_id: r.backend_id,
    epoch: r.epoch,
    seq: r.seq,
    contributor_key_id: r.contributor_key_id,
    sealed_cred: {
      encapsulated_key: toBase64Url(r.sealed_cred.encapsulated_key),
      nonce: toBase64Url(r.sealed_cred.nonce),
      ciphertext: toBase64Url(r.sealed_cred.ciphertext),
    },
  }));
}

/** The externally tagged JSON of one credential (caller wipes). */
export function credJson(cred: BackendCred): Uint8Array {
  return JsonWriter.build((w) => writeCred(w, cred));
}

/** Seals and signs a new deposit record. */
export function makeDeposit(
  b: DepositBinding,
  cred: BackendCred,
  ingestPublicKey: Uint8Array,
  seed: Uint8Array,
): DepositRecord {
  const plaintext = credJson(cred);
  try {
    const box = sealX25519(ingestPublicKey, plaintext, depositAad(b));
    const body = {
      backend_id: b.backendId,
      epoch: b.epoch,
      seq: b.seq,
      contributor_key_id: b.contributorKeyId,
      sealed_cred: {
        encapsulated_key: box.encapsulatedKey,
        nonce: box.nonce,
        ciphertext: box.ciphertext,
      },
    };
    return { ...body, signature: signMessage("ed25519", seed, signedBytes(body)) };
  } finally {
    plaintext.fill(0);
  }
}

/** Whether the record's signature verifies under `publicKey`. */
export function depositSignatureValid(r: DepositRecord, publicKey: Uint8Array): boolean {
  return verifyMessage("ed25519", publicKey, signedBytes(r), r.signature);
}

/** The outcome of opening a record's credential. */
export type OpenedCred =
  | { readonly ok: true; readonly cred: BackendCred; readonly json: Uint8Array }
  | { readonly ok: false; readonly status: "decrypt-failed" | "decode-failed" };

/**
 * Opens a record's sealed credential with the ingest key pair. On success
 * returns the credential and its canonical JSON (both for the caller to wipe).
 */
export function openDepositCred(
  r: DepositRecord,
  bundleId: Uint8Array,
  ingestPrivateKey: Uint8Array,
  ingestPublicKey: Uint8Array,
): OpenedCred {
  let plaintext: Uint8Array;
  try {
    plaintext = openX25519(
      ingestPrivateKey,
      ingestPublicKey,
      {
        encapsulatedKey: r.sealed_cred.encapsulated_key,
        nonce: r.sealed_cred.nonce,
        ciphertext: r.sealed_cred.ciphertext,
      },
      depositAad({
        bundleId,
        epoch: r.epoch,
        backendId: r.backend_id,
        seq: r.seq,
        contributorKeyId: r.contributor_key_id,
      }),
    );
  } catch {
    return { ok: false, status: "decrypt-failed" };
  }
  let tree: JsonValue = null;
  try {
    tree = parseJsonBytes(plaintext);
    const cred = readCred(tree, "deposit");
    return { ok: true, cred, json: credJson(cred) };
  } catch {
    return { ok: false, status: "decode-failed" };
  } finally {
    wipeJson(tree);
    plaintext.fill(0);
  }
}
