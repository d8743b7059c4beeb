/**
 * The Google Cloud KMS backend (catalog kind `gcp-kms`, engine transit):
 * Ed25519 / ECDSA P-256 / P-384 signing keys and AES-256-GCM keys used in
 * place through the official `@google-cloud/kms` client (contract §10).
 *
 * Invariants:
 * - The key ring comes from the bundle credential (project, location, key
 *   ring); the endpoint from the catalog backend `addr` (see client.ts).
 * - Credentials: the sealed service-account JSON when present, else
 *   Application Default Credentials. Nothing is written to disk or the
 *   environment.
 * - Google's errors never reach a caller: see errors.ts.
 * - The existence probe is read-only (GetPublicKey for a pinned version,
 *   GetCryptoKey for a symmetric key); NOT_FOUND is "absent", any other
 *   failure rejects.
 * @module
 */

import type { Backend } from "../backend.ts";
import type { CatalogKey } from "../../catalog/schema.ts";
import { InputError } from "../../core/errors.ts";
import type { Logger } from "../../core/log.ts";
import type { GcpKmsCred } from "../../seal/creds.ts";
import { createKmsClient } from "./client.ts";
import { parseEndpoint } from "./endpoint.ts";
import { catalogKeyProblem, type KeyRing, ringProblem } from "./names.ts";
import { createGcpTransit } from "./transit.ts";

export { catalogKeyProblem, GCP_KEY_TYPES, type KeyRing } from "./names.ts";
export { DEFAULT_KMS_HOST, endpointHostPort, OAUTH2_HOST, parseEndpoint } from "./endpoint.ts";

/** Options for {@linkcode openGcpKmsBackend}. */
export interface GcpKmsBackendOptions {
  /** The catalog backend name (= bundle credential id). */
  readonly name: string;
  /** The catalog backend `addr` (empty: the public endpoint). */
  readonly addr: string;
  /** The bundle credential; borrowed (the caller wipes it after). */
  readonly cred: GcpKmsCred;
  /** Catalog keys; those on this backend are checked before anything is built. */
  readonly keys?: Iterable<CatalogKey>;
  /** Per-call deadline. */
  readonly timeoutMs?: number;
  readonly logger: Logger;
}

/** The key ring of a credential; throws `InputError` naming the backend and field. */
export function ringOf(backend: string, cred: GcpKmsCred): KeyRing {
  const ring = { project: cred.project, location: cred.location, keyRing: cred.key_ring };
  const problem = ringProblem(ring);
  if (problem !== undefined) {
    throw new InputError("backend_cred_invalid", `backend ${backend}: gcp-kms ${problem}`);
  }
  return ring;
}

/**
 * Builds the backend; no network I/O until the first call. A catalog key of
 * this backend it cannot hold (type, class, engine, an unpinned signing
 * path, a path outside the ring) stops the start with an `InputError`
 * naming the key.
 */
export function openGcpKmsBackend(o: GcpKmsBackendOptions): Backend {
  const ring = ringOf(o.name, o.cred);
  for (const k of o.keys ?? []) {
    if (k.backend !== o.name) continue;
    const problem = catalogKeyProblem(ring, k);
    if (problem !== undefined) {
      throw new InputError(
        "catalog_invalid",
        `key ${k.name} on gcp-kms backend ${o.name}: ${problem}`,
      );
    }
  }
  let endpoint;
  try {
    endpoint = parseEndpoint(o.addr);
  } catch (e) {
    throw new InputError(
      "backend_addr_invalid",
      `backend ${o.name}: gcp-kms addr ${(e as Error).message}`,
    );
  }
  const client = createKmsClient(o.name, endpoint, o.cred.service_account_json, ring.project);
  const transit = createGcpTransit({ client, ring, timeoutMs: o.timeoutMs ?? 10_000 });
  let closed = false;
  return {
    name: o.name,
    kind: "gcp-kms",
    statusName: "gcp-kms",
    transit,
    async exists(key: CatalogKey): Promise<boolean> {
      if (key.engine !== "transit") return false;
      return (await transit.info(key.path)) !== undefined;
    },
    close(): void {
      if (closed) return;
      closed = true;
      client.close().catch((e) => {
        o.logger.log("warn", "gcp-kms client close failed", {
          backend: o.name,
          error: e instanceof Error ? e.name : "error",
        });
      });
    },
  };
}
