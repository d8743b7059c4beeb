/**
 * `basil agent -c <toml>`: validates the config and catalog with the CLI's
 * permissions, then runs the agent in its own sandboxed Deno process
 * (lib/sandbox) and exits with its status.
 * @module
 */

import type { Command } from "@commander-js/extra-typings";
import { InputError } from "../../core/errors.ts";
import { planAgentLaunch, runAgentProcess } from "../../sandbox/launch.ts";
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
    .action(async (o) => {
      let plan;
      try {
        const cfg = loadConfigFromFlags({ ...o, socket: ctx.explicitSocket() }, ctx);
        const { catalog } = readCatalog(cfg.catalog);
        plan = planAgentLaunch(cfg, catalog, {
          libc: ctx.env("BASIL_LIBC"),
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
      ctx.exitCode = await runAgentProcess(plan);
    });
}
