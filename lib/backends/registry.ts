/**
 * Builds one live backend per catalog backend from the bundle credential with
 * the same id (contract §1 startup order). A missing credential, or one of
 * the wrong kind for the backend, stops the start. The credentials are only
 * borrowed: the caller wipes the map afterwards.
 * @module
 */

import type { Catalog } from "../catalog/schema.ts";
import { InputError } from "../core/errors.ts";
import type { Logger } from "../core/log.ts";
import type { BackendCred } from "../seal/creds.ts";
import type { Backend } from "./backend.ts";
import { openKeystoreBackend } from "./keystore/mod.ts";

/** Builds every backend, or closes those built so far and throws. */
export function buildBackends(
  catalog: Catalog,
  creds: ReadonlyMap<string, BackendCred>,
  logger: Logger,
): Map<string, Backend> {
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
