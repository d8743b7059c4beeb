/**
 * The policy decision point (contract §0.4, §3.4). Pure functions over a
 * validated catalog and policy; the same `decide` serves enforcement, the
 * live Explain RPC and offline `basil explain`.
 *
 * Key-scoped decision order, default deny:
 *   1. unknown key → deny `unknown_key`
 *   2. write op on a `writable: false` key → deny `not_writable`
 *   3. raw `sign` on a protocol issuer ({@linkcode isProtocolIssuer}) → deny
 *      `issuer_raw_sign`
 *   4. first rule (declaration order) listing the actor with a grant → allow
 *   5. class `public` and op `get`/`get_public_key` (with an actor) → allow
 *   6. otherwise → deny `not_permitted`
 * Admin ops (`reload`, `explain`, `revoke`, `watch`) are a plain grant match
 * over their reserved target `broker.<op>` (any other key is denied) with no
 * catalog checks; `*` never implies them.
 * @module
 */

import type { Catalog, CatalogKey } from "../catalog/schema.ts";
import { adminTarget, ALL_OPS, isAdminOp, WRITE_OPS } from "../core/ops.ts";
import type { Op } from "../core/ops.ts";
import type { Policy, Principal, Subject } from "./schema.ts";

/**
 * Whether a key is a protocol issuer, usable only through its protocol path
 * (the SPIFFE Workload API for `svid_kind`, NATS minting for `nats_type`
 * O/A): any `svid_kind` label, or `nats_type` O or A. A superset of the
 * contract's credential issuers (§2.4: `svid_kind` jwt/x509): an
 * `svid_kind` this build does not serve is still nobody's raw signing key.
 */
export function isProtocolIssuer(key: CatalogKey): boolean {
  const nats = key.labelMap.get("nats_type");
  return key.labelMap.has("svid_kind") || nats === "O" || nats === "A";
}

/** Why a tuple was denied. */
export type DenyReason = "unknown_key" | "not_writable" | "issuer_raw_sign" | "not_permitted";

/** The rule that granted an allow. */
export interface MatchedRule {
  readonly rule: string;
  readonly via: string;
  readonly subject: string;
  readonly action: string;
  readonly target: string;
}

/** A PDP decision. */
export type Decision =
  | { readonly allow: true; readonly via: string; readonly matched: MatchedRule | undefined }
  | { readonly allow: false; readonly reason: DenyReason };

/** The outcome of mapping a caller to a subject. */
export type Resolution =
  | { readonly ok: true; readonly subject: string }
  | { readonly ok: false; readonly reason: string; readonly unauthenticated: boolean };

/** Kernel-attested caller credentials. */
export interface PeerIdentity {
  readonly uid: number;
  readonly gid: number;
  readonly pid: number;
}

function principalMatches(
  p: Principal,
  uid: number | undefined,
  gids: readonly number[],
): boolean {
  switch (p.kind) {
    case "unix":
      if (uid === undefined) return false;
      if (p.uid !== undefined && p.uid !== uid) return false;
      if (p.gid !== undefined && !gids.includes(p.gid)) return false;
      return true;
    case "unauthenticated":
      return uid === undefined;
    case "signature-key":
      return false;
  }
}

function subjectMatches(s: Subject, uid: number | undefined, gids: readonly number[]): boolean {
  return s.mode === "allOf"
    ? s.principals.every((p) => principalMatches(p, uid, gids))
    : s.principals.some((p) => principalMatches(p, uid, gids));
}

/**
 * Maps a caller to exactly one subject. Groups come from the policy's
 * `memberships[uid]`, never from the kernel gid.
 */
export function resolveSubject(policy: Policy, peer: PeerIdentity | undefined): Resolution {
  if (peer === undefined) {
    const name = policy.unauthenticatedSubject;
    if (name !== undefined && subjectMatches(policy.subjects.get(name)!, undefined, [])) {
      return { ok: true, subject: name };
    }
    return { ok: false, reason: "missing peer credentials", unauthenticated: true };
  }
  const gids = policy.memberships.get(peer.uid) ?? [];
  const found: string[] = [];
  for (const s of policy.subjects.values()) {
    if (subjectMatches(s, peer.uid, gids)) found.push(s.name);
  }
  if (found.length === 1) return { ok: true, subject: found[0]! };
  return {
    ok: false,
    reason: found.length === 0
      ? `no_actor_subject:${peer.uid}`
      : `ambiguous_actor_subject:${peer.uid}`,
    unauthenticated: false,
  };
}

function findGrant(policy: Policy, subject: string, op: Op, key: string): MatchedRule | undefined {
  for (const rule of policy.rules) {
    if (!rule.subjects.includes(subject)) continue;
    const action = rule.actions.find((a) => a.ops.has(op));
    if (!action) continue;
    const target = rule.targets.find((t) => t.matches(key));
    if (!target) continue;
    return {
      rule: rule.id,
      via: `subject:${subject}`,
      subject,
      action: action.term,
      target: target.source,
    };
  }
  return undefined;
}

/** Decides one (subject, op, key) tuple. `subject` undefined = no actor. */
export function decide(
  catalog: Catalog,
  policy: Policy,
  subject: string | undefined,
  op: Op,
  key: string,
): Decision {
  if (isAdminOp(op)) {
    // Admin ops exist only over their reserved target; a grant of op:reload
    // over `app.*` says nothing about `app.x`.
    const m = subject === undefined || key !== adminTarget(op) || !policy.subjects.has(subject)
      ? undefined
      : findGrant(policy, subject, op, key);
    return m ? { allow: true, via: m.via, matched: m } : { allow: false, reason: "not_permitted" };
  }
  const entry = catalog.keys.get(key);
  if (!entry) return { allow: false, reason: "unknown_key" };
  if (WRITE_OPS.has(op) && !entry.writable) return { allow: false, reason: "not_writable" };
  if (op === "sign" && isProtocolIssuer(entry)) {
    return { allow: false, reason: "issuer_raw_sign" };
  }
  if (subject === undefined || !policy.subjects.has(subject)) {
    return { allow: false, reason: "not_permitted" };
  }
  const m = findGrant(policy, subject, op, key);
  if (m) return { allow: true, via: m.via, matched: m };
  if (entry.class === "public" && (op === "get" || op === "get_public_key")) {
    return { allow: true, via: "public_class", matched: undefined };
  }
  return { allow: false, reason: "not_permitted" };
}

/** One row of `explain --effective`. */
export interface EffectiveGrant {
  readonly key: string;
  readonly op: Op;
  readonly via: string;
  readonly rule: string | null;
}

/** Every allowed (key, op) for a subject, sorted by (key, op). */
export function effectiveGrants(
  catalog: Catalog,
  policy: Policy,
  subject: string,
): EffectiveGrant[] {
  const out: EffectiveGrant[] = [];
  const keys = [...catalog.keys.keys()].sort();
  const ops = [...ALL_OPS].sort();
  for (const key of keys) {
    for (const op of ops) {
      const d = decide(catalog, policy, subject, op, key);
      if (d.allow) out.push({ key, op, via: d.via, rule: d.matched?.rule ?? null });
    }
  }
  return out;
}
