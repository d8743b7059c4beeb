/**
 * `basil explain`: why a (subject, op, key) is allowed or denied. Offline it
 * reads the catalog and policy files and runs the enforcement PDP itself;
 * `--live` asks the running agent (needs an `op:explain` grant). Exit 0 for
 * both allow and deny.
 * @module
 */

import { Option } from "@commander-js/extra-typings";
import type { Command } from "@commander-js/extra-typings";
import { ALL_OPS, isOp } from "../../core/ops.ts";
import { explainJson, explainText } from "../../policy/explain.ts";
import type { ExplainJson } from "../../policy/explain.ts";
import { decide, effectiveGrants } from "../../policy/pdp.ts";
import { AdminService, ExplainDecision } from "../../wire/basil/broker/v1/broker_pb.ts";
import type { CliContext } from "../context.ts";
import { abs, loadConfigFromFlags, readCatalog, readPolicy } from "../inputs.ts";
import { CliError } from "../io.ts";
import { withClient } from "../client.ts";

/** Registers `explain`. */
export function registerExplainCommand(
  program: Command,
  ctx: CliContext,
): void {
  program.command("explain")
    .description("Explain a policy decision (offline from the files, or --live from the agent)")
    .requiredOption("--subject <name>", "policy subject name")
    .addOption(new Option("--op <op>", "operation token").choices(ALL_OPS))
    .option("--key <key>", "catalog key (or broker.<op> for admin ops)")
    .option("--effective", "list every (key, op) the subject is allowed")
    .option("--live", "ask the running agent instead of reading the files")
    .option("--json", "JSON output")
    .option("-c, --config <file>", "agent config (for catalog/policy paths)")
    .option("--catalog <file>", "catalog JSON")
    .option("--policy <file>", "policy JSON")
    .action(async (o) => {
      if (o.effective) {
        if (o.live) throw new CliError("--effective is offline only", 2);
        const { catalog, policy } = inputs(o, ctx);
        const rows = effectiveGrants(catalog, policy, o.subject);
        if (o.json) ctx.io.out(JSON.stringify({ subject: o.subject, effective: rows }) + "\n");
        else {
          for (const r of rows) {
            ctx.io.out(
              `ALLOW  ${r.op}  ${r.key}  (via ${r.via}${r.rule ? `, rule ${r.rule}` : ""})\n`,
            );
          }
        }
        return;
      }
      if (o.op === undefined || o.key === undefined) {
        throw new CliError("give --op and --key (or --effective)", 2);
      }
      let e: ExplainJson;
      if (o.live) {
        const r = await withClient(
          ctx.socket(),
          (c) =>
            c.unary(AdminService.method.explain, { subject: o.subject, op: o.op!, key: o.key! }),
        );
        e = {
          subject: r.subject,
          op: r.op,
          key: r.key,
          decision: r.decision === ExplainDecision.ALLOW ? "allow" : "deny",
          matched_rule: r.matchedRule
            ? {
              rule: r.matchedRule.rule,
              via: r.matchedRule.via,
              action: r.matchedRule.action,
              target: r.matchedRule.target,
            }
            : null,
        };
        if (r.via !== "") e.via = r.via;
        if (r.reason !== "") e.reason = r.reason;
      } else {
        const { catalog, policy } = inputs(o, ctx);
        if (!isOp(o.op)) throw new CliError(`unknown op "${o.op}"`, 2);
        const actor = policy.subjects.has(o.subject) ? o.subject : undefined;
        e = explainJson(o.subject, o.op, o.key, decide(catalog, policy, actor, o.op, o.key));
      }
      ctx.io.out((o.json ? JSON.stringify(e) : explainText(e)) + "\n");
    });
}

function inputs(
  o: { config?: string; catalog?: string; policy?: string },
  ctx: CliContext,
) {
  let catalogPath: string | undefined;
  let policyPath: string | undefined;
  if (o.config !== undefined || ctx.env("BASIL_CONFIG") !== undefined) {
    const cfg = loadConfigFromFlags(o, ctx);
    catalogPath = cfg.catalog;
    policyPath = cfg.policy;
  } else {
    catalogPath = o.catalog ?? ctx.env("BASIL_CATALOG");
    policyPath = o.policy ?? ctx.env("BASIL_POLICY");
  }
  if (catalogPath === undefined || policyPath === undefined) {
    throw new CliError("offline explain needs -c <config> or both --catalog and --policy", 2);
  }
  const { catalog } = readCatalog(abs(catalogPath, ctx.cwd));
  const policy = readPolicy(abs(policyPath, ctx.cwd));
  return { catalog, policy };
}
