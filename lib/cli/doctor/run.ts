/**
 * Runs every doctor check in contract §8's order and returns the rows.
 * The config must load for most checks; when it does not, the rows that
 * depend on it say "not run" (fatal), so the report is never shorter than
 * the problem.
 * @module
 */

import { loadCatalog } from "../../catalog/load.ts";
import type { Catalog } from "../../catalog/schema.ts";
import { loadAgentConfig } from "../../config/load.ts";
import type { AgentConfig } from "../../config/schema.ts";
import { readTextInput } from "../../core/fs.ts";
import { readHostUnixNames } from "../../core/unix_names.ts";
import { loadPolicy } from "../../policy/load.ts";
import type { Policy } from "../../policy/schema.ts";
import type { CliContext } from "../context.ts";
import { abs, type OverrideFlags, resolveOverrides } from "../inputs.ts";
import {
  catalogPolicyRow,
  checkBackendBinary,
  checkBundle,
  checkCapability,
  checkFeatures,
  checkInvocation,
  checkReachability,
  checkSocket,
  rawConfig,
  why,
} from "./checks.ts";
import { type CheckResult, row } from "./report.ts";

/** What `doctor` runs with. */
export interface DoctorOptions extends OverrideFlags {
  readonly keys: boolean;
  /** Reachability timeout per address (default 3 s, contract §9). */
  readonly reachabilityTimeoutMs?: number;
}

const notRun = (name: string, because: string): CheckResult =>
  row.fatal(name, `not run: ${because}`, "fix the fatal rows above first");

/** Every check's row. */
export async function runDoctor(o: DoctorOptions, ctx: CliContext): Promise<CheckResult[]> {
  const rows: CheckResult[] = [];
  const { configPath, overrides } = resolveOverrides(o, ctx);
  let text: string | undefined;
  let cfg: AgentConfig | undefined;
  try {
    text = configPath === undefined ? undefined : readTextInput(abs(configPath, ctx.cwd), "config");
    cfg = loadAgentConfig({
      file: text === undefined ? undefined : { path: configPath!, text },
      overrides,
      cwd: ctx.cwd,
    });
    rows.push(row.ok("config", cfg.configFile ?? "no config file (flags and environment only)"));
  } catch (e) {
    rows.push(row.fatal("config", why(e), "fix the config file (basil init writes a valid one)"));
  }
  const raw = rawConfig(text);

  let catalog: Catalog | undefined;
  let policy: Policy | undefined;
  if (cfg !== undefined) {
    try {
      const loaded = loadCatalog(readTextInput(cfg.catalog, "catalog"), cfg.catalog);
      catalog = loaded.catalog;
      policy = loadPolicy(readTextInput(cfg.policy, "policy"), cfg.policy, {
        names: readHostUnixNames(),
      });
      rows.push(catalogPolicyRow(catalog, policy, loaded.warnings));
    } catch (e) {
      rows.push(row.fatal("catalog_policy", why(e), "fix the named file and field"));
    }
  } else rows.push(notRun("catalog_policy", "the config did not load"));

  const noCatalog = cfg === undefined ? "the config did not load" : "the catalog did not load";
  if (cfg !== undefined && catalog !== undefined) {
    rows.push(checkCapability(cfg, catalog));
    rows.push(checkInvocation(raw ?? {}, catalog, cfg));
  } else {
    rows.push(notRun("capability", noCatalog), notRun("invocation_bindings", noCatalog));
  }
  rows.push(checkFeatures(raw, catalog));
  rows.push(
    catalog !== undefined
      ? checkBackendBinary(catalog, ctx.env("PATH"))
      : notRun("backend_binary", noCatalog),
  );
  if (cfg === undefined) {
    for (const n of ["socket", "bundle_readable", "bundle_perms", "bundle_freshness"]) {
      rows.push(notRun(n, "the config did not load"));
    }
  } else {
    rows.push(await checkSocket(cfg));
  }
  const bundle = cfg === undefined ? undefined : checkBundle(cfg);
  if (bundle) rows.push(...bundle.rows);
  rows.push(
    cfg !== undefined && catalog !== undefined
      ? await checkReachability(cfg, catalog, o.reachabilityTimeoutMs)
      : notRun("backend_reachability", noCatalog),
  );
  if (o.keys) {
    if (cfg === undefined || catalog === undefined || bundle?.bundle === undefined) {
      rows.push(notRun("key_material", "the config, catalog or bundle did not load"));
    } else {
      const { checkKeyMaterial } = await import("./keys.ts");
      rows.push(...await checkKeyMaterial(cfg, catalog, bundle.bundle, ctx.env("BASIL_TSS2_DIR")));
    }
  }
  return rows;
}
