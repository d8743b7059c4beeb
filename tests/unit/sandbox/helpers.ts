/** Shared inputs of the sandbox unit tests: an /etc-style agent config. */

import { loadAgentConfig } from "../../../lib/config/load.ts";
import type { AgentConfig } from "../../../lib/config/schema.ts";

/** The libc path the tests plan with. */
export const LIBC = "/usr/lib/x86_64-linux-gnu/libc.so.6";

/** The libnghttp2 path the tests plan with. */
export const NGHTTP2 = "/usr/lib/x86_64-linux-gnu/libnghttp2.so.14";

/** The native libraries of a plan. */
export const LIBS = { libc: LIBC, nghttp2: NGHTTP2 } as const;

/** An agent config with the usual /etc/basil paths and `unlock` as its `[unlock]` body. */
export function agentConfig(unlock = ""): AgentConfig {
  const text = [
    'catalog = "/etc/basil/catalog.json"',
    'policy = "/etc/basil/policy.json"',
    'bundle = "/var/lib/basil/bundle.sealed"',
    'socket = "/run/basil/basil.sock"',
    "[unlock]",
    unlock,
  ].join("\n");
  return loadAgentConfig({ file: { path: "/etc/basil/agent.toml", text }, cwd: "/" });
}
