/**
 * basil.broker.v1.AdminService: Status, Health, Readiness and Explain.
 * Watch, Reload and Revoke answer UNIMPLEMENTED until their issues land.
 * @module
 */

import { BasilError } from "../core/errors.ts";
import { explainLive, health, ReadinessProbe, status } from "../broker/admin.ts";
import type { ReadinessReport } from "../broker/admin.ts";
import type { BrokerDeps } from "../broker/deps.ts";
import {
  AdminService,
  ExplainDecision,
  ReadinessReason,
} from "../wire/basil/broker/v1/broker_pb.ts";
import { bindService } from "./types.ts";
import type { ServiceBinding } from "./types.ts";

const REASON: Record<ReadinessReport["reason"], ReadinessReason> = {
  ready: ReadinessReason.READY,
  backend_unreachable: ReadinessReason.BACKEND_UNREACHABLE,
  required_key_missing: ReadinessReason.REQUIRED_KEY_MISSING,
};

const notYet = (op: string) =>
  Promise.reject(new BasilError("UNSUPPORTED", `${op} is not available in this build`, { op }));

/** The AdminService binding. */
export function adminService(deps: BrokerDeps): ServiceBinding {
  const readiness = new ReadinessProbe(deps);
  return bindService(AdminService, {
    status(_req, ctx) {
      return Promise.resolve(status(deps, ctx.peer));
    },
    health() {
      return Promise.resolve(health());
    },
    async readiness() {
      const r = await readiness.check();
      return {
        ready: r.ready,
        reason: REASON[r.reason],
        generation: BigInt(r.generation),
        keysTotal: r.keysTotal,
        keysPresent: r.keysPresent,
        keysRequiredMissing: r.keysRequiredMissing,
        keysOptionalMissing: r.keysOptionalMissing,
      };
    },
    explain(req, ctx) {
      const e = explainLive(deps, ctx.peer, req.subject, req.op, req.key);
      const m = e.matched_rule;
      return Promise.resolve({
        subject: e.subject,
        op: e.op,
        key: e.key,
        decision: e.decision === "allow" ? ExplainDecision.ALLOW : ExplainDecision.DENY,
        via: e.via ?? "",
        reason: e.reason ?? "",
        matchedRule: m
          ? {
            rule: m.rule ?? "",
            via: m.via ?? "",
            action: m.action ?? "",
            target: m.target ?? "",
            subject: m.subject ?? "",
          }
          : undefined,
      });
    },
    watch() {
      return notYet("watch");
    },
    reload() {
      return notYet("reload");
    },
    revoke() {
      return notYet("revoke");
    },
  });
}
