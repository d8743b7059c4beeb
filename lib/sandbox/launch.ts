/**
 * `basil agent`: the launcher. It loads the config and catalog with the
 * CLI's permissions, derives the agent's permission set, and starts the
 * agent (`main.ts`) in a second Deno process under exactly those flags.
 * Signals are forwarded; the launcher exits with the agent's status.
 * @module
 */

import { findLibrary, LIBC_CANDIDATES } from "../../ffi/_dlopen.ts";
import type { AgentConfig } from "../config/schema.ts";
import type { Catalog } from "../catalog/schema.ts";
import { InputError } from "../core/errors.ts";
import { findTss2Dir, tss2FfiPaths } from "../seal/slots/tpm.ts";
import { agentPermissions, toDenoFlags } from "./permissions.ts";

/** Where the project's files are, relative to this module. */
const ROOT = new URL("../../", import.meta.url);

/** Everything needed to start the agent process. */
export interface LaunchPlan {
  readonly command: string;
  readonly args: readonly string[];
}

/** Options for {@linkcode planAgentLaunch}. */
export interface PlanOptions {
  /** libc path override (e.g. from BASIL_LIBC on NixOS). */
  readonly libc?: string;
  /** libtss2 directory override (e.g. from BASIL_TSS2_DIR on NixOS). */
  readonly tss2Dir?: string;
}

/** Builds the command line of the sandboxed agent process. */
export function planAgentLaunch(
  cfg: AgentConfig,
  catalog: Catalog,
  options: PlanOptions = {},
): LaunchPlan {
  const libc = options.libc ?? findLibrary(LIBC_CANDIDATES);
  if (libc === undefined) {
    throw new InputError("libc_not_found", "cannot find libc.so.6; set BASIL_LIBC to its path");
  }
  // The TPM slot loads libtss2 by exact path; a host without it fails that slot closed.
  const tss2Dir = cfg.unlock.unlockTpm ? options.tss2Dir ?? findTss2Dir({ libc }) : undefined;
  const perms = agentPermissions(cfg, catalog, {
    libc,
    ...(tss2Dir === undefined ? {} : { tss2: tss2FfiPaths({ libDir: tss2Dir, libc }) }),
  });
  const args = [
    "run",
    "--quiet",
    "--cached-only",
    "--config",
    new URL("deno.json", ROOT).pathname,
    ...toDenoFlags(perms),
    new URL("main.ts", ROOT).pathname,
    "--libc",
    libc,
    "--parent-pid",
    String(Deno.pid),
    ...(tss2Dir === undefined ? [] : ["--tss2-dir", tss2Dir]),
  ];
  if (cfg.configFile !== undefined) args.push("--config", cfg.configFile);
  args.push(
    "--catalog",
    cfg.catalog,
    "--policy",
    cfg.policy,
    "--bundle",
    cfg.bundle,
    "--socket",
    cfg.socket,
    "--vault-addr",
    cfg.vaultAddr,
  );
  // By name, resolved on PATH like `deno install` launchers: keeps --allow-run=deno exact.
  return { command: "deno", args };
}

const FORWARDED: Deno.Signal[] = ["SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT"];

/** Runs the plan with inherited stdio, forwarding signals; resolves to the exit code. */
export async function runAgentProcess(plan: LaunchPlan): Promise<number> {
  const child = new Deno.Command(plan.command, {
    args: [...plan.args],
    stdin: "null",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  const handlers = FORWARDED.map((sig) => {
    const h = () => {
      try {
        child.kill(sig);
      } catch { /* already gone */ }
    };
    Deno.addSignalListener(sig, h);
    return [sig, h] as const;
  });
  try {
    const st = await child.status;
    return st.signal ? 128 + signalNumber(st.signal) : st.code;
  } finally {
    for (const [sig, h] of handlers) Deno.removeSignalListener(sig, h);
  }
}

function signalNumber(sig: Deno.Signal): number {
  const n: Partial<Record<Deno.Signal, number>> = {
    SIGHUP: 1,
    SIGINT: 2,
    SIGQUIT: 3,
    SIGKILL: 9,
    SIGTERM: 15,
  };
  return n[sig] ?? 1;
}
