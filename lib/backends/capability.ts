/**
 * Startup capability check (contract §2.5): what the catalog requires of each
 * backend (engines, mintable key types, declared `requires`) must be a subset
 * of what the backend declares it provides. Pure catalog math, no I/O.
 * `strict` fails on any gap, `degraded` only on gaps of `missing: error` keys,
 * `off` skips. Every gap is reported at once.
 * @module
 */

import type { Catalog } from "../catalog/schema.ts";

/** The outcome of the check. */
export interface CapabilityReport {
  /** Gaps that stop the start, one line each. */
  readonly fatal: string[];
  /** Findings that are only logged. */
  readonly warnings: string[];
}

/** Checks the catalog under `policy`. */
export function checkCapabilities(
  catalog: Catalog,
  policy: "strict" | "degraded" | "off",
): CapabilityReport {
  const fatal: string[] = [];
  const warnings: string[] = [];
  if (policy === "off") return { fatal, warnings };
  for (const b of catalog.backends.values()) {
    const undeclared = b.engines.length === 0 && b.capabilities.length === 0 &&
      b.mintKeyTypes.length === 0;
    if (undeclared) {
      warnings.push(`backend ${b.name}: declares no engines or capabilities; check skipped`);
      continue;
    }
    for (const req of b.requires) {
      if (!b.capabilities.includes(req)) {
        fatal.push(`backend ${b.name}: requires capability "${req}" that it does not provide`);
      }
    }
    for (const k of catalog.keys.values()) {
      if (k.backend !== b.name) continue;
      const gaps: string[] = [];
      if (!b.engines.includes(k.engine)) gaps.push(`engine "${k.engine}"`);
      if (
        k.class === "asymmetric" && k.engine === "transit" && k.missing === "generate" &&
        k.keyType !== undefined && !b.mintKeyTypes.includes(k.keyType)
      ) gaps.push(`mintKeyTypes "${k.keyType}"`);
      if (gaps.length === 0) continue;
      const line = `key ${k.name}: backend ${b.name} does not provide ${gaps.join(" and ")}`;
      if (policy === "strict" || k.missing === "error") fatal.push(line);
      else warnings.push(`${line} (degraded)`);
    }
  }
  return { fatal, warnings };
}
