/**
 * The authorization step every operation goes through: pin a generation,
 * resolve the kernel-attested caller to exactly one subject, decide with the
 * PDP, record the decision on the request's {@linkcode BrokerCall} (written
 * once, with the request's real outcome, when the call settles: see
 * call.ts), and either return what the operation needs or throw. Denials of
 * every kind, unknown keys included, throw the same UNAUTHORIZED error; only
 * the audit record says why.
 *
 * Key ids are checked for syntax (a catalog key name, at most
 * {@linkcode MAX_KEY_ID_BYTES}) before anything is decided or audited: a
 * name that cannot exist in any catalog is INVALID_ARGUMENT, so unknown and
 * denied keys stay indistinguishable, and no caller can write an arbitrary
 * string into the audit log.
 *
 * Protocol issuers ({@linkcode isProtocolIssuer}: SVID and NATS operator or
 * account keys) are usable only through their protocol path. The PDP denies
 * raw `sign` on them (`issuer_raw_sign`); {@linkcode authorizeKey}, the
 * generic key-addressed path, also denies `mint` on them
 * (`issuer_protocol_only`), so MintJwt and IssueCertificate cannot forge
 * what the Workload API issues. That check lives here, not in the PDP: the
 * same `mint` grant is what FetchX509SVID and FetchJWTSVID need, and a
 * (subject, op, key) tuple, which is all `explain` can ask about, cannot
 * say which RPC uses it. `explain` therefore answers `allow` for `mint` on
 * an issuer the subject may mint SVIDs from.
 *
 * Rate limits (lib/broker/rate_limit.ts) are charged here too, once per
 * request, when its first decision for a resolved subject is recorded: an
 * allowed request whose bucket is empty is refused with RATE_LIMITED after
 * its decision was recorded, so its record says `rate_limited`.
 * @module
 */

import type { Backend } from "../backends/backend.ts";
import type { CatalogKey } from "../catalog/schema.ts";
import { BasilError, invalidRequest, rateLimited, unauthorized } from "../core/errors.ts";
import { adminTarget, isKeyName, MAX_KEY_NAME_BYTES } from "../core/ops.ts";
import type { AdminOp, KeyOp } from "../core/ops.ts";
import { decide, isProtocolIssuer, resolveSubject } from "../policy/pdp.ts";
import type { Decision, PeerIdentity, Resolution } from "../policy/pdp.ts";
import type { InvalidAs } from "../audit/outcome.ts";
import type { BrokerCall, PendingDecision } from "./call.ts";
import type { BrokerDeps } from "./deps.ts";
import type { Generation } from "./state.ts";

/** A caller resolved against a pinned generation. */
export interface Caller {
  /** The request the decisions are recorded on. */
  readonly call: BrokerCall;
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

/** Pins the current generation and resolves the request's caller (nothing recorded yet). */
export function resolveCaller(deps: BrokerDeps, call: BrokerCall): Caller {
  const gen = deps.state.current();
  return { call, gen, peer: call.peer, resolution: resolveSubject(gen.policy, call.peer) };
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

/** Options of {@linkcode recordDecision}. */
export interface DecisionOptions {
  /** The record's `target_kind` (default `catalog_key`). */
  readonly targetKind?: string;
  /** How input errors after an allow are recorded (default `invalid_request`). */
  readonly invalidAs?: InvalidAs;
}

/**
 * Records one decision on the caller's request; it is written when the
 * request settles. Throws INTERNAL for an allowed side-effecting operation
 * while the audit sink is known to be failing.
 */
export function recordDecision(
  deps: BrokerDeps,
  caller: Caller,
  op: string,
  target: string,
  allow: boolean,
  reason: string,
  options: DecisionOptions = {},
): void {
  caller.call.record(pending(deps, caller, op, target, allow, reason, options));
  chargeRate(deps, caller, op, allow);
}

/** Requests already charged against their subject's rate limits. */
const charged = new WeakSet<BrokerCall>();

/**
 * Charges the request once against its subject's rate limits (see the module
 * doc); throws RATE_LIMITED when an allowed request finds a bucket empty.
 */
function chargeRate(deps: BrokerDeps, caller: Caller, op: string, allow: boolean): void {
  const limiter = deps.rateLimiter;
  const r = caller.resolution;
  if (!limiter || !r.ok || charged.has(caller.call)) return;
  charged.add(caller.call);
  const ok = limiter.take(caller.gen.policy.rateLimits, r.subject, op, deps.now().getTime());
  if (!ok && allow) throw rateLimited(op);
}

/** The pending record of one decision. */
function pending(
  deps: BrokerDeps,
  caller: Caller,
  op: string,
  target: string,
  allow: boolean,
  reason: string,
  options: DecisionOptions = {},
): PendingDecision {
  const r = caller.resolution;
  const subject = r.ok ? r.subject : undefined;
  const authenticatedBy = caller.peer
    ? [`unix_peercred:${caller.peer.uid}`]
    : subject !== undefined
    ? [`unauthenticated:${subject}`]
    : [];
  return {
    at: deps.now(),
    generation: caller.gen.id,
    op,
    targetKind: options.targetKind,
    targetId: target,
    subject,
    authenticatedBy,
    presenterKind: caller.peer ? "unix_peercred" : "none",
    presenterId: presenter(deps, caller.gen, caller.peer),
    allow,
    reason,
    invalidAs: options.invalidAs,
  };
}

/** Records the denial of a caller that did not resolve, and throws the matching error. */
export function denyUnresolved(
  deps: BrokerDeps,
  caller: Caller,
  op: string,
  target: string,
): never {
  const r = caller.resolution;
  if (r.ok) throw new TypeError("Caller is resolved");
  recordDecision(deps, caller, op, target, false, r.reason);
  throw unresolvedError(caller, op);
}

function unresolvedError(caller: Caller, op: string): BasilError {
  const r = caller.resolution;
  if (r.ok) throw new TypeError("Caller is resolved");
  if (r.unauthenticated) return new BasilError("UNAUTHENTICATED", undefined, { op });
  return unauthorized(op, r.reason);
}

/**
 * Resolves the request's caller and requires a subject (recording a denial
 * on `target` when there is none); returns the caller and its subject.
 * Nothing is recorded for a resolved caller.
 */
export function requireSubject(
  deps: BrokerDeps,
  call: BrokerCall,
  op: string,
  target: string,
): Caller & { readonly subject: string } {
  const caller = resolveCaller(deps, call);
  if (!caller.resolution.ok) denyUnresolved(deps, caller, op, target);
  return { ...caller, subject: caller.resolution.subject };
}

/** A PDP decision, or the generic path's own denial of a protocol issuer. */
type GenericDecision = Decision | {
  readonly allow: false;
  readonly reason: "issuer_protocol_only";
};

/**
 * Authorizes a key-scoped operation on the generic, key-addressed path (the
 * broker.v1 RPCs), or throws UNAUTHORIZED. `field` names the request field
 * that carried the key id (for INVALID_ARGUMENT). `mint` on a protocol
 * issuer is denied here (`issuer_protocol_only`, see the module doc).
 */
export function authorizeKey(
  deps: BrokerDeps,
  call: BrokerCall,
  op: KeyOp,
  keyName: string,
  field = "key_id",
): Authorized {
  checkKeyId(keyName, field, op);
  const caller = resolveCaller(deps, call);
  if (!caller.resolution.ok) denyUnresolved(deps, caller, op, keyName);
  const subject = caller.resolution.subject;
  const d = decideGeneric(caller, subject, op, keyName);
  recordDecision(deps, caller, op, keyName, d.allow, d.allow ? d.via : d.reason);
  if (!d.allow) throw unauthorized(op, d.reason);
  return authorizedOf(deps, caller, subject, op, keyName);
}

/** The PDP's decision, plus the generic path's protocol-issuer denial. */
function decideGeneric(
  caller: Caller,
  subject: string,
  op: KeyOp,
  keyName: string,
): GenericDecision {
  const { catalog, policy } = caller.gen;
  const d = decide(catalog, policy, subject, op, keyName);
  const key = catalog.keys.get(keyName);
  if (d.allow && op === "mint" && key !== undefined && isProtocolIssuer(key)) {
    return { allow: false, reason: "issuer_protocol_only" };
  }
  return d;
}

/**
 * Authorizes one operation over a set of keys, all or nothing, on one pinned
 * generation. Every key is decided and recorded before anything is applied;
 * each key gets exactly one record carrying its real PDP decision. When any
 * is denied the set fails with UNAUTHORIZED and nothing is applied, so every
 * record's outcome is `deny` (an allowed entry reads `decision: allow,
 * outcome: deny`, reason = its grant).
 */
export function authorizeKeys(
  deps: BrokerDeps,
  call: BrokerCall,
  op: KeyOp,
  keyNames: readonly string[],
  field = "key_id",
): Authorized[] {
  for (const k of keyNames) checkKeyId(k, field, op);
  const caller = resolveCaller(deps, call);
  const r = caller.resolution;
  if (!r.ok) {
    call.record(...keyNames.map((k) => pending(deps, caller, op, k, false, r.reason)));
    throw unresolvedError(caller, op);
  }
  const decisions = keyNames.map((k) => decideGeneric(caller, r.subject, op, k));
  call.record(
    ...decisions.map((d, n) =>
      pending(deps, caller, op, keyNames[n]!, d.allow, d.allow ? d.via : d.reason)
    ),
  );
  const denied = decisions.find((d) => !d.allow);
  chargeRate(deps, caller, op, denied === undefined);
  if (denied && !denied.allow) throw unauthorized(op, denied.reason);
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
  call: BrokerCall,
  op: AdminOp,
): Caller & { readonly subject: string } {
  const target = adminTarget(op);
  const caller = requireSubject(deps, call, op, target);
  const d = decide(caller.gen.catalog, caller.gen.policy, caller.subject, op, target);
  recordDecision(deps, caller, op, target, d.allow, d.allow ? d.via : d.reason);
  if (!d.allow) throw unauthorized(op, d.reason);
  return caller;
}
