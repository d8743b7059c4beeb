/**
 * `basil reload [--check] [--json]`: asks the agent to re-read its catalog
 * and policy from the same paths (the `Reload` RPC, gated by `op:reload` on
 * `broker.reload`). `--check` validates without applying. A rejection
 * prints its reason and exits 1; JSON is the contract's one-line shape
 * `{applied, checked, previous_generation, new_generation, key_count,
 * grant_count, rejection: {reason, message} | null}`.
 * @module
 */

import type { Command } from "@commander-js/extra-typings";
import { AdminService } from "../../wire/basil/broker/v1/broker_pb.ts";
import type { ReloadResponse } from "../../wire/basil/broker/v1/broker_pb.ts";
import { withClient } from "../client.ts";
import type { CliContext } from "../context.ts";

/** The contract's JSON form of a reload answer. */
export function reloadJson(r: ReloadResponse): Record<string, unknown> {
  return {
    applied: r.applied,
    checked: r.checked,
    previous_generation: Number(r.previousGeneration),
    new_generation: Number(r.newGeneration),
    key_count: r.keyCount,
    grant_count: r.grantCount,
    rejection: r.rejection ? { reason: r.rejection.reason, message: r.rejection.message } : null,
  };
}

/** The human form: one `key: value` line per field. */
export function reloadText(r: ReloadResponse): string {
  const lines: string[] = [];
  if (r.rejection) {
    lines.push(`rejected: ${r.rejection.reason}`, `message: ${r.rejection.message}`);
    lines.push(`generation: ${r.previousGeneration}`);
  } else if (r.applied) {
    lines.push(`applied: generation ${r.previousGeneration} -> ${r.newGeneration}`);
  } else {
    lines.push(`checked: ok (generation ${r.previousGeneration} unchanged)`);
  }
  lines.push(`keys: ${r.keyCount}`, `grants: ${r.grantCount}`);
  return lines.join("\n") + "\n";
}

/** Registers `reload`. */
export function registerReloadCommand(program: Command, ctx: CliContext): void {
  program.command("reload")
    .description("Re-read the catalog and policy from disk and swap them in (exit 1 if rejected)")
    .option("--check", "validate the files without applying them")
    .option("--json", "one-line JSON")
    .action(async (o) => {
      const r = await withClient(
        ctx.socket(),
        (c) => c.unary(AdminService.method.reload, { check: o.check ?? false }),
      );
      ctx.io.out(o.json ? JSON.stringify(reloadJson(r)) + "\n" : reloadText(r));
      if (r.rejection) ctx.exitCode = 1;
    });
}
