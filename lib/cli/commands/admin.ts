/**
 * `status`, `health` and `ready`: one-line JSON with `--json`, `key: value`
 * lines otherwise. `ready` exits 1 when the agent is not ready.
 * @module
 */

import type { Command } from "@commander-js/extra-typings";
import { AdminService, ReadinessReason } from "../../wire/basil/broker/v1/broker_pb.ts";
import type { CliContext } from "../context.ts";
import { withClient } from "../client.ts";

function print(ctx: CliContext, json: boolean | undefined, obj: Record<string, unknown>): void {
  if (json) ctx.io.out(JSON.stringify(obj) + "\n");
  else for (const [k, v] of Object.entries(obj)) ctx.io.out(`${k}: ${String(v)}\n`);
}

const READY_REASON: Record<number, string> = {
  [ReadinessReason.READY]: "ready",
  [ReadinessReason.BACKEND_UNREACHABLE]: "backend_unreachable",
  [ReadinessReason.REQUIRED_KEY_MISSING]: "required_key_missing",
};

/** The contract's token for a readiness reason (`unspecified` when unknown). */
export function readinessReasonName(reason: ReadinessReason): string {
  return READY_REASON[reason] ?? "unspecified";
}

/** Registers the admin commands. */
export function registerAdminCommands(
  program: Command,
  ctx: CliContext,
): void {
  const socket = ctx.socket;

  program.command("status")
    .description("Show the agent's backend, version and protocol (needs a resolved subject)")
    .option("--json", "one-line JSON")
    .action(async (o) => {
      const r = await withClient(socket(), (c) => c.unary(AdminService.method.status, {}));
      print(ctx, o.json, { backend: r.backend, version: r.version, protocol: r.protocol });
    });

  program.command("health")
    .description("Liveness: is the agent up and serving its socket")
    .option("--json", "one-line JSON")
    .action(async (o) => {
      const r = await withClient(socket(), (c) => c.unary(AdminService.method.health, {}));
      print(ctx, o.json, { alive: r.alive, version: r.version });
    });

  program.command("ready")
    .description("Readiness: can the agent serve every key (exit 1 when not)")
    .option("--json", "one-line JSON")
    .action(async (o) => {
      const r = await withClient(socket(), (c) => c.unary(AdminService.method.readiness, {}));
      print(ctx, o.json, {
        ready: r.ready,
        reason: readinessReasonName(r.reason),
        generation: Number(r.generation),
        keys_total: r.keysTotal,
        keys_present: r.keysPresent,
        keys_required_missing: r.keysRequiredMissing,
        keys_optional_missing: r.keysOptionalMissing,
      });
      if (!r.ready) ctx.exitCode = 1;
    });
}
