/**
 * The agent process. `basil agent` (cli.ts) derives the agent's Deno
 * permissions from its config and replaces itself with `deno run <flags>
 * main.ts …` (execve), so this file is never run by hand. It reads no
 * environment: every input arrives as an argument, and none is a secret.
 *
 * Its first act is to open every native library it will ever use, at the
 * exact paths the launcher resolved (libc, libnghttp2, and libtss2 when the
 * TPM slot is on), create the HTTP/2 engine's callbacks, and give up the
 * ffi permission: before a byte of config is read, no library can be loaded
 * and no pointer made any more (lib/sandbox/permissions.ts says why the
 * flag itself cannot be narrower).
 * @module
 */

import { Libc } from "./ffi/libc.ts";
import { Nghttp2 } from "./ffi/nghttp2.ts";
import { Tss2 } from "./ffi/tss2.ts";
import { runAgent } from "./lib/daemon.ts";
import type { AgentArgs, NativeLibraries } from "./lib/daemon.ts";
import { ENGINE_LIMITS } from "./lib/transport/limits.ts";

interface Parsed {
  readonly args: Omit<AgentArgs, "native">;
  readonly libc: string;
  readonly nghttp2: string;
}

function parse(argv: readonly string[]): Parsed {
  const v = new Map<string, string>();
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i]!;
    const val = argv[i + 1];
    if (!k.startsWith("--") || val === undefined) throw new TypeError(`Bad agent argument ${k}`);
    v.set(k.slice(2), val);
  }
  const need = (k: string) => {
    const x = v.get(k);
    if (x === undefined) throw new TypeError(`The agent needs --${k}`);
    return x;
  };
  return {
    libc: need("libc"),
    nghttp2: need("libnghttp2"),
    args: {
      configFile: v.get("config"),
      overrides: {
        catalog: v.get("catalog"),
        policy: v.get("policy"),
        bundle: v.get("bundle"),
        socket: v.get("socket"),
        vaultAddr: v.get("vault-addr"),
      },
      parentPid: v.has("parent-pid") ? Number(v.get("parent-pid")) : undefined,
      tss2Dir: v.get("tss2-dir"),
      cwd: "/",
    },
  };
}

/** Opens every native library, then revokes ffi for the rest of the process's life. */
function openNative(p: Parsed): NativeLibraries {
  const libc = new Libc(p.libc);
  const h2 = Nghttp2.open({ nghttp2: p.nghttp2, libc: p.libc }, ENGINE_LIMITS);
  const dir = p.args.tss2Dir;
  let tss2: Tss2 | undefined;
  try {
    tss2 = dir === undefined ? undefined : new Tss2(dir, p.libc);
  } catch {
    tss2 = undefined; // the TPM slot then fails closed; another slot may still open
  }
  Deno.permissions.revokeSync({ name: "ffi" });
  return { libc, h2, ...(tss2 === undefined ? {} : { tss2 }) };
}

/**
 * Parses the agent's arguments, opens its native libraries and revokes ffi:
 * everything the agent process does before its start-up proper. Throws a
 * `TypeError` with a caller-safe message for bad arguments.
 */
export function prepareAgent(argv: readonly string[]): AgentArgs {
  const parsed = parse(argv);
  let native: NativeLibraries;
  try {
    native = openNative(parsed);
  } catch (e) {
    throw new Error(`cannot open the native libraries (${e instanceof Error ? e.name : "error"})`);
  }
  return { ...parsed.args, native };
}

if (import.meta.main) {
  let args: AgentArgs;
  try {
    args = prepareAgent(Deno.args);
  } catch (e) {
    Deno.stderr.writeSync(new TextEncoder().encode(`basil agent: ${(e as Error).message}\n`));
    Deno.exit(1);
  }
  Deno.exit(await runAgent(args));
}
