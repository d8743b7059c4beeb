/**
 * Loading the agent's input files from the CLI side (offline `explain`, the
 * launcher): the config (with flag and environment overrides), the catalog
 * and the policy, through the same loaders the agent uses.
 * @module
 */

import { loadCatalog } from "../catalog/load.ts";
import type { Catalog } from "../catalog/schema.ts";
import { loadAgentConfig } from "../config/load.ts";
import type { AgentConfig, ConfigOverrides } from "../config/schema.ts";
import { readTextInput } from "../core/fs.ts";
import { readHostUnixNames } from "../core/unix_names.ts";
import { loadPolicy } from "../policy/load.ts";
import type { Policy } from "../policy/schema.ts";
import type { CliContext } from "./context.ts";

/** The config overrides a command accepts (contract §1). */
export interface OverrideFlags {
  config?: string;
  catalog?: string;
  policy?: string;
  bundle?: string;
  socket?: string;
  vaultAddr?: string;
}

/** Flags beat environment variables beat the file. */
export function resolveOverrides(flags: OverrideFlags, ctx: CliContext): {
  configPath: string | undefined;
  overrides: ConfigOverrides;
} {
  const pick = (flag: string | undefined, env: string) => flag ?? ctx.env(env);
  return {
    configPath: pick(flags.config, "BASIL_CONFIG"),
    overrides: {
      catalog: pick(flags.catalog, "BASIL_CATALOG"),
      policy: pick(flags.policy, "BASIL_POLICY"),
      bundle: pick(flags.bundle, "BASIL_BUNDLE"),
      socket: pick(flags.socket, "BASIL_SOCKET"),
      vaultAddr: pick(flags.vaultAddr, "VAULT_ADDR"),
    },
  };
}

/** Loads the effective agent config. */
export function loadConfigFromFlags(flags: OverrideFlags, ctx: CliContext): AgentConfig {
  const { configPath, overrides } = resolveOverrides(flags, ctx);
  const file = configPath === undefined
    ? undefined
    : { path: configPath, text: readTextInput(abs(configPath, ctx.cwd), "config") };
  return loadAgentConfig({ file, overrides, cwd: ctx.cwd });
}

/** Loads and validates a catalog file. */
export function readCatalog(path: string): { catalog: Catalog; warnings: string[] } {
  return loadCatalog(readTextInput(path, "catalog"), path);
}

/** Loads and validates a policy file, resolving unixSubjects on this host. */
export function readPolicy(path: string): Policy {
  return loadPolicy(readTextInput(path, "policy"), path, { names: readHostUnixNames() });
}

/** Absolute path of `p` relative to `cwd`. */
export function abs(p: string, cwd: string): string {
  return p.startsWith("/") ? p : `${cwd.replace(/\/$/, "")}/${p}`;
}
