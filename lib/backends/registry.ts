/**
 * Builds one live backend per catalog backend from the bundle credential with
 * the same id (contract §1 startup order). A missing credential, or one of
 * the wrong kind for the backend, stops the start. The credentials are only
 * borrowed: the caller wipes the map afterwards.
 *
 * Vault backends (kind `vault`, credentials `VaultToken`, `VaultAppRole`,
 * `SpiffeSigner`) log in here, so building is async. Their address is the
 * credential's `addr` when it pins one, else the catalog backend's `addr`;
 * it must be the catalog `addr` or the config `vault-addr` (the agent's
 * sandbox only lets it reach those hosts). A CA file (`vault-ca-file`) is
 * read here, once.
 *
 * A `keystore` backend is the embedded SQLite keystore with a
 * `DbKeystoreDek` credential, or 1Password with a `OnePassword` one.
 * @module
 */

import type { Catalog, CatalogBackend } from "../catalog/schema.ts";
import type { AgentConfig } from "../config/schema.ts";
import { InputError } from "../core/errors.ts";
import type { Logger } from "../core/log.ts";
import type { BackendCred } from "../seal/creds.ts";
import type { Backend } from "./backend.ts";
import { openKeystoreBackend } from "./keystore/mod.ts";
import { openOnePasswordBackend } from "./onepassword/mod.ts";
import { openVaultBackend, parseVaultAddr, type VaultCred } from "./vault/mod.ts";

/** The config a vault backend needs (an `AgentConfig` has all of it). */
export type VaultSettings = Pick<
  AgentConfig,
  | "vaultAddr"
  | "transitMount"
  | "jwtAuthMount"
  | "jwtRole"
  | "jwtAudience"
  | "svidTtlSecs"
  | "graceVersions"
  | "vaultCaFile"
  | "vaultTimeoutMs"
>;

const DEFAULT_VAULT: VaultSettings = {
  vaultAddr: "http://127.0.0.1:8200",
  transitMount: "transit",
  jwtAuthMount: "jwt",
  jwtRole: "",
  jwtAudience: "openbao",
  svidTtlSecs: 300,
  graceVersions: 1,
  vaultCaFile: undefined,
  vaultTimeoutMs: 10_000,
};

/** Builds every backend, or closes those built so far and throws. */
export async function buildBackends(
  catalog: Catalog,
  creds: ReadonlyMap<string, BackendCred>,
  logger: Logger,
  settings: VaultSettings = DEFAULT_VAULT,
): Promise<Map<string, Backend>> {
  const built = new Map<string, Backend>();
  try {
    for (const b of catalog.backends.values()) {
      const cred = creds.get(b.name);
      if (!cred) {
        throw new InputError(
          "backend_cred_missing",
          `backend ${b.name}: the bundle holds no credential with id "${b.name}"`,
        );
      }
      if (b.kind === "keystore" && cred.type === "DbKeystoreDek") {
        built.set(
          b.name,
          openKeystoreBackend({ name: b.name, dbPath: b.addr, dek: cred.dek, logger }),
        );
        continue;
      }
      if (b.kind === "keystore" && cred.type === "OnePassword") {
        // `op` by name: the sandbox lets the agent run exactly the path the launcher resolved.
        built.set(b.name, openOnePasswordBackend({ name: b.name, cred }));
        continue;
      }
      if (b.kind === "aws-kms" && cred.type === "AwsKms") {
        // Loaded only when used: the AWS SDK is large and reads its
        // environment as it loads (the sandbox allows that only here).
        const { openAwsKmsBackend } = await import("./aws_kms/mod.ts");
        built.set(b.name, openAwsKmsBackend({ name: b.name, addr: b.addr, cred, logger }));
        continue;
      }
      if (b.kind === "gcp-kms" && cred.type === "GcpKms") {
        // Loaded only when used, like the AWS SDK.
        const { openGcpKmsBackend } = await import("./gcp_kms/mod.ts");
        const keys = catalog.keys.values();
        built.set(b.name, openGcpKmsBackend({ name: b.name, addr: b.addr, cred, keys, logger }));
        continue;
      }
      if (b.kind === "vault" && isVaultCred(cred)) {
        built.set(b.name, await openVault(b, cred, settings, logger));
        continue;
      }
      throw new InputError(
        "backend_unsupported",
        `backend ${b.name}: kind "${b.kind}" with a ${cred.type} credential is not supported by this build`,
      );
    }
  } catch (e) {
    for (const x of built.values()) x.close();
    throw e;
  }
  for (const id of creds.keys()) {
    if (!catalog.backends.has(id)) {
      logger.log("warn", "bundle credential has no catalog backend", { backend: id });
    }
  }
  return built;
}

function isVaultCred(cred: BackendCred): cred is VaultCred {
  return cred.type === "VaultToken" || cred.type === "VaultAppRole" ||
    cred.type === "SpiffeSigner";
}

/** The address a vault backend talks to; see the module doc. */
export function vaultAddrOf(b: CatalogBackend, cred: VaultCred, vaultAddr: string): string {
  const origin = (addr: string, what: string) => {
    try {
      return parseVaultAddr(addr).origin;
    } catch (e) {
      throw new InputError(
        "backend_addr_invalid",
        `backend ${b.name}: ${what} ${e instanceof Error ? e.message : "is invalid"}`,
      );
    }
  };
  const catalogAddr = origin(b.addr, "catalog addr");
  const pinned = cred.type === "SpiffeSigner" ? undefined : cred.addr;
  if (pinned === undefined || pinned === "") return catalogAddr;
  const want = origin(pinned, "bundle credential addr");
  const allowed = [catalogAddr];
  try {
    allowed.push(parseVaultAddr(vaultAddr).origin);
  } catch {
    // an unusable vault-addr allows nothing extra
  }
  if (!allowed.includes(want)) {
    throw new InputError(
      "backend_addr_mismatch",
      `backend ${b.name}: the bundle credential pins ${want}, which is neither the catalog addr ` +
        `(${catalogAddr}) nor vault-addr; the agent may only reach those`,
    );
  }
  return want;
}

async function openVault(
  b: CatalogBackend,
  cred: VaultCred,
  s: VaultSettings,
  logger: Logger,
): Promise<Backend> {
  if (cred.type === "SpiffeSigner" && s.jwtRole.trim() === "") {
    throw new InputError(
      "config_invalid",
      `backend ${b.name}: a SpiffeSigner credential needs jwt-role in the agent config`,
    );
  }
  let caCertPem: string | undefined;
  if (s.vaultCaFile !== undefined) {
    try {
      caCertPem = Deno.readTextFileSync(s.vaultCaFile);
    } catch (e) {
      throw new InputError(
        "config_invalid",
        `vault-ca-file ${s.vaultCaFile}: cannot read (${e instanceof Error ? e.name : "error"})`,
      );
    }
  }
  return await openVaultBackend({
    name: b.name,
    addr: vaultAddrOf(b, cred, s.vaultAddr),
    cred,
    transitMount: s.transitMount,
    jwt: {
      mount: s.jwtAuthMount,
      role: s.jwtRole,
      audience: s.jwtAudience,
      ttlSecs: s.svidTtlSecs,
    },
    graceVersions: s.graceVersions,
    caCertPem,
    timeoutMs: s.vaultTimeoutMs ?? 10_000,
    logger,
  });
}
