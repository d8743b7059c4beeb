// deno-lint-ignore-file no-console
/**
 * The agent, started exactly as main.ts starts it (the live agent's flags
 * and arguments), then probes inside its own process once it serves: may it
 * run the `op` the launcher resolved, and nothing else? Prints one JSON line
 * ("allowed" / "denied" = NotCapable), then serves until SIGTERM.
 *
 *   deno run <the agent's flags> agent_op_probe.ts '<probe JSON>' -- <the agent's arguments>
 */

import { startAgent } from "../../../lib/daemon.ts";
import { prepareAgent } from "../../../main.ts";

interface Probe {
  /** The resolved op (absolute). */
  readonly op: string;
  /** An identical copy of op at another path. */
  readonly copy: string;
}

const sep = Deno.args.indexOf("--");
const probe = JSON.parse(Deno.args[0]!) as Probe;
const agent = await startAgent(prepareAgent(Deno.args.slice(sep + 1)));

const out: Record<string, string> = {};
const attempt = (name: string, cmd: string) => {
  try {
    new Deno.Command(cmd, { args: ["--version"], clearEnv: true }).outputSync();
    out[name] = "allowed";
  } catch (e) {
    out[name] = e instanceof Deno.errors.NotCapable ? "denied" : `error:${(e as Error).name}`;
  }
};
attempt("run_op_by_name", "op");
attempt("run_op_by_path", probe.op);
attempt("run_op_copy", probe.copy);
attempt("run_sh", "/bin/sh");
attempt("run_deno", "deno");
console.log(JSON.stringify(out));
await agent.done;
