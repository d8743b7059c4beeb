/**
 * `--backend id=…,type=…,<fields>` → a sealed {@linkcode BackendCred}
 * (contract §5 "Backend spec").
 *
 * Invariants:
 * - Types: `openbao`/`vault` (exactly one of `token-file` |
 *   `role-id`+`secret-id-file` | `spiffe-key-file`+`spiffe-id`, optional
 *   http(s) `addr`), `1password` (`provider-uri` or, to keep a token out of
 *   argv, `provider-uri-file`), `aws-kms`, `gcp-kms`, `db-keystore`
 *   (`path`/`cipher` accepted, not sealed). Unknown, duplicate and empty
 *   fields are rejected (`InputError` token `backend_spec_invalid`).
 * - Credential files must be owner-only (0600; 0400 also passes); one
 *   trailing LF then CR is stripped; text credentials must be UTF-8 and are
 *   trimmed (bytes only, never a JS string) and must not be empty; a DEK is
 *   exactly 32 raw bytes (a 32-byte DEK plus a line ending is also accepted).
 * - No error quotes a field value or file content.
 * - {@linkcode loadBackends} wipes every credential already read when a
 *   later spec fails.
 * @module
 */

import { InputError } from "../core/errors.ts";
import { readSecretFile } from "../core/fs.ts";
import { SecretBytes } from "../core/secret.ts";
import type { BackendCred } from "./creds.ts";
import { parseSpecFields, type SpecFields, specFieldsFromTable } from "./spec_fields.ts";
import { isValidUtf8, trimUnicodeWhitespace } from "./utf8_bytes.ts";

const TOKEN = "backend_spec_invalid";
const FLAG = "--backend";

/** The backend types `--backend` accepts. */
export const BACKEND_SPEC_TYPES = [
  "openbao",
  "vault",
  "1password",
  "aws-kms",
  "gcp-kms",
  "db-keystore",
] as const;

/** A parsed `--backend` spec. */
export interface ParsedBackend {
  readonly id: string;
  readonly cred: BackendCred;
}

/** Parses one `--backend` spec, reading its credential files. */
export function parseBackendSpec(spec: string): ParsedBackend {
  return backendFromFields(backendSpecFields(spec));
}

/** The fields of one `--backend` spec (syntax only; no file is read). */
export function backendSpecFields(spec: string): SpecFields {
  return parseSpecFields(spec, FLAG, TOKEN);
}

/**
 * The fields of a `[[backend]]` table of `bundle create --from` (the
 * `--backend` fields, `id` and `type` included); `where` names the file and
 * the table in errors. No file is read yet.
 */
export function backendFieldsFromTable(
  table: Readonly<Record<string, unknown>>,
  where: string,
): SpecFields {
  return specFieldsFromTable(table, where, TOKEN);
}

/** One backend from its fields, reading its credential files. */
export function backendFromFields(f: SpecFields): ParsedBackend {
  const id = f.require("id", "a backend spec");
  const type = f.require("type", "a backend spec");
  // Every field is checked before any credential file is read.
  const load = planCred(type, f);
  f.finish(`type ${type}`);
  return { id, cred: load() };
}

function wipe(cred: BackendCred): void {
  for (const v of Object.values(cred)) if (v instanceof SecretBytes) v.wipe();
}

/** Consumes the type's fields and returns a loader that reads the files. */
function planCred(type: string, f: SpecFields): () => BackendCred {
  switch (type) {
    case "openbao":
    case "vault":
      return planVault(f);
    case "1password": {
      // `provider-uri-file` keeps a `onepassword+token://TOKEN@vault` URI out
      // of argv; `provider-uri` is upstream's inline form.
      const inline = f.take("provider-uri");
      const uriFile = f.take("provider-uri-file");
      if ((inline === undefined) === (uriFile === undefined)) {
        throw new InputError(
          TOKEN,
          "type 1password requires exactly one of provider-uri or provider-uri-file",
        );
      }
      const project = f.require("project", "type 1password");
      const profile = f.require("profile", "type 1password");
      return () => {
        let provider_uri = inline;
        if (provider_uri === undefined) {
          const secret = readTextCred(uriFile!, "provider-uri-file");
          try {
            provider_uri = new TextDecoder().decode(secret.expose());
          } finally {
            secret.wipe();
          }
        }
        return { type: "OnePassword", provider_uri, project, profile };
      };
    }
    case "aws-kms": {
      const region = f.require("region", "type aws-kms");
      const profile = f.take("profile");
      return () => ({ type: "AwsKms", region, ...(profile === undefined ? {} : { profile }) });
    }
    case "gcp-kms": {
      const project = f.require("project", "type gcp-kms");
      const location = f.require("location", "type gcp-kms");
      const key_ring = f.require("key-ring", "type gcp-kms");
      const keyFile = f.take("key-file");
      if (keyFile === undefined) return () => ({ type: "GcpKms", project, location, key_ring });
      return () => ({
        type: "GcpKms",
        project,
        location,
        key_ring,
        service_account_json: readTextCred(keyFile, "key-file"),
      });
    }
    case "db-keystore": {
      f.require("path", "type db-keystore");
      f.take("cipher");
      const dekFile = f.require("dek-file", "type db-keystore");
      return () => ({ type: "DbKeystoreDek", dek: readDek(dekFile) });
    }
    default:
      throw f.error(`unknown backend type (expected one of ${BACKEND_SPEC_TYPES.join(", ")})`);
  }
}

function planVault(f: SpecFields): () => BackendCred {
  const addr = f.take("addr");
  if (addr !== undefined) checkAddr(addr, f);
  const src: VaultSources = {
    tokenFile: f.take("token-file"),
    roleId: f.take("role-id"),
    secretIdFile: f.take("secret-id-file"),
    spiffeKeyFile: f.take("spiffe-key-file"),
    spiffeId: f.take("spiffe-id"),
  };
  // The combination is judged after the unknown-field check (the loader runs
  // later), so `token=…` reports the unknown field, not a missing source.
  return () => loadVault(src, addr, f);
}

interface VaultSources {
  tokenFile?: string | undefined;
  roleId?: string | undefined;
  secretIdFile?: string | undefined;
  spiffeKeyFile?: string | undefined;
  spiffeId?: string | undefined;
}

function loadVault(s: VaultSources, addr: string | undefined, f: SpecFields): BackendCred {
  const withAddr = addr === undefined ? {} : { addr };
  const sources = [s.tokenFile, s.roleId ?? s.secretIdFile, s.spiffeKeyFile ?? s.spiffeId]
    .filter((x) => x !== undefined).length;
  if (sources === 1) {
    if (s.tokenFile !== undefined) {
      return { type: "VaultToken", token: readTextCred(s.tokenFile, "token-file"), ...withAddr };
    }
    if (s.roleId !== undefined && s.secretIdFile !== undefined) {
      const secret_id = readTextCred(s.secretIdFile, "secret-id-file");
      return { type: "VaultAppRole", role_id: s.roleId, secret_id, ...withAddr };
    }
    if (s.spiffeKeyFile !== undefined && s.spiffeId !== undefined) {
      // As upstream: `addr` is validated but SpiffeSigner carries none.
      const key_pem = readTextCred(s.spiffeKeyFile, "spiffe-key-file");
      return { type: "SpiffeSigner", key_pem, spiffe_id: s.spiffeId };
    }
  }
  throw f.error(
    "openbao/vault backend requires exactly one credential source: token-file; " +
      "role-id plus secret-id-file; or spiffe-key-file plus spiffe-id",
  );
}

function checkAddr(addr: string, f: SpecFields): void {
  let ok = false;
  try {
    const u = new URL(addr);
    ok = (u.protocol === "http:" || u.protocol === "https:") && u.hostname !== "";
  } catch {
    ok = false;
  }
  if (!ok) {
    throw f.error(`field "addr" must be an http(s) URL such as https://vault.example.com:8200`);
  }
}

/** Reads an owner-only text credential: UTF-8, trimmed, not empty. */
export function readTextCred(path: string, what: string): SecretBytes {
  const raw = readSecretFile(path, { requireOwnerOnly: true, stripNewline: true, what });
  try {
    const bytes = raw.expose();
    if (!isValidUtf8(bytes)) throw new InputError(TOKEN, `${what} ${path}: is not valid UTF-8`);
    const [start, end] = trimUnicodeWhitespace(bytes);
    if (start === end) throw new InputError(TOKEN, `${what} ${path}: is empty`);
    return SecretBytes.copyOf(bytes.subarray(start, end));
  } finally {
    raw.wipe();
  }
}

/** Reads an owner-only raw 32-byte DEK. */
export function readDek(path: string): SecretBytes {
  const raw = readSecretFile(path, { requireOwnerOnly: true, what: "dek-file" });
  const bytes = raw.expose();
  let end = bytes.length;
  if (end !== 32 && bytes[end - 1] === 0x0a) end--;
  if (end !== 32 && bytes[end - 1] === 0x0d) end--;
  if (end !== 32) {
    raw.wipe();
    throw new InputError(TOKEN, `dek-file ${path}: must contain exactly 32 bytes`);
  }
  if (end === bytes.length) return raw;
  const dek = SecretBytes.copyOf(bytes.subarray(0, 32));
  raw.wipe();
  return dek;
}

/**
 * Loads backends (each a thunk that parses one and reads its files) into a
 * map, rejecting a repeated id. If any fails (a bad field, an unreadable or
 * wrong-mode file, a duplicate id), every credential already read is wiped
 * first.
 */
export function loadBackends(
  backends: readonly (() => ParsedBackend)[],
): Map<string, BackendCred> {
  const parsed: ParsedBackend[] = [];
  try {
    for (const load of backends) parsed.push(load());
  } catch (e) {
    for (const p of parsed) wipe(p.cred);
    throw e;
  }
  return collectBackends(parsed);
}

/**
 * Collects parsed backends into a map, rejecting a repeated id (every
 * credential in `entries` is wiped then). Prefer {@linkcode loadBackends},
 * which also wipes when a later spec fails.
 */
export function collectBackends(entries: readonly ParsedBackend[]): Map<string, BackendCred> {
  const out = new Map<string, BackendCred>();
  for (const { id, cred } of entries) {
    if (out.has(id)) {
      for (const c of [...out.values(), ...entries.map((e) => e.cred)]) wipe(c);
      throw new InputError(TOKEN, `${FLAG}: duplicate backend id "${id}"`);
    }
    out.set(id, cred);
  }
  return out;
}
