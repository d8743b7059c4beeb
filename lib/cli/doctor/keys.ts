/**
 * `basil doctor --keys`: unlocks the bundle the way the agent would, but
 * without wiping the passphrase or phrase file and without advancing the
 * epoch sidecar, builds the backends (logging in) and probes every catalog
 * key read-only (`exists`). Nothing is generated or written. The
 * credentials, slot secrets and KEK are wiped before it returns.
 * @module
 */

import { buildBackends } from "../../backends/registry.ts";
import type { Backend } from "../../backends/backend.ts";
import type { Catalog } from "../../catalog/schema.ts";
import type { AgentConfig } from "../../config/schema.ts";
import { BasilError } from "../../core/errors.ts";
import { nullLogger } from "../../core/log.ts";
import { openBundle } from "../../seal/bundle.ts";
import { type BackendCred, wipeCred } from "../../seal/creds.ts";
import { evaluateDeposits, wipeReviews } from "../../seal/deposits/evaluate.ts";
import type { DecodedBundle } from "../../seal/format.ts";
import { PassphraseMethod, readPassphraseFile } from "../../seal/slots/passphrase.ts";
import type { SlotMethod } from "../../seal/slots/types.ts";
import { type CheckResult, row } from "./report.ts";
import { why } from "./checks.ts";

async function methodsOf(cfg: AgentConfig, tss2Dir: string | undefined): Promise<SlotMethod[]> {
  const u = cfg.unlock;
  const methods: SlotMethod[] = [];
  try {
    if (u.passphraseFile !== undefined) {
      methods.push(
        new PassphraseMethod(readPassphraseFile(u.passphraseFile, "unlock-passphrase-file")),
      );
    }
    if (u.bip39PhraseFile !== undefined) {
      const { Bip39Method, readPhraseFile } = await import("../../seal/slots/bip39.ts");
      methods.push(new Bip39Method(readPhraseFile(u.bip39PhraseFile, "bip39-phrase-file")));
    }
    if (u.ageYubikey) {
      const { AgeMethod, DEFAULT_AGE_PLUGIN, defaultPluginIdentity } = await import(
        "../../seal/slots/age.ts"
      );
      methods.push(new AgeMethod({ identities: [defaultPluginIdentity(DEFAULT_AGE_PLUGIN)] }));
    }
    if (u.unlockTpm) {
      const { loadTpmMethod } = await import("../../seal/slots/tpm_loader.ts");
      methods.push(
        await loadTpmMethod({
          ...(tss2Dir === undefined ? {} : { libDir: tss2Dir }),
          ...(u.tpmTcti ? { tcti: u.tpmTcti } : {}),
        }),
      );
    }
  } catch (e) {
    for (const m of methods) m.dispose();
    throw e;
  }
  return methods;
}

/** The bundle's credentials with effective deposits overlaid (the caller wipes them). */
async function unlockNoWipe(
  cfg: AgentConfig,
  bundle: DecodedBundle,
  tss2Dir: string | undefined,
): Promise<Map<string, BackendCred>> {
  const methods = await methodsOf(cfg, tss2Dir);
  try {
    if (methods.length === 0) throw new Error("[unlock]: no unlock method configured");
    const opened = await openBundle(bundle, cfg.bundle, methods);
    try {
      const creds = new Map(opened.backends);
      opened.backends.clear();
      if (bundle.deposits.length > 0) {
        const reviews = evaluateDeposits(bundle, opened.deposit);
        try {
          for (const r of reviews) {
            if (r.status !== "effective" || r.cred === undefined) continue;
            const old = creds.get(r.record.backend_id);
            if (old !== undefined) wipeCred(old);
            creds.set(r.record.backend_id, r.cred);
            r.cred = undefined;
          }
        } finally {
          wipeReviews(reviews);
        }
      }
      return creds;
    } finally {
      opened.wipe();
    }
  } finally {
    for (const m of methods) m.dispose();
  }
}

/** `key_material` and one `key_material:<key>` row per catalog key. */
export async function checkKeyMaterial(
  cfg: AgentConfig,
  catalog: Catalog,
  bundle: DecodedBundle,
  tss2Dir: string | undefined,
): Promise<CheckResult[]> {
  const name = "key_material";
  let backends: Map<string, Backend>;
  try {
    const creds = await unlockNoWipe(cfg, bundle, tss2Dir);
    try {
      backends = await buildBackends(catalog, creds, nullLogger, cfg);
    } finally {
      for (const c of creds.values()) wipeCred(c);
    }
  } catch (e) {
    return [
      row.fatal(
        name,
        `cannot unlock the bundle or reach the backends: ${why(e)}`,
        "see the detail",
      ),
    ];
  }
  const rows: CheckResult[] = [];
  try {
    for (const key of catalog.keys.values()) {
      const n = `${name}:${key.name}`;
      const b = backends.get(key.backend)!;
      let exists: boolean;
      try {
        exists = await b.exists(key);
      } catch (e) {
        rows.push(row.fatal(
          n,
          `probe failed: ${e instanceof BasilError ? e.message : why(e)}`,
          `check backend ${key.backend} and the credential's rights on ${key.path}`,
        ));
        continue;
      }
      if (exists) rows.push(row.ok(n, "present"));
      else if (key.missing === "error") {
        rows.push(row.fatal(
          n,
          "absent (missing: error): the agent will not start",
          `create ${key.path} on backend ${key.backend}`,
        ));
      } else if (key.missing === "warn") {
        rows.push(row.warn(n, "absent (missing: warn)", `set it: basil set --key-id ${key.name}`));
      } else {
        rows.push(row.warn(n, "absent (missing: generate): the agent creates it at start", ""));
      }
    }
  } finally {
    for (const b of backends.values()) b.close();
  }
  const bad = rows.filter((r) => r.status === "fatal").length;
  const warn = rows.filter((r) => r.status === "warn").length;
  const detail = `${rows.length} key(s) probed: ${rows.length - bad - warn} present, ` +
    `${warn} absent but allowed, ${bad} failing`;
  const summary = bad > 0
    ? row.fatal(name, detail, "see the key_material:<key> rows")
    : warn > 0
    ? row.warn(name, detail, "see the key_material:<key> rows")
    : row.ok(name, detail);
  return [summary, ...rows];
}
