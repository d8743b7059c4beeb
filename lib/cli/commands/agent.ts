/**
 * `basil agent -c <toml>`: validates the config and catalog with the CLI's
 * permissions, then becomes the sandboxed agent (execve, lib/sandbox): the
 * running agent is this process, under the agent's own Deno flags.
 * @module
 */

import type { Command } from "@commander-js/extra-typings";
import { InputError } from "../../core/errors.ts";
import { execAgent, planAgentLaunch } from "../../sandbox/launch.ts";
import type { CliContext } from "../context.ts";
import { loadConfigFromFlags, readCatalog } from "../inputs.ts";

/** Registers `agent`. */
export function registerAgentCommand(
  program: Command,
  ctx: CliContext,
): void {
  program.command("agent")
    .description("Run the broker daemon (sandboxed to what its config names)")
    .option("-c, --config <file>", "agent config TOML (env BASIL_CONFIG)")
    .option("--catalog <file>", "catalog JSON (env BASIL_CATALOG)")
    .option("--policy <file>", "policy JSON (env BASIL_POLICY)")
    .option("--bundle <file>", "sealed bundle (env BASIL_BUNDLE)")
    .option("--vault-addr <url>", "default Vault/OpenBao address (env VAULT_ADDR)")
    .option("--print-permissions", "print the agent's Deno permission flags and exit")
    .action((o) => {
      let plan;
      try {
        const cfg = loadConfigFromFlags({ ...o, socket: ctx.explicitSocket() }, ctx);
        const { catalog } = readCatalog(cfg.catalog);
        plan = planAgentLaunch(cfg, catalog, {
          libc: ctx.env("BASIL_LIBC"),
          nghttp2: ctx.env("BASIL_LIBNGHTTP2"),
          tss2Dir: ctx.env("BASIL_TSS2_DIR"),
          getEnv: ctx.env,
        });
      } catch (e) {
        if (!(e instanceof InputError)) throw e;
        // Same one-line form as the agent's own start-up failures.
        ctx.io.err(`basil agent: ${e.message.split("\n").join("; ")}\n`);
        ctx.exitCode = 1;
        return;
      }
      if (o.printPermissions) {
        ctx.io.out(
          plan.args.filter((a) => a.startsWith("--allow-") || a === "--no-prompt")
            .join("\n") + "\n",
        );
        return;
      }
      const why = execAgent(plan);
      ctx.io.err(`basil agent: cannot start the agent: ${why}\n`);
      ctx.exitCode = 1;
    });
}
