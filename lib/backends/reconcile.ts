/**
 * Startup reconcile (contract §2.5), before the socket is bound: probe every
 * catalog key; a probe failure is fatal and never read as "absent". Absent
 * `missing: error` keys stop the start (all of them named at once), `warn`
 * keys are logged, `generate` keys are created: values from their recipe,
 * crypto keys through the backend's key creation.
 * @module
 */

import type { CatalogKey } from "../catalog/schema.ts";
import type { Catalog } from "../catalog/schema.ts";
import { BasilError, InputError } from "../core/errors.ts";
import type { Logger } from "../core/log.ts";
import { generateValue } from "../crypto/recipes.ts";
import type { Backend } from "./backend.ts";

/** Creates a crypto key that reconcile found absent (`missing: generate`). */
export type KeyCreator = (key: CatalogKey, backend: Backend) => Promise<void>;

/** What reconcile did. */
export interface ReconcileReport {
  readonly present: number;
  readonly generated: string[];
  readonly warned: string[];
}

/** Runs reconcile, or throws an `InputError` listing every fatal key. */
export async function reconcile(
  catalog: Catalog,
  backends: ReadonlyMap<string, Backend>,
  logger: Logger,
  createKey?: KeyCreator,
): Promise<ReconcileReport> {
  const missing: string[] = [];
  const failed: string[] = [];
  const generated: string[] = [];
  const warned: string[] = [];
  let present = 0;
  for (const key of catalog.keys.values()) {
    const backend = backends.get(key.backend);
    if (!backend) {
      failed.push(`${key.name} (no backend ${key.backend})`);
      continue;
    }
    let exists: boolean;
    try {
      exists = await backend.exists(key);
    } catch (e) {
      failed.push(`${key.name} (${e instanceof BasilError ? e.message : "probe failed"})`);
      continue;
    }
    if (exists) {
      present++;
      continue;
    }
    if (key.missing === "error") missing.push(key.name);
    else if (key.missing === "warn") {
      warned.push(key.name);
      logger.log("warn", "catalog key is absent from its backend", { key: key.name });
    } else {
      try {
        await generate(key, backend, createKey);
        generated.push(key.name);
        logger.log("info", "generated absent catalog key", { key: key.name });
      } catch (e) {
        failed.push(`${key.name} (cannot generate: ${e instanceof Error ? e.message : "error"})`);
      }
    }
  }
  if (failed.length > 0) {
    throw new InputError("reconcile_failed", `reconcile failed for: ${failed.join(", ")}`);
  }
  if (missing.length > 0) {
    throw new InputError(
      "required_keys_missing",
      `required keys are absent from their backends (missing: error): ${missing.join(", ")}`,
    );
  }
  return { present, generated, warned };
}

async function generate(key: CatalogKey, backend: Backend, createKey?: KeyCreator): Promise<void> {
  if (key.class === "value" || key.class === "public") {
    if (!key.generate) throw new Error("no generate recipe");
    if (!backend.kv) throw new Error(`backend ${backend.name} stores no values`);
    const v = await generateValue(key.generate);
    try {
      await backend.kv.write(key.path, v.expose());
    } finally {
      v.wipe();
    }
    return;
  }
  if (key.class === "sealing" || key.engine === "kv2") {
    throw new Error("materialize-to-use keys are never generated; provision them");
  }
  if (!createKey) throw new Error("key creation is not available for this backend");
  await createKey(key, backend);
}
