/**
 * basil.broker.v1.AdminService: Status, Health, Readiness, Explain, Watch,
 * Reload and Revoke. A rejected Reload is an OK answer with `applied: false`
 * and the rejection. Watch's request is checked after the watcher is authorized.
 * @module
 */

import { BasilError } from "../core/errors.ts";
import { explainLive, health, ReadinessProbe, reload, status } from "../broker/admin.ts";
import type { ReadinessReport } from "../broker/admin.ts";
import type { BrokerDeps } from "../broker/deps.ts";
import type { BrokerEvent } from "../broker/events.ts";
import { authorizeRevoke, authorizeWatch, watch } from "../broker/watch.ts";
import type { WorkloadApi } from "../spiffe/workload.ts";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  AdminService,
  EventKind,
  ExplainDecision,
  ReadinessReason,
} from "../wire/basil/broker/v1/broker_pb.ts";
import { bindBrokerService } from "./types.ts";
import type { ServiceBinding } from "./types.ts";

const REASON: Record<ReadinessReport["reason"], ReadinessReason> = {
  ready: ReadinessReason.READY,
  backend_unreachable: ReadinessReason.BACKEND_UNREACHABLE,
  required_key_missing: ReadinessReason.REQUIRED_KEY_MISSING,
};

/** Broker event kind ↔ wire EventKind (the one table; KINDS is its inverse). */
const WIRE_KIND: Record<BrokerEvent["kind"], EventKind> = {
  key_rotated: EventKind.KEY_ROTATED,
  bundle_changed: EventKind.BUNDLE_CHANGED,
  revoked: EventKind.REVOKED,
};
const KINDS: ReadonlyMap<number, BrokerEvent["kind"]> = new Map(
  (Object.keys(WIRE_KIND) as BrokerEvent["kind"][]).map((k) => [WIRE_KIND[k], k]),
);

/** The kind-specific part of a wire Event. */
function eventDetail(e: BrokerEvent) {
  switch (e.kind) {
    case "key_rotated":
      return {
        case: "keyRotated" as const,
        value: { keyId: e.keyId, newVersion: e.newVersion },
      };
    case "bundle_changed":
      return { case: "bundleChanged" as const, value: { trustDomain: e.trustDomain } };
    case "revoked":
      return { case: "revoked" as const, value: { trustDomain: e.trustDomain, id: e.id } };
  }
}

/** The AdminService binding. */
export function adminService(deps: BrokerDeps, api: WorkloadApi): ServiceBinding {
  const readiness = new ReadinessProbe(deps);
  return bindBrokerService(deps, AdminService, {
    status(_req, ctx) {
      return Promise.resolve(status(deps, ctx.call));
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
      const e = explainLive(deps, ctx.call, req.subject, req.op, req.key);
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
    async watch(req, ctx, send) {
      const caller = authorizeWatch(deps, ctx.call);
      const kinds = new Set<BrokerEvent["kind"]>();
      for (const k of req.kinds) {
        const kind = KINDS.get(k);
        if (!kind) {
          throw new BasilError("INVALID_ARGUMENT", `unknown event kind ${k}`, { op: "watch" });
        }
        kinds.add(kind);
      }
      await watch(
        deps,
        caller,
        kinds,
        ctx.signal,
        (e) =>
          send({ kind: WIRE_KIND[e.kind], at: timestampFromDate(e.at), detail: eventDetail(e) }),
      );
    },
    async reload(req, ctx) {
      const r = await reload(deps, ctx.call, req.check);
      return {
        applied: r.applied,
        checked: r.checked,
        previousGeneration: BigInt(r.previousGeneration),
        newGeneration: BigInt(r.newGeneration),
        keyCount: r.keyCount,
        grantCount: r.grantCount,
        rejection: r.rejection,
      };
    },
    async revoke(req, ctx) {
      const caller = authorizeRevoke(deps, ctx.call, req.trustDomain, req.jti);
      const kept = await api.revoke(caller.gen, {
        trust_domain: req.trustDomain,
        jti: req.jti,
        expires_at_unix: Number(req.expiresAtUnix),
      });
      return {
        trustDomain: kept.trust_domain,
        jti: kept.jti,
        // What is kept: the request's expiry, or later (see revocationExpiry).
        expiresAtUnix: BigInt(kept.expires_at_unix),
        persisted: true,
      };
    },
  });
}
