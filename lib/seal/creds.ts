/**
 * Backend credentials carried in the sealed payload (contract §6), and their
 * externally tagged JSON form: `{"VaultToken":{"token":…,"addr":…}}`.
 *
 * Invariants:
 * - Secret fields (`token`, `secret_id`, `key_pem`, `dek`,
 *   `service_account_json`, `Opaque.secret`) are {@linkcode SecretBytes} in
 *   memory and are written/read as bytes, never as JavaScript strings.
 * - Field order on write matches the upstream serde declaration order;
 *   absent optionals are omitted (not `null`); `null` reads as absent.
 * - Decoding is closed: unknown variants and unknown fields are rejected.
 * - {@linkcode wipeCreds} zeroes every secret in a map and clears it.
 * @module
 */

import type { SecretBytes } from "../core/secret.ts";
import type { JsonValue } from "./json_bytes.ts";
import { JsonWriter } from "./json_writer.ts";
import {
  child,
  expectMap,
  expectObject,
  getOptSecretText,
  getOptString,
  getSecretB64,
  getSecretText,
  getString,
  ShapeError,
} from "./json_shape.ts";

/** A static Vault/OpenBao token. */
export interface VaultTokenCred {
  readonly type: "VaultToken";
  readonly token: SecretBytes;
  readonly addr?: string;
}

/** A Vault/OpenBao AppRole login (`role_id` is not secret). */
export interface VaultAppRoleCred {
  readonly type: "VaultAppRole";
  readonly role_id: string;
  readonly secret_id: SecretBytes;
  readonly addr?: string;
}

/** An RSA key (PEM) used to self-mint a JWT-SVID for Vault JWT login. */
export interface SpiffeSignerCred {
  readonly type: "SpiffeSigner";
  readonly key_pem: SecretBytes;
  readonly spiffe_id: string;
}

/** The 32-byte DEK of a db-keystore database. */
export interface DbKeystoreDekCred {
  readonly type: "DbKeystoreDek";
  readonly dek: SecretBytes;
}

/** 1Password provider settings (no secret). */
export interface OnePasswordCred {
  readonly type: "OnePassword";
  readonly provider_uri: string;
  readonly project: string;
  readonly profile: string;
}

/** AWS KMS addressing (no secret; ambient credentials). */
export interface AwsKmsCred {
  readonly type: "AwsKms";
  readonly region?: string;
  readonly profile?: string;
}

/** GCP KMS addressing, optionally with a sealed service-account JSON key. */
export interface GcpKmsCred {
  readonly type: "GcpKms";
  readonly project: string;
  readonly location: string;
  readonly key_ring: string;
  readonly service_account_json?: SecretBytes;
}

/** Upstream's escape hatch; carried so payloads round-trip, never usable. */
export interface OpaqueCred {
  readonly type: "Opaque";
  readonly kind: string;
  readonly secret: SecretBytes;
}

/** One backend's bootstrap credential. */
export type BackendCred =
  | VaultTokenCred
  | VaultAppRoleCred
  | SpiffeSignerCred
  | DbKeystoreDekCred
  | OnePasswordCred
  | AwsKmsCred
  | GcpKmsCred
  | OpaqueCred;

/** The variant tags, in upstream order. */
export const CRED_TYPES: readonly BackendCred["type"][] = [
  "VaultToken",
  "VaultAppRole",
  "SpiffeSigner",
  "DbKeystoreDek",
  "OnePassword",
  "AwsKms",
  "GcpKms",
  "Opaque",
];

const KIND_NAMES: Record<BackendCred["type"], string> = {
  VaultToken: "vault-token",
  VaultAppRole: "vault-approle",
  SpiffeSigner: "spiffe-signer",
  DbKeystoreDek: "db-keystore-dek",
  OnePassword: "onepassword",
  AwsKms: "aws-kms",
  GcpKms: "gcp-kms",
  Opaque: "opaque",
};

/** The short kind name `bundle show --open` prints (`vault-token`, ...). */
export function credKind(cred: BackendCred): string {
  return KIND_NAMES[cred.type];
}

/** Every secret buffer of a credential. */
function secretsOf(cred: BackendCred): (SecretBytes | undefined)[] {
  switch (cred.type) {
    case "VaultToken":
      return [cred.token];
    case "VaultAppRole":
      return [cred.secret_id];
    case "SpiffeSigner":
      return [cred.key_pem];
    case "DbKeystoreDek":
      return [cred.dek];
    case "GcpKms":
      return [cred.service_account_json];
    case "Opaque":
      return [cred.secret];
    default:
      return [];
  }
}

/** Zeroes the secret fields of one credential. */
export function wipeCred(cred: BackendCred): void {
  for (const s of secretsOf(cred)) s?.wipe();
}

/** Zeroes every credential in `creds` and empties the map. */
export function wipeCreds(creds: Map<string, BackendCred>): void {
  for (const cred of creds.values()) wipeCred(cred);
  creds.clear();
}

/** Writes one credential as externally tagged JSON. */
export function writeCred(w: JsonWriter, cred: BackendCred): void {
  w.raw(`{${JSON.stringify(cred.type)}:{`);
  let first = true;
  const key = (name: string): JsonWriter => {
    w.raw(`${first ? "" : ","}${JSON.stringify(name)}:`);
    first = false;
    return w;
  };
  switch (cred.type) {
    case "VaultToken":
      key("token").text(cred.token.expose());
      if (cred.addr !== undefined) key("addr").str(cred.addr);
      break;
    case "VaultAppRole":
      key("role_id").str(cred.role_id);
      key("secret_id").text(cred.secret_id.expose());
      if (cred.addr !== undefined) key("addr").str(cred.addr);
      break;
    case "SpiffeSigner":
      key("key_pem").text(cred.key_pem.expose());
      key("spiffe_id").str(cred.spiffe_id);
      break;
    case "DbKeystoreDek":
      key("dek").b64(cred.dek.expose());
      break;
    case "OnePassword":
      key("provider_uri").str(cred.provider_uri);
      key("project").str(cred.project);
      key("profile").str(cred.profile);
      break;
    case "AwsKms":
      if (cred.region) key("region").str(cred.region);
      if (cred.profile) key("profile").str(cred.profile);
      break;
    case "GcpKms":
      key("project").str(cred.project);
      key("location").str(cred.location);
      key("key_ring").str(cred.key_ring);
      if (cred.service_account_json !== undefined) {
        key("service_account_json").text(cred.service_account_json.expose());
      }
      break;
    case "Opaque":
      key("kind").str(cred.kind);
      key("secret").b64(cred.secret.expose());
      break;
  }
  w.raw("}}");
}

/** Reads one externally tagged credential; throws {@linkcode ShapeError}. */
export function readCred(v: JsonValue | undefined, path: string): BackendCred {
  const outer = expectMap(v, path);
  const tags = [...outer.fields.keys()];
  const tag = tags[0];
  if (tags.length !== 1 || tag === undefined) {
    throw new ShapeError(path, "expected exactly one credential variant");
  }
  if (!(CRED_TYPES as readonly string[]).includes(tag)) {
    throw new ShapeError(path, `unknown credential variant ${JSON.stringify(tag)}`);
  }
  const at = child(path, tag);
  const body = outer.fields.get(tag);
  switch (tag as BackendCred["type"]) {
    case "VaultToken": {
      const o = expectObject(body, at, ["token", "addr"]);
      const addr = getOptString(o, "addr", at);
      return { type: "VaultToken", token: getSecretText(o, "token", at), ...opt("addr", addr) };
    }
    case "VaultAppRole": {
      const o = expectObject(body, at, ["role_id", "secret_id", "addr"]);
      const role_id = getString(o, "role_id", at);
      const addr = getOptString(o, "addr", at);
      const secret_id = getSecretText(o, "secret_id", at);
      return { type: "VaultAppRole", role_id, secret_id, ...opt("addr", addr) };
    }
    case "SpiffeSigner": {
      const o = expectObject(body, at, ["key_pem", "spiffe_id"]);
      const spiffe_id = getString(o, "spiffe_id", at);
      return { type: "SpiffeSigner", key_pem: getSecretText(o, "key_pem", at), spiffe_id };
    }
    case "DbKeystoreDek": {
      const o = expectObject(body, at, ["dek"]);
      return { type: "DbKeystoreDek", dek: getSecretB64(o, "dek", at, 32) };
    }
    case "OnePassword": {
      const o = expectObject(body, at, ["provider_uri", "project", "profile"]);
      return {
        type: "OnePassword",
        provider_uri: getString(o, "provider_uri", at),
        project: getString(o, "project", at),
        profile: getString(o, "profile", at),
      };
    }
    case "AwsKms": {
      const o = expectObject(body, at, ["region", "profile"]);
      const region = getOptString(o, "region", at) || undefined;
      const profile = getOptString(o, "profile", at) || undefined;
      return { type: "AwsKms", ...opt("region", region), ...opt("profile", profile) };
    }
    case "GcpKms": {
      const o = expectObject(body, at, ["project", "location", "key_ring", "service_account_json"]);
      const project = getString(o, "project", at);
      const location = getString(o, "location", at);
      const key_ring = getString(o, "key_ring", at);
      const sa = getOptSecretText(o, "service_account_json", at);
      return { type: "GcpKms", project, location, key_ring, ...opt("service_account_json", sa) };
    }
    case "Opaque": {
      const o = expectObject(body, at, ["kind", "secret"]);
      const kind = getString(o, "kind", at);
      return { type: "Opaque", kind, secret: getSecretB64(o, "secret", at) };
    }
  }
}

/** `{key: value}` when defined, else `{}`: absent optionals stay absent, never `undefined`. */
function opt<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return value === undefined ? {} : ({ [key]: value } as { [P in K]?: V });
}

/** Writes a credential map with keys in sorted order (as a Rust `BTreeMap`). */
export function writeCredsMap(w: JsonWriter, creds: ReadonlyMap<string, BackendCred>): void {
  w.raw("{");
  const ids = [...creds.keys()].sort();
  ids.forEach((id, i) => {
    w.raw(`${i === 0 ? "" : ","}${JSON.stringify(id)}:`);
    writeCred(w, creds.get(id)!);
  });
  w.raw("}");
}

/** Reads a credential map; on error, already-read secrets are wiped. */
export function readCredsMap(v: JsonValue | undefined, path: string): Map<string, BackendCred> {
  const obj = expectMap(v, path);
  const out = new Map<string, BackendCred>();
  try {
    for (const [id, value] of obj.fields) out.set(id, readCred(value, child(path, id)));
  } catch (e) {
    wipeCreds(out);
    throw e;
  }
  return out;
}
