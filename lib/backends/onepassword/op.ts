/**
 * Running the 1Password CLI (`op`) for one request, and reading its failures.
 *
 * Secrets never travel in argv: values go to `op` on stdin (see items.ts),
 * and the service-account token only as `OP_SERVICE_ACCOUNT_TOKEN` in the
 * child's own environment, which starts empty (`clearEnv`): nothing of the
 * agent's environment is inherited except the few non-secret variables `op`
 * needs to find its configuration ({@linkcode OP_CONFIG_ENV}), and only
 * when the agent may read them.
 *
 * `op`'s stderr is classified by its phrases into absent (item not found),
 * BACKEND_ERROR (not signed in, bad token, ambiguous item, anything else)
 * or BACKEND_UNAVAILABLE (rate limited, network unreachable, `op` missing or
 * not runnable). The caller gets only the fixed messages; `detail` (logged)
 * names the subcommand and the class, never `op`'s own text, which may
 * quote item titles or account names.
 * @module
 */

import { BasilError } from "../../core/errors.ts";
import type { SecretBytes } from "../../core/secret.ts";

/** What one `op` run returned. */
export interface OpResult {
  readonly code: number;
  /** Raw stdout (JSON with `--format json`); the caller wipes it. */
  readonly stdout: Uint8Array;
  readonly stderr: string;
}

/** Runs `op` with arguments and optional stdin. */
export interface OpRunner {
  run(args: readonly string[], stdin?: Uint8Array): Promise<OpResult>;
}

/** Non-secret variables `op` reads to find its config and session, forwarded when readable. */
export const OP_CONFIG_ENV: readonly string[] = ["HOME", "XDG_CONFIG_HOME", "OP_CONFIG_DIR"];

/** Options of {@linkcode spawnOpRunner}. */
export interface SpawnOptions {
  /** The program: `op` (resolved on PATH; the sandbox grants exactly that path) or a path. */
  readonly command: string;
  /** The service-account token, borrowed (the backend owns and wipes it). */
  readonly token?: SecretBytes;
}

/** A runner that spawns `command` per call. */
export function spawnOpRunner(options: SpawnOptions): OpRunner {
  return {
    async run(args, stdin) {
      const env: Record<string, string> = {};
      for (const name of OP_CONFIG_ENV) {
        try {
          const v = Deno.env.get(name);
          if (v !== undefined) env[name] = v;
        } catch {
          // not readable in the agent's sandbox: not forwarded
        }
      }
      if (options.token !== undefined) {
        // Deno takes environment values as strings: this one lives only for the spawn.
        env.OP_SERVICE_ACCOUNT_TOKEN = new TextDecoder().decode(options.token.expose());
      }
      let child: Deno.ChildProcess;
      try {
        child = new Deno.Command(options.command, {
          args: [...args],
          clearEnv: true,
          env,
          stdin: stdin === undefined ? "null" : "piped",
          stdout: "piped",
          stderr: "piped",
        }).spawn();
      } catch (e) {
        throw new BasilError("BACKEND_UNAVAILABLE", undefined, {
          detail: `op ${subcommand(args)}: cannot run op (${
            e instanceof Error ? e.name : "error"
          })`,
        });
      }
      if (stdin !== undefined) {
        const w = child.stdin.getWriter();
        try {
          await w.write(stdin);
          await w.close();
        } catch {
          // op exited early; its status says why
        }
      }
      const out = await child.output();
      return {
        code: out.code,
        stdout: out.stdout,
        stderr: new TextDecoder().decode(out.stderr),
      };
    },
  };
}

/** The class of an `op` failure. */
export type OpFailure = "not_found" | "not_signed_in" | "rate_limited" | "unreachable" | "other";

/** Classifies `op`'s stderr by the phrases op 2.x prints. */
export function classifyOpError(stderr: string): OpFailure {
  const s = stderr.toLowerCase();
  if (/isn't an item|is not an item|no item found|item not found/.test(s)) return "not_found";
  if (/too many requests|rate.?limit/.test(s)) return "rate_limited";
  if (
    /not currently signed in|not signed in|you are not signed in|session expired|authorization (prompt )?(dismissed|timeout)|invalid (service account )?token|unauthorized|account is not signed in/
      .test(s)
  ) return "not_signed_in";
  if (
    /connection refused|no such host|could not connect|couldn't connect|network is unreachable|i\/o timeout|timeout exceeded|dial tcp|temporary failure in name resolution|unexpected eof/
      .test(s)
  ) return "unreachable";
  return "other";
}

/** The broker error for a failed `op` run (never called for not_found). */
export function opError(args: readonly string[], r: OpResult): BasilError {
  const cls = classifyOpError(r.stderr);
  const detail = `op ${subcommand(args)}: ${cls.replaceAll("_", " ")} (exit ${r.code})`;
  return cls === "rate_limited" || cls === "unreachable"
    ? new BasilError("BACKEND_UNAVAILABLE", undefined, { detail })
    : new BasilError("BACKEND_ERROR", undefined, { detail });
}

/** `item get`, `item create`, ...: the words before the first argument or flag. */
function subcommand(args: readonly string[]): string {
  return args.slice(0, 2).join(" ");
}
