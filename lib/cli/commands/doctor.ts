/**
 * `basil doctor [--json] [--keys] [--strict] -c FILE`: checks a host's
 * Basil set-up without starting the agent (contract §8). Read-only unless
 * `--keys`, which unlocks the bundle (never wiping the unlock files) and
 * probes every key. Exit 1 iff a check is fatal (or, with `--strict`, warns).
 * @module
 */

import type { Command } from "@commander-js/extra-typings";
import type { CliContext } from "../context.ts";
import { reportJson, reportText, summarize } from "../doctor/report.ts";
import { runDoctor } from "../doctor/run.ts";

/** Registers `doctor`. */
export function registerDoctorCommand(program: Command, ctx: CliContext): void {
  program.command("doctor")
    .description("Check the config, catalog, policy, bundle, socket and backends (exit 1 if fatal)")
    .option("-c, --config <file>", "agent config TOML (env BASIL_CONFIG)")
    .option("--catalog <file>", "catalog JSON (env BASIL_CATALOG)")
    .option("--policy <file>", "policy JSON (env BASIL_POLICY)")
    .option("--bundle <file>", "sealed bundle (env BASIL_BUNDLE)")
    .option("--vault-addr <url>", "default Vault/OpenBao address (env VAULT_ADDR)")
    .option("--json", "one JSON document")
    .option("--keys", "also unlock the bundle (never wiping unlock files) and probe every key")
    .option("--strict", "warnings fail the run too")
    .action(async (o) => {
      const rows = await runDoctor(
        { ...o, socket: ctx.explicitSocket(), keys: o.keys ?? false },
        ctx,
      );
      const strict = o.strict ?? false;
      ctx.io.out(o.json ? reportJson(rows, strict) + "\n" : reportText(rows, strict));
      if (summarize(rows, strict).blocking > 0) ctx.exitCode = 1;
    });
}
