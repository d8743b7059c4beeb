/**
 * The Vault/OpenBao backend (catalog kind `vault`, one implementation for
 * both): transit keys used in place, KV v2 values, PKI leaves (contract
 * §10), behind the login and token life of auth.ts.
 *
 * Invariants:
 * - Backend errors never reach a caller's message: transport failures and
 *   timeouts are BACKEND_UNAVAILABLE, refusals and malformed answers
 *   BACKEND_ERROR, a decrypt that transit refuses DECRYPT_FAILED; what
 *   happened is in `detail` (logged), without secrets.
 * - The existence probe is read-only (transit key read, KV read, PKI role
 *   read); 404 is "absent", anything else that is not 200 rejects.
 * - `close()` stops token renewal, wipes the token and login secrets and
 *   releases the TLS client.
 * @module
 */

import { X509Certificate } from "node:crypto";
import type { Backend } from "../backend.ts";
import type { CatalogKey } from "../../catalog/schema.ts";
import { BasilError, InputError } from "../../core/errors.ts";
import { bufferView } from "../../crypto/key_formats.ts";
import { pemToDers } from "../../crypto/x509/mod.ts";
import type { Logger } from "../../core/log.ts";
import { type JwtLoginSettings, VaultAuth, type VaultCred } from "./auth.ts";
import { VaultHttp } from "./http.ts";
import { createVaultKv } from "./kv2.ts";
import { createVaultPki } from "./pki.ts";
import { createVaultTransit } from "./transit.ts";

export { isLoopbackHost, parseVaultAddr } from "./http.ts";
export type { JwtLoginSettings, VaultCred } from "./auth.ts";

/** Options for {@linkcode openVaultBackend}. */
export interface VaultBackendOptions {
  /** The catalog backend name (= bundle credential id). */
  readonly name: string;
  /** The effective address (`http(s)://host:port`). */
  readonly addr: string;
  /** The bundle credential; copied, so the caller may wipe it after. */
  readonly cred: VaultCred;
  /** `transit-mount`. */
  readonly transitMount: string;
  /** SpiffeSigner login settings. */
  readonly jwt: JwtLoginSettings;
  /** `grace-versions`, applied as `min_decryption_version` on rotate. */
  readonly graceVersions: number;
  /** PEM CA certificates to trust for https (default: the built-in roots). */
  readonly caCertPem?: string;
  /** Per-attempt HTTP timeout. */
  readonly timeoutMs?: number;
  /** Retries of idempotent reads. */
  readonly retries?: number;
  /** Response body cap. */
  readonly maxBodyBytes?: number;
  readonly logger: Logger;
  /** Clock in ms (tests). */
  readonly now?: () => number;
}

/**
 * Connects and logs in; see {@linkcode VaultAuth.open} for what fails the
 * start. A credential the backend refuses is an `InputError`
 * (`backend_login_failed`) naming the backend, the credential type and the
 * backend's answer, so the agent's start line says what to fix.
 */
export async function openVaultBackend(o: VaultBackendOptions): Promise<Backend> {
  if (o.caCertPem !== undefined) checkCaCertificates(o.name, o.caCertPem);
  const http = new VaultHttp({
    addr: o.addr,
    caCertPem: o.caCertPem,
    timeoutMs: o.timeoutMs,
    retries: o.retries,
    maxBodyBytes: o.maxBodyBytes,
    logger: o.logger,
  });
  let auth: VaultAuth;
  try {
    auth = await VaultAuth.open({
      backend: o.name,
      http,
      cred: o.cred,
      jwt: o.jwt,
      logger: o.logger,
      now: o.now,
    });
  } catch (e) {
    http.close();
    if (e instanceof BasilError && e.code === "BACKEND_ERROR") {
      // The start line must say which backend refused what (the detail
      // holds the status and the backend's clipped text, never the secret).
      throw new InputError(
        "backend_login_failed",
        `backend ${o.name}: the vault backend refused the ${o.cred.type} credential ` +
          `(${e.detail ?? "no detail"})`,
      );
    }
    throw e;
  }
  const kv = createVaultKv(auth);
  const transit = createVaultTransit({
    auth,
    mount: o.transitMount,
    graceVersions: o.graceVersions,
  });
  const pki = createVaultPki(auth);
  let closed = false;
  return {
    name: o.name,
    kind: "vault",
    statusName: o.cred.type === "SpiffeSigner" ? "spiffe-vault" : "vault",
    kv,
    transit,
    pki,
    async exists(key: CatalogKey): Promise<boolean> {
      switch (key.engine) {
        case "transit":
          return (await transit.info(key.path)) !== undefined;
        case "pki":
          return (await pki.info(key.path)) !== undefined;
        case "kv2": {
          if ((await kv.latestVersion(key.path)) === undefined) return false;
          return key.publicPath === undefined ||
            (await kv.latestVersion(key.publicPath)) !== undefined;
        }
      }
    },
    close(): void {
      if (closed) return;
      closed = true;
      auth.close();
      http.close();
    },
  };
}

/**
 * The CA certificates to trust must parse: `fetch` would only fail each
 * request later, as "unreachable", with the reason buried in the log.
 */
function checkCaCertificates(backend: string, pem: string): void {
  let count = 0;
  try {
    for (const der of pemToDers(pem)) {
      new X509Certificate(bufferView(der));
      count++;
    }
  } catch {
    count = 0;
  }
  if (count === 0) {
    throw new InputError(
      "config_invalid",
      `backend ${backend}: vault-ca-file holds no readable PEM certificate`,
    );
  }
}
