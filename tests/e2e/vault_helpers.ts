/**
 * Shared set-up of the agent-level vault tests: the configured double
 * (transit, KV v2 at `secret/`, PKI roles `web` and `spiffe`, an AppRole
 * `basil` whose policy covers what the agent touches), a catalog backend of
 * kind `vault` pointing at it, the bundle credentials for it, and small
 * readers of what the agent printed. Not a test file itself.
 * @module
 */

import assert from "node:assert/strict";
import type { VaultAppRoleCred, VaultTokenCred } from "../../lib/seal/creds.ts";
import { SecretBytes } from "../../lib/core/secret.ts";
import { ROOT } from "../helpers/cli.ts";
import { PYTHON, pythonStubs } from "../helpers/python.ts";
import {
  startConfiguredDouble,
  type VaultDouble,
  type VaultDoubleOptions,
} from "../fakes/vault/server.ts";

const enc = new TextEncoder();

/** The trust domain of the SPIFFE issuers in {@linkcode vaultKeys}. */
export const TD = "example.org";

/** One root-token call to the double; throws on a status >= 300. */
export async function rootCall(
  d: VaultDouble,
  method: string,
  path: string,
  body?: unknown,
  // deno-lint-ignore no-explicit-any
): Promise<any> {
  const res = await fetch(`${d.addr}/v1/${path}`, {
    method,
    headers: { "X-Vault-Token": d.rootToken },
    body: body === undefined ? undefined : JSON.stringify(body),
    ...(d.client ? { client: d.client } : {}),
  });
  const text = await res.text();
  assert.ok(res.status < 300, `double ${method} ${path}: ${res.status} ${text}`);
  return text === "" ? undefined : JSON.parse(text);
}

/**
 * The double as an OpenBao operator would set it up for Basil: transit, KV
 * v2 and PKI mounted, a root CA, a TLS role `web` and an SVID role `spiffe`,
 * and an AppRole `basil` (tokens of `ttl`/`maxTtl` seconds) limited by the
 * ACL policy `basil` to transit, `secret/` and `pki/`.
 */
export async function startBasilDouble(
  o: VaultDoubleOptions & { ttl?: number; maxTtl?: number } = {},
): Promise<VaultDouble> {
  const d = await startConfiguredDouble(o);
  try {
    await rootCall(d, "POST", "pki/roles/web", {
      allowed_domains: ["example.org"],
      allow_subdomains: true,
      allow_ip_sans: true,
      key_type: "ec",
      key_bits: 256,
      max_ttl: "720h",
    });
    await rootCall(d, "POST", "pki/roles/spiffe", {
      allowed_uri_sans: [`spiffe://${TD}/*`],
      require_cn: false,
      key_type: "ec",
      key_bits: 256,
      max_ttl: "24h",
    });
    await rootCall(d, "POST", "sys/policies/acl/basil", {
      policy: [
        'path "transit/*" { capabilities = ["create", "read", "update"] }',
        'path "secret/*" { capabilities = ["create", "read", "update"] }',
        'path "pki/*" { capabilities = ["create", "read", "update"] }',
      ].join("\n"),
    });
    await rootCall(d, "POST", "auth/approle/role/basil", {
      token_ttl: o.ttl ?? 3600,
      token_max_ttl: o.maxTtl ?? 7200,
      token_policies: ["basil"],
    });
    return d;
  } catch (e) {
    await d.close();
    throw e;
  }
}

/** A new AppRole secret_id for role `basil`, and the role_id. */
export async function appRoleLogin(d: VaultDouble): Promise<{ roleId: string; secretId: string }> {
  const roleId = (await rootCall(d, "GET", "auth/approle/role/basil/role-id")).data.role_id;
  const secretId = (await rootCall(d, "POST", "auth/approle/role/basil/secret-id")).data.secret_id;
  return { roleId, secretId };
}

/** A `VaultToken` bundle credential. */
export function tokenCred(token: string): VaultTokenCred {
  return { type: "VaultToken", token: SecretBytes.copyOf(enc.encode(token)) };
}

/** A `VaultAppRole` bundle credential. */
export function appRoleCred(roleId: string, secretId: string): VaultAppRoleCred {
  return {
    type: "VaultAppRole",
    role_id: roleId,
    secret_id: SecretBytes.copyOf(enc.encode(secretId)),
  };
}

/** The `OPENBAO_2_5` preset's declaration (nix/backend-capabilities.nix). */
export const OPENBAO_DECLARATION = {
  engines: ["transit", "kv2", "pki"],
  capabilities: ["byok-import", "prehash-sign", "pki-crl", "jwt-auth", "approle-auth"],
  mintKeyTypes: ["ed25519", "ed25519-nkey", "rsa-2048", "ecdsa-p256", "ecdsa-p384", "ecdsa-p521"],
};

/** A catalog backend of kind `vault` at `addr`, declared like `OPENBAO_2_5` unless overridden. */
export function vaultBackend(addr: string, over: Record<string, unknown> = {}): unknown {
  return { kind: "vault", addr, ...OPENBAO_DECLARATION, ...over };
}

/**
 * Every catalog key the agent test drives on backend `backend`: KV values,
 * transit signing and AEAD keys (generated, created on demand, imported),
 * a TLS CA and an X.509-SVID CA through PKI roles, a JWT-SVID issuer.
 */
export function vaultKeys(backend: string): Record<string, unknown> {
  const key = (k: Record<string, unknown>, description: string) => ({
    backend,
    writable: true,
    description,
    ...k,
  });
  return {
    "app.db_password": key({
      class: "value",
      path: "secret/data/app/db-password",
      missing: "generate",
      generate: { format: "ascii-printable", bytes: 24 },
    }, "Tier 1: generated at start"),
    "app.api_token": key(
      { class: "value", path: "secret/data/app/api-token", missing: "warn" },
      "Set by the operator",
    ),
    "sig.ed25519": key(
      { class: "asymmetric", keyType: "ed25519", path: "sig-ed25519", missing: "generate" },
      "Ed25519 in transit",
    ),
    "sig.ecdsa_p256": key(
      { class: "asymmetric", keyType: "ecdsa-p256", path: "sig-p256", missing: "generate" },
      "P-256 in transit",
    ),
    "sig.rsa_2048": key(
      { class: "asymmetric", keyType: "rsa-2048", path: "sig-rsa", missing: "warn" },
      "RSA created with new-key",
    ),
    "sig.imported": key(
      { class: "asymmetric", keyType: "ed25519", path: "sig-imported", missing: "warn" },
      "BYOK",
    ),
    "sym.aes": key(
      { class: "symmetric", keyType: "aes-256-gcm", path: "sym-aes", missing: "generate" },
      "AES-256-GCM in transit",
    ),
    "sym.chacha": key(
      {
        class: "symmetric",
        keyType: "chacha20-poly1305",
        path: "sym-chacha",
        missing: "generate",
      },
      "ChaCha20-Poly1305 in transit",
    ),
    "tls.ca": key(
      { class: "asymmetric", keyType: "ecdsa-p256", engine: "pki", path: "pki/issue/web" },
      "TLS leaves through the PKI role web",
    ),
    "spiffe.x509_ca": key({
      class: "asymmetric",
      keyType: "ecdsa-p256",
      engine: "pki",
      path: "pki/issue/spiffe",
      labels: ["svid_kind=x509", `trust_domain=${TD}`],
    }, "X.509-SVIDs through the PKI role spiffe"),
    "spiffe.jwt_issuer": key({
      class: "asymmetric",
      keyType: "ecdsa-p256",
      path: "spiffe-jwt",
      missing: "generate",
      labels: ["svid_kind=jwt", `trust_domain=${TD}`, `spiffe_id=spiffe://${TD}`],
    }, "JWT-SVIDs signed in transit"),
  };
}

/** A policy granting `uid` (named `app`) everything on the keys of {@linkcode vaultKeys}. */
export function vaultPolicy(uid: number): unknown {
  return {
    schemaVersion: 2,
    subjects: { app: { anyOf: [{ kind: "unix", uid }] } },
    rules: [
      { id: "all", subjects: ["app"], action: ["*"], target: ["app.*", "sig.*", "sym.*", "tls.*"] },
      { id: "svids", subjects: ["app"], action: ["op:mint", "op:validate"], target: ["spiffe.*"] },
    ],
    config: { names: { users: { [String(uid)]: "app" } } },
  };
}

/** `name: value` lines (what `encrypt`, `rotate`, `import` print) as a record. */
export function fieldsOf(stdout: string): Record<string, string> {
  return Object.fromEntries(
    stdout.trim().split("\n").map((l) => {
      const at = l.indexOf(": ");
      return at < 0 ? [l.replace(/:$/, ""), ""] : [l.slice(0, at), l.slice(at + 2)];
    }),
  );
}

/** One call's outcome as tests/fixtures/py/rpc_client.py prints it. */
export interface PyOutcome {
  code: string;
  details: string;
  reason: string | null;
  op: string | null;
  has_details_bin: boolean;
  // deno-lint-ignore no-explicit-any
  responses: Record<string, any>[];
}

/** Runs `calls` in one python3-grpcio process (tests/fixtures/py/rpc_client.py). */
export async function py(socket: string, calls: unknown[]): Promise<PyOutcome[]> {
  const gen = await pythonStubs();
  const out = await new Deno.Command(PYTHON, {
    args: [`${ROOT}/tests/fixtures/py/rpc_client.py`, gen, socket, JSON.stringify(calls)],
    env: { HOME: "/nonexistent" },
  }).output();
  const text = new TextDecoder().decode(out.stdout).trim();
  if (out.code !== 0 || text === "") {
    throw new Error(`rpc_client.py failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return JSON.parse(text);
}

/** Runs a program to completion with optional stdin. */
export async function run(
  cmd: string,
  args: readonly string[],
  stdin?: Uint8Array,
): Promise<{ code: number; out: string; err: string }> {
  const child = new Deno.Command(cmd, {
    args: [...args],
    stdin: stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin) {
    const w = child.stdin.getWriter();
    await w.write(stdin);
    await w.close();
  }
  const o = await child.output();
  const dec = new TextDecoder();
  return { code: o.code, out: dec.decode(o.stdout), err: dec.decode(o.stderr) };
}
