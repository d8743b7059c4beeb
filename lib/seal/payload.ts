/**
 * The sealed payload plaintext (contract §6):
 * `{schema_version: 2, backends: {id: BackendCred}, deposit: {ingest_private_key?, contributors}}`.
 *
 * Invariants:
 * - Encoding writes bytes directly (no JSON string holds a secret) in the
 *   upstream field order, map keys sorted; decoding is closed (unknown fields
 *   rejected) and accepts `schema_version` 1 or 2 (`deposit` defaults empty).
 * - On any decode error every secret read so far and the parse tree are
 *   wiped; errors name the field path, never a value.
 * - The caller owns the plaintext buffer passed to {@linkcode decodePayload}
 *   and must wipe it; {@linkcode wipePayload} wipes a decoded payload.
 * @module
 */

import { InputError } from "../core/errors.ts";
import type { SecretBytes } from "../core/secret.ts";
import { type BackendCred, readCredsMap, wipeCreds, writeCredsMap } from "./creds.ts";
import { JsonSyntaxError, parseJsonBytes, wipeJson } from "./json_bytes.ts";
import { JsonWriter } from "./json_writer.ts";
import type { JsonValue } from "./json_bytes.ts";
import {
  child,
  expectMap,
  expectObject,
  getSecretB64,
  getString,
  getStringArray,
  getUint,
  ShapeError,
} from "./json_shape.ts";

/** The payload schema version this build writes. */
export const PAYLOAD_SCHEMA_VERSION = 2;

/** One allow-listed deposit contributor (non-secret). */
export interface DepositContributor {
  /** base64url-no-pad Ed25519 verifying key. */
  readonly public_key: string;
  /** Backend ids this contributor may deposit (kept sorted, unique). */
  readonly allowed_backend_ids: readonly string[];
}

/** Deposit material sealed inside the payload. */
export interface DepositMaterial {
  /** X25519 ingest private key (32 bytes), if one was created. */
  ingestPrivateKey?: SecretBytes;
  /** Contributor id → contributor. */
  contributors: Map<string, DepositContributor>;
}

/** The decrypted payload. */
export interface Payload {
  /** Backend id → credential. */
  backends: Map<string, BackendCred>;
  /** Deposit identity and allow-list. */
  deposit: DepositMaterial;
}

/** An empty deposit section. */
export function emptyDeposit(): DepositMaterial {
  return { contributors: new Map() };
}

/** Serializes a payload to JSON bytes (the AEAD plaintext). The caller wipes it. */
export function encodePayload(p: Payload): Uint8Array {
  return JsonWriter.build((w) => writePayload(w, p));
}

function writePayload(w: JsonWriter, p: Payload): void {
  w.raw(`{"schema_version":${PAYLOAD_SCHEMA_VERSION},"backends":`);
  writeCredsMap(w, p.backends);
  w.raw(`,"deposit":{`);
  if (p.deposit.ingestPrivateKey !== undefined) {
    w.raw(`"ingest_private_key":`).b64(p.deposit.ingestPrivateKey.expose());
    w.raw(",");
  }
  w.raw(`"contributors":{`);
  const ids = [...p.deposit.contributors.keys()].sort();
  ids.forEach((id, i) => {
    const c = p.deposit.contributors.get(id)!;
    const allowed = [...new Set(c.allowed_backend_ids)].sort();
    w.raw(`${i === 0 ? "" : ","}${JSON.stringify(id)}:{"public_key":`).str(c.public_key);
    w.raw(`,"allowed_backend_ids":${JSON.stringify(allowed)}}`);
  });
  w.raw("}}}");
}

/**
 * Parses payload plaintext. Errors are `InputError("bundle_corrupt")` naming
 * `file` and the field path only.
 */
export function decodePayload(plaintext: Uint8Array, file: string): Payload {
  let tree: JsonValue = null;
  try {
    tree = parseJsonBytes(plaintext);
    return readPayload(tree);
  } catch (e) {
    if (e instanceof JsonSyntaxError) {
      throw new InputError("bundle_corrupt", `bundle ${file}: payload: ${e.message}`);
    }
    if (e instanceof ShapeError) {
      throw new InputError("bundle_corrupt", `bundle ${file}: payload: ${e.message}`);
    }
    throw e;
  } finally {
    wipeJson(tree);
  }
}

function readPayload(tree: JsonValue): Payload {
  const top = expectObject(tree, "(top level)", ["schema_version", "backends", "deposit"]);
  const version = getUint(top, "schema_version", "");
  if (version !== 1 && version !== 2) {
    throw new ShapeError("schema_version", "unsupported version (this build reads 1 and 2)");
  }
  const backends = readCredsMap(top.fields.get("backends"), "backends");
  try {
    const deposit = readDeposit(top.fields.get("deposit"));
    return { backends, deposit };
  } catch (e) {
    wipeCreds(backends);
    throw e;
  }
}

function readDeposit(v: JsonValue | undefined): DepositMaterial {
  if (v === undefined) return emptyDeposit();
  const path = "deposit";
  const o = expectObject(v, path, ["ingest_private_key", "contributors"]);
  const contributors = new Map<string, DepositContributor>();
  const list = o.fields.get("contributors");
  if (list !== undefined) {
    const at = child(path, "contributors");
    for (const [id, entry] of expectMap(list, at).fields) {
      const where = child(at, id);
      const c = expectObject(entry, where, ["public_key", "allowed_backend_ids"]);
      const allowed = c.fields.has("allowed_backend_ids")
        ? getStringArray(c, "allowed_backend_ids", where)
        : [];
      contributors.set(id, {
        public_key: getString(c, "public_key", where),
        allowed_backend_ids: [...new Set(allowed)].sort(),
      });
    }
  }
  const key = o.fields.get("ingest_private_key");
  if (key === undefined || key === null) return { contributors };
  return { contributors, ingestPrivateKey: getSecretB64(o, "ingest_private_key", path, 32) };
}

/** Wipes every secret of a decoded payload and empties it. */
export function wipePayload(p: Payload): void {
  wipeCreds(p.backends);
  p.deposit.ingestPrivateKey?.wipe();
  p.deposit.contributors.clear();
}
