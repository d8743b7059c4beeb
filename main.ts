/**
 * The agent process. `basil agent` (cli.ts) starts this file in a second
 * Deno process under permissions derived from the config (lib/sandbox), so
 * it is never run by hand. It reads no environment: every input arrives as an
 * argument, and none of them is a secret.
 * @module
 */

import { runAgent } from "./lib/daemon.ts";

function parse(argv: readonly string[]): Parameters<typeof runAgent>[0] {
  const v = new Map<string, string>();
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i]!;
    const val = argv[i + 1];
    if (!k.startsWith("--") || val === undefined) throw new TypeError(`Bad agent argument ${k}`);
    v.set(k.slice(2), val);
  }
  const libc = v.get("libc");
  if (libc === undefined) throw new TypeError("The agent needs --libc");
  return {
    configFile: v.get("config"),
    overrides: {
      catalog: v.get("catalog"),
      policy: v.get("policy"),
      bundle: v.get("bundle"),
      socket: v.get("socket"),
      vaultAddr: v.get("vault-addr"),
    },
    libc,
    parentPid: v.has("parent-pid") ? Number(v.get("parent-pid")) : undefined,
    tss2Dir: v.get("tss2-dir"),
    cwd: "/",
  };
}

if (import.meta.main) {
  Deno.exit(await runAgent(parse(Deno.args)));
}
