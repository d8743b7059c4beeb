/**
 * The authorization step every operation goes through: pin a generation,
 * resolve the kernel-attested caller to exactly one subject, decide with the
 * PDP, write one audit record, and either return what the operation needs or
 * throw. Denials of every kind, unknown keys included, throw the same
 * UNAUTHORIZED error; only the audit record says why.
 * @module
 */

import { toAuthzRecord } from "../audit/record.ts";
import type { Backend } from "../backends/backend.ts";
import type { CatalogKey } from "../catalog/schema.ts";
import { BasilError, unauthorized } from "../core/errors.ts";
import { adminTarget } from "../core/ops.ts";
import type { AdminOp, KeyOp } from "../core/ops.ts";
import { decide, resolveSubject } from "../policy/pdp.ts";
import type { PeerIdentity, Resolution } from "../policy/pdp.ts";
import type { BrokerDeps } from "./deps.ts";
import type { Generation } from "./state.ts";

/** A caller resolved against a pinned generation. */
export interface Caller {
  readonly gen: Generation;
  readonly peer: PeerIdentity | undefined;
  readonly resolution: Resolution;
}

/** What an allowed key operation gets. */
export interface Authorized {
  readonly gen: Generation;
  readonly subject: string;
  readonly key: CatalogKey;
  readonly backend: Backend;
}

function presenter(deps: BrokerDeps, gen: Generation, peer: PeerIdentity | undefined): string {
  if (!peer) return "unknown";
  const name = gen.policy.userNames.get(peer.uid) ?? deps.hostUserName(peer.uid);
  return name === undefined ? `uid:${peer.uid}` : `${name}(${peer.uid})`;
}

/** Pins the current generation and resolves the caller (no audit yet). */
export function resolveCaller(deps: BrokerDeps, peer: PeerIdentity | undefined): Caller {
  const gen = deps.state.current();
  return { gen, peer, resolution: resolveSubject(gen.policy, peer) };
}

/** Writes the audit record for one decision. */
export function auditDecision(
  deps: BrokerDeps,
  caller: Caller,
  op: string,
  target: string,
  allow: boolean,
  reason: string,
  targetKind = "catalog_key",
): void {
  const r = caller.resolution;
  const subject = r.ok ? r.subject : undefined;
  const authenticatedBy = caller.peer
    ? [`unix_peercred:${caller.peer.uid}`]
    : subject !== undefined
    ? [`unauthenticated:${subject}`]
    : [];
  deps.audit.write(toAuthzRecord({
    generation: caller.gen.id,
    op,
    targetKind,
    targetId: target,
    subject,
    authenticatedBy,
    presenterKind: caller.peer ? "unix_peercred" : "none",
    presenterId: presenter(deps, caller.gen, caller.peer),
    allow,
    reason,
  }, deps.now()));
}

/** Throws the right error for a caller that did not resolve, after auditing it. */
export function denyUnresolved(
  deps: BrokerDeps,
  caller: Caller,
  op: string,
  target: string,
): never {
  const r = caller.resolution;
  if (r.ok) throw new TypeError("Caller is resolved");
  auditDecision(deps, caller, op, target, false, r.reason);
  if (r.unauthenticated) throw new BasilError("UNAUTHENTICATED", undefined, { op });
  throw unauthorized(op, r.reason);
}

/** Authorizes a key-scoped operation, or throws UNAUTHORIZED. */
export function authorizeKey(
  deps: BrokerDeps,
  peer: PeerIdentity | undefined,
  op: KeyOp,
  keyName: string,
): Authorized {
  const caller = resolveCaller(deps, peer);
  return authorizeKeyFor(deps, caller, op, keyName);
}

/** Like {@linkcode authorizeKey}, for a caller already resolved on a pinned generation. */
export function authorizeKeyFor(
  deps: BrokerDeps,
  caller: Caller,
  op: KeyOp,
  keyName: string,
): Authorized {
  if (!caller.resolution.ok) denyUnresolved(deps, caller, op, keyName);
  const subject = caller.resolution.subject;
  const d = decide(caller.gen.catalog, caller.gen.policy, subject, op, keyName);
  auditDecision(deps, caller, op, keyName, d.allow, d.allow ? d.via : d.reason);
  if (!d.allow) throw unauthorized(op, d.reason);
  const key = caller.gen.catalog.keys.get(keyName)!;
  const backend = deps.backends.get(key.backend);
  if (!backend) {
    throw new BasilError("INTERNAL", undefined, { op, detail: `no backend ${key.backend}` });
  }
  return { gen: caller.gen, subject, key, backend };
}

/** Authorizes an admin operation over `broker.<op>`, or throws. */
export function authorizeAdmin(
  deps: BrokerDeps,
  peer: PeerIdentity | undefined,
  op: AdminOp,
): Caller & { subject: string } {
  const caller = resolveCaller(deps, peer);
  const target = adminTarget(op);
  if (!caller.resolution.ok) denyUnresolved(deps, caller, op, target);
  const subject = caller.resolution.subject;
  const d = decide(caller.gen.catalog, caller.gen.policy, subject, op, target);
  auditDecision(deps, caller, op, target, d.allow, d.allow ? d.via : d.reason);
  if (!d.allow) throw unauthorized(op, d.reason);
  return { ...caller, subject };
}
