/**
 * The authorization step every operation goes through: pin a generation,
 * resolve the kernel-attested caller to exactly one subject, decide with the
 * PDP, write one audit record, and either return what the operation needs or
 * throw. Denials of every kind, unknown keys included, throw the same
 * UNAUTHORIZED error; only the audit record says why.
 *
 * Key ids are checked for syntax (a catalog key name, at most
 * {@linkcode MAX_KEY_ID_BYTES}) before anything is decided or audited: a
 * name that cannot exist in any catalog is INVALID_ARGUMENT, so unknown and
 * denied keys stay indistinguishable, and no caller can write an arbitrary
 * string into the audit log.
 *
 * Audit is fail closed for allows: when the record of an allowed decision
 * cannot be written, the operation does not run and the caller gets INTERNAL.
 * @module
 */

import { toAuthzRecord } from "../audit/record.ts";
import type { Backend } from "../backends/backend.ts";
import type { CatalogKey } from "../catalog/schema.ts";
import { BasilError, invalidRequest, unauthorized } from "../core/errors.ts";
import { adminTarget, isKeyName, MAX_KEY_NAME_BYTES } from "../core/ops.ts";
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

/**
 * Longest key id (or ListCatalog prefix) accepted, in bytes. Catalog names
 * are short dotted identifiers; the cap keeps request-chosen strings from
 * inflating audit lines.
 */
export const MAX_KEY_ID_BYTES = MAX_KEY_NAME_BYTES;

const KEY_PREFIX = /^(?:[a-z0-9][a-z0-9_]*\.)*(?:[a-z0-9][a-z0-9_]*)?$/;

/** Throws INVALID_REQUEST naming `field` unless `id` could be a catalog key name. */
export function checkKeyId(id: string, field: string, op: string): void {
  if (id.length > MAX_KEY_ID_BYTES) {
    throw invalidRequest(`${field} exceeds the ${MAX_KEY_ID_BYTES}-byte limit`, op);
  }
  if (!isKeyName(id)) throw invalidRequest(`${field} is not a valid key name`, op);
}

/** Throws INVALID_REQUEST unless `prefix` is the start of some possible key name. */
export function checkKeyPrefix(prefix: string, field: string, op: string): void {
  if (prefix.length > MAX_KEY_ID_BYTES) {
    throw invalidRequest(`${field} exceeds the ${MAX_KEY_ID_BYTES}-byte limit`, op);
  }
  if (!KEY_PREFIX.test(prefix)) {
    throw invalidRequest(`${field} is not the start of a valid key name`, op);
  }
}

/** The error for an allowed operation whose audit record could not be written. */
function auditUnwritten(op: string): BasilError {
  return new BasilError("INTERNAL", undefined, {
    op,
    detail: "audit record not written; the allowed operation was refused",
  });
}

/**
 * Writes the audit record for one decision. Throws INTERNAL when the
 * decision allowed the operation and its record could not be written (the
 * caller must not go ahead); a denial's failed write is only counted.
 */
export function auditDecision(
  deps: BrokerDeps,
  caller: Caller,
  op: string,
  target: string,
  allow: boolean,
  reason: string,
  targetKind = "catalog_key",
): void {
  const written = writeRecord(deps, caller, {
    op,
    target,
    targetKind,
    allow,
    outcome: allow,
    reason,
  });
  if (!written && allow) throw auditUnwritten(op);
}

/** One audited decision; `outcome` is whether the operation goes ahead. */
interface Decision {
  readonly op: string;
  readonly target: string;
  readonly targetKind: string;
  readonly allow: boolean;
  readonly outcome: boolean;
  readonly reason: string;
}

/** Writes one record. Returns whether it was written. */
function writeRecord(deps: BrokerDeps, caller: Caller, d: Decision): boolean {
  const { op, target, targetKind, allow, outcome, reason } = d;
  const r = caller.resolution;
  const subject = r.ok ? r.subject : undefined;
  const authenticatedBy = caller.peer
    ? [`unix_peercred:${caller.peer.uid}`]
    : subject !== undefined
    ? [`unauthenticated:${subject}`]
    : [];
  return deps.audit.write(toAuthzRecord({
    generation: caller.gen.id,
    op,
    targetKind,
    targetId: target,
    subject,
    authenticatedBy,
    presenterKind: caller.peer ? "unix_peercred" : "none",
    presenterId: presenter(deps, caller.gen, caller.peer),
    allow,
    outcome,
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
  throw unresolvedError(caller, op);
}

function unresolvedError(caller: Caller, op: string): BasilError {
  const r = caller.resolution;
  if (r.ok) throw new TypeError("Caller is resolved");
  if (r.unauthenticated) return new BasilError("UNAUTHENTICATED", undefined, { op });
  return unauthorized(op, r.reason);
}

/**
 * Authorizes a key-scoped operation, or throws UNAUTHORIZED. `field` names
 * the request field that carried the key id (for INVALID_ARGUMENT).
 */
export function authorizeKey(
  deps: BrokerDeps,
  peer: PeerIdentity | undefined,
  op: KeyOp,
  keyName: string,
  field = "key_id",
): Authorized {
  const caller = resolveCaller(deps, peer);
  return authorizeKeyFor(deps, caller, op, keyName, field);
}

/** Like {@linkcode authorizeKey}, for a caller already resolved on a pinned generation. */
export function authorizeKeyFor(
  deps: BrokerDeps,
  caller: Caller,
  op: KeyOp,
  keyName: string,
  field = "key_id",
): Authorized {
  checkKeyId(keyName, field, op);
  if (!caller.resolution.ok) denyUnresolved(deps, caller, op, keyName);
  const subject = caller.resolution.subject;
  const d = decide(caller.gen.catalog, caller.gen.policy, subject, op, keyName);
  auditDecision(deps, caller, op, keyName, d.allow, d.allow ? d.via : d.reason);
  if (!d.allow) throw unauthorized(op, d.reason);
  return authorizedOf(deps, caller, subject, op, keyName);
}

/**
 * Authorizes one operation over a set of keys, all or nothing, on one pinned
 * generation. Every key is decided before anything is audited, then each key
 * gets exactly one record carrying its real PDP decision:
 * - all allowed: every record says allow/allow and the set goes ahead;
 * - any denied: nothing is applied, so every record's outcome is "deny";
 *   an entry the PDP allowed reads `decision: allow, outcome: deny` (reason
 *   = its grant), a denied one `deny/deny` with its denial reason. Then the
 *   set fails with UNAUTHORIZED.
 */
export function authorizeKeysFor(
  deps: BrokerDeps,
  caller: Caller,
  op: KeyOp,
  keyNames: readonly string[],
  field = "key_id",
): Authorized[] {
  for (const k of keyNames) checkKeyId(k, field, op);
  const r = caller.resolution;
  if (!r.ok) {
    for (const k of keyNames) {
      const d = { op, target: k, targetKind: "catalog_key", allow: false, outcome: false };
      writeRecord(deps, caller, { ...d, reason: r.reason });
    }
    throw unresolvedError(caller, op);
  }
  const { catalog, policy } = caller.gen;
  const decisions = keyNames.map((k) => decide(catalog, policy, r.subject, op, k));
  const denied = decisions.find((d) => !d.allow);
  let written = true;
  decisions.forEach((d, n) => {
    const ok = writeRecord(deps, caller, {
      op,
      target: keyNames[n]!,
      targetKind: "catalog_key",
      allow: d.allow,
      outcome: !denied,
      reason: d.allow ? d.via : d.reason,
    });
    written &&= ok;
  });
  if (denied && !denied.allow) throw unauthorized(op, denied.reason);
  if (!written) throw auditUnwritten(op);
  return keyNames.map((k) => authorizedOf(deps, caller, r.subject, op, k));
}

function authorizedOf(
  deps: BrokerDeps,
  caller: Caller,
  subject: string,
  op: string,
  keyName: string,
): Authorized {
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
