/**
 * `basil agent`: the launcher. It loads the config and catalog with the
 * CLI's permissions, derives the agent's permission set, and replaces
 * itself (execve) with the agent (`main.ts`) under exactly those flags and
 * an emptied environment holding only what the agent may read: one process,
 * so systemd's MainPID is the agent and signals reach it directly.
 * `basil demo` instead spawns the agent as a child it later stops.
 * @module
 */

import { findLibrary, LIBC_CANDIDATES, LIBNGHTTP2_CANDIDATES } from "../../ffi/_dlopen.ts";
import { execve } from "../../ffi/exec.ts";
import type { AgentConfig } from "../config/schema.ts";
import type { Catalog } from "../catalog/schema.ts";
import { InputError } from "../core/errors.ts";
import { findTss2Dir, tss2FfiPaths } from "../seal/slots/tpm.ts";
import { agentPermissions, hasOnePassword, toDenoFlags } from "./permissions.ts";
import type { AgentPermissions } from "./permissions.ts";

/** Where the project's files are, relative to this module. */
const ROOT = new URL("../../", import.meta.url);

/**
 * V8 settings of the agent. Its garbage is short-lived (one request's
 * buffers and promises), so a 1 MiB young generation is scavenged often and
 * cheaply instead of keeping tens of MiB committed, and `--optimize-for-size`
 * keeps the old generation close to its live size: RSS stays flat under
 * connection churn (README "Transport"). `--expose-gc` lets the agent
 * collect once when start-up is over (the unlock's Argon2id memory, the
 * parsed inputs), so it idles at its working size.
 */
export const AGENT_V8_FLAGS: readonly string[] = [
  "--max-semi-space-size=1",
  "--optimize-for-size",
  "--expose-gc",
];

/** Everything needed to start the agent process. */
export interface LaunchPlan {
  readonly command: string;
  readonly args: readonly string[];
  /**
   * The agent process's whole environment: it starts from an empty one
   * (`clearEnv`), so nothing else the launcher inherited (tokens, cloud
   * credentials, a stray secret) reaches the agent or its /proc/PID/environ.
   */
  readonly env: Readonly<Record<string, string>>;
  /** The libc the agent uses (the launcher's execve goes through it too). */
  readonly libc: string;
}

/** Options for {@linkcode planAgentLaunch}. */
export interface PlanOptions {
  /** libc path override (e.g. from BASIL_LIBC on NixOS). */
  readonly libc?: string;
  /** libnghttp2 path override (e.g. from BASIL_LIBNGHTTP2 on NixOS). */
  readonly nghttp2?: string;
  /** Pass `--parent-pid` (a spawned agent that must die with its spawner). */
  readonly child?: boolean;
  /** libtss2 directory override (e.g. from BASIL_TSS2_DIR on NixOS). */
  readonly tss2Dir?: string;
  /**
   * Reads the launcher's environment (default `Deno.env.get`). A variable
   * the launcher's own sandbox does not let it read counts as unset.
   */
  readonly getEnv?: (name: string) => string | undefined;
}

/**
 * Variables read by the Deno runtime that hosts the agent, not by the
 * agent's code (its `--allow-env` stays the permission list): where the
 * module and transpile cache live, and no update check. They hold paths and
 * flags, never secrets. Without them Deno still runs (default cache, or an
 * in-memory one), just slower to start.
 */
export const RUNTIME_ENV: readonly string[] = [
  "DENO_DIR",
  "DENO_NO_UPDATE_CHECK",
  "XDG_CACHE_HOME",
];

function safeGetter(
  get: (name: string) => string | undefined,
): (name: string) => string | undefined {
  return (name) => {
    try {
      return get(name);
    } catch {
      // NotCapable: outside the launcher's --allow-env, so it is not forwarded.
      return undefined;
    }
  };
}

/**
 * The agent's environment: exactly the variables its permission set lets it
 * read (`perms.env`), the Deno runtime's own {@linkcode RUNTIME_ENV}, and
 * PATH only when it may run a program (the age plugin is found by name on
 * PATH, like `age` does). Each is copied only when set and readable by the
 * launcher. There is no made-up fallback PATH: a PATH in the child's
 * environment is also where Deno looks for the `deno` program itself, and
 * without one it uses the launcher's.
 */
export function agentEnvironment(
  perms: AgentPermissions,
  getEnv: (name: string) => string | undefined,
): Record<string, string> {
  const get = safeGetter(getEnv);
  const env: Record<string, string> = {};
  for (const name of [...perms.env, ...RUNTIME_ENV]) {
    const v = get(name);
    if (v !== undefined) env[name] = v;
  }
  if (perms.run.length > 0) {
    const path = get("PATH");
    if (path !== undefined) env.PATH = path;
  }
  return env;
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
  const nghttp2 = options.nghttp2 ?? findLibrary(LIBNGHTTP2_CANDIDATES);
  if (nghttp2 === undefined) {
    throw new InputError(
      "libnghttp2_not_found",
      "cannot find libnghttp2.so.14 (Debian: libnghttp2-14); set BASIL_LIBNGHTTP2 to its path",
    );
  }
  // The TPM slot loads libtss2 by exact path; a host without it fails that slot closed.
  const tss2Dir = cfg.unlock.unlockTpm ? options.tss2Dir ?? findTss2Dir({ libc }) : undefined;
  const getEnv = safeGetter(options.getEnv ?? ((n) => Deno.env.get(n)));
  let op: string | undefined;
  if (hasOnePassword(catalog)) {
    op = findOnPath("op", getEnv("PATH"));
    if (op === undefined) {
      throw new InputError(
        "op_not_found",
        "a 1Password backend needs the 1Password CLI: no executable `op` on PATH",
      );
    }
  }
  const perms = agentPermissions(cfg, catalog, {
    libc,
    nghttp2,
    ...(tss2Dir === undefined ? {} : { tss2: tss2FfiPaths({ libDir: tss2Dir, libc }) }),
  }, op === undefined ? {} : { op });
  const args = [
    "run",
    "--quiet",
    "--cached-only",
    `--v8-flags=${AGENT_V8_FLAGS.join(",")}`,
    "--config",
    new URL("deno.json", ROOT).pathname,
    ...toDenoFlags(perms),
    new URL("main.ts", ROOT).pathname,
    "--libc",
    libc,
    "--libnghttp2",
    nghttp2,
    ...(options.child ? ["--parent-pid", String(Deno.pid)] : []),
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
  // (With no PATH in the cleared child environment Deno resolves it on the launcher's.)
  return {
    command: "deno",
    args,
    env: agentEnvironment(perms, options.getEnv ?? ((n) => Deno.env.get(n))),
    libc,
  };
}

/**
 * The first executable file `name` in the `PATH` directories, as found
 * (Deno resolves the agent's `op` the same way on the same PATH, and grants
 * match that path); undefined when there is none.
 */
export function findOnPath(name: string, path: string | undefined): string | undefined {
  for (const dir of (path ?? "").split(":")) {
    if (!dir.startsWith("/")) continue;
    const candidate = `${dir.replace(/\/+$/, "")}/${name}`;
    try {
      const st = Deno.statSync(candidate);
      if (st.isFile && st.mode !== null && (st.mode & 0o111) !== 0) return candidate;
    } catch {
      // absent or unreadable: keep looking
    }
  }
  return undefined;
}

/** Where the agent's stdout and stderr go. */
export interface AgentStdio {
  readonly stdout: "inherit" | "piped" | "null";
  readonly stderr: "inherit" | "piped" | "null";
}

/** The `Deno.Command` options of a plan: an emptied environment plus the plan's. */
export function agentCommandOptions(plan: LaunchPlan, stdio: AgentStdio): Deno.CommandOptions {
  return {
    args: [...plan.args],
    clearEnv: true,
    env: { ...plan.env },
    stdin: "null",
    stdout: stdio.stdout,
    stderr: stdio.stderr,
  };
}

/** Starts the agent process of a plan (`basil agent`, `basil demo`). */
export function spawnAgent(plan: LaunchPlan, stdio: AgentStdio): Deno.ChildProcess {
  return new Deno.Command(plan.command, agentCommandOptions(plan, stdio)).spawn();
}

/**
 * Replaces this process with the agent of `plan` (execve of this Deno
 * binary, stdio inherited). Returns only if the exec failed, with a reason.
 */
export function execAgent(plan: LaunchPlan): string {
  const deno = Deno.execPath();
  execve(plan.libc, deno, [deno, ...plan.args], plan.env);
  return "execve failed";
}
