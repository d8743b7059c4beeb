/**
 * Non-secret fingerprints of deposited credentials (contract §6): a GCP
 * service-account key shows `gcp-sa:<project_id>:<client_email>:<private_key_id>`
 * when all three fields are present; anything else shows
 * `sha256:<base64url of SHA-256 over the credential's serialized JSON>`.
 *
 * Invariants: the service-account JSON is parsed as bytes and wiped; only
 * the three identity fields become strings.
 * @module
 */

import { sha256 } from "@noble/hashes/sha2.js";
import { toBase64Url } from "../../core/encoding.ts";
import type { BackendCred } from "../creds.ts";
import { JsonObject, JsonText, type JsonValue, parseJsonBytes, wipeJson } from "../json_bytes.ts";

function textField(o: JsonObject, key: string): string | undefined {
  const v = o.fields.get(key);
  if (!(v instanceof JsonText) || v.bytes.length === 0) return undefined;
  const s = new TextDecoder().decode(v.bytes);
  return /^[\x21-\x7e]+$/.test(s) ? s : undefined;
}

function gcpIdentity(sa: Uint8Array): string | undefined {
  let tree: JsonValue = null;
  try {
    tree = parseJsonBytes(sa);
    if (!(tree instanceof JsonObject)) return undefined;
    const project = textField(tree, "project_id");
    const email = textField(tree, "client_email");
    const keyId = textField(tree, "private_key_id");
    if (project === undefined || email === undefined || keyId === undefined) return undefined;
    return `gcp-sa:${project}:${email}:${keyId}`;
  } catch {
    return undefined;
  } finally {
    wipeJson(tree);
  }
}

/** The fingerprint of `cred`, whose serialized JSON is `json`. */
export function credFingerprint(cred: BackendCred, json: Uint8Array): string {
  if (cred.type === "GcpKms" && cred.service_account_json !== undefined) {
    const id = gcpIdentity(cred.service_account_json.expose());
    if (id !== undefined) return id;
  }
  const digest = sha256(json);
  try {
    return `sha256:${toBase64Url(digest)}`;
  } finally {
    digest.fill(0);
  }
}
