/**
 * Property test: random catalogs, policies and requests, checked against a
 * deliberately naive reference PDP written from the contract's prose (§0.4,
 * §3.2–§3.4), not from pdp.ts. Also checks that explain agrees with decide
 * and that the effective view is the brute-force enumeration.
 *
 * Failures print the case seed; rerun one case by setting ONLY_SEED.
 */

import assert from "node:assert/strict";
import { loadCatalog } from "../../../lib/catalog/load.ts";
import { ADMIN_OPS, ALL_OPS, KEY_CLASSES, KEY_OPS, WRITE_OPS } from "../../../lib/core/ops.ts";
import type { Op } from "../../../lib/core/ops.ts";
import { explainJson } from "../../../lib/policy/explain.ts";
import { loadPolicy } from "../../../lib/policy/load.ts";
import { decide, effectiveGrants, resolveSubject } from "../../../lib/policy/pdp.ts";
import type { PeerIdentity } from "../../../lib/policy/pdp.ts";

const BASE_SEED = 0x5eed_ba51;
const CASES = 3000;
const REQUESTS_PER_CASE = 25;
const ONLY_SEED: number | undefined = undefined;

// ---- The contract's vocabulary: the op and class lists are shared with the
// code (lib/core/ops.ts); the decision logic below is still written from the
// contract's prose, not from pdp.ts. ----

const STAR_OPS: readonly string[] = KEY_OPS;
const ADMIN: readonly string[] = ADMIN_OPS;
const EVERY_OP: readonly string[] = ALL_OPS;
const WRITES: ReadonlySet<string> = WRITE_OPS;
const CLASSES: readonly string[] = KEY_CLASSES;
const SEGMENTS = ["a", "b", "c"];
const UIDS = [0, 1, 2, 3, 4, 100];
const GIDS = [10, 11, 12];

// ---- A small seeded PRNG (mulberry32). ----

class Rng {
  #s: number;
  constructor(seed: number) {
    this.#s = seed >>> 0;
  }
  next(): number {
    let t = (this.#s = (this.#s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)]!;
  }
  subset<T>(xs: readonly T[], p = 0.5): T[] {
    return xs.filter(() => this.chance(p));
  }
}

// ---- Plain documents: what the generator writes and the reference reads. ----

interface KeyDoc {
  class: string;
  writable: boolean;
  labels: string[];
}
interface PrincipalDoc {
  kind: "unix" | "unauthenticated";
  uid?: number;
  gid?: number;
}
interface SubjectDoc {
  breakGlass?: boolean;
  allOf?: PrincipalDoc[];
  anyOf?: PrincipalDoc[];
}
interface RuleDoc {
  id: string;
  subjects: string[];
  action: string[];
  target: string[];
}
interface PolicyDoc {
  subjects: Record<string, SubjectDoc>;
  unauthenticatedSubject?: string;
  roles: Record<string, string[]>;
  rules: RuleDoc[];
  config: { memberships: Record<string, number[]> };
}

function randomName(r: Rng, maxDepth = 3): string {
  const n = r.int(1, maxDepth);
  return Array.from({ length: n }, () => r.pick(SEGMENTS)).join(".");
}

function genCatalog(r: Rng): Record<string, KeyDoc> {
  const keys: Record<string, KeyDoc> = {};
  const n = r.int(1, 8);
  for (let i = 0; i < n; i++) {
    const cls = r.pick(CLASSES);
    const labels: string[] = [];
    if (r.chance(0.3)) labels.push(`nats_type=${r.pick(["O", "A", "U", "X"])}`);
    if (cls === "asymmetric" && r.chance(0.3)) labels.push(`svid_kind=${r.pick(["jwt", "x509"])}`);
    if (r.chance(0.2)) labels.push("team=x");
    keys[randomName(r)] = { class: cls, writable: r.chance(0.6), labels };
  }
  return keys;
}

function catalogJson(keys: Record<string, KeyDoc>): string {
  const out: Record<string, unknown> = {};
  for (const [name, k] of Object.entries(keys)) {
    const key: Record<string, unknown> = {
      class: k.class,
      backend: "b",
      path: `p/${name}`,
      writable: k.writable,
      labels: k.labels,
      description: name,
    };
    if (k.class === "asymmetric") key.keyType = "rsa-2048";
    if (k.class === "symmetric") key.keyType = "aes-256-gcm";
    if (k.class === "sealing") {
      key.keyType = "x25519";
      key.publicPath = `pp/${name}`;
    }
    out[name] = key;
  }
  return JSON.stringify({
    schemaVersion: 1,
    backends: { b: { kind: "vault", addr: "http://127.0.0.1:8200" } },
    keys: out,
  });
}

function genPrincipal(r: Rng): PrincipalDoc {
  const form = r.int(0, 2);
  if (form === 0) return { kind: "unix", uid: r.pick(UIDS) };
  if (form === 1) return { kind: "unix", gid: r.pick(GIDS) };
  return { kind: "unix", uid: r.pick(UIDS), gid: r.pick(GIDS) };
}

function genGlob(r: Rng, keys: string[], matchAllOk: boolean): string {
  const kind = r.int(0, 5);
  if (kind === 0 && keys.length > 0) return r.pick(keys);
  if (kind === 1) return randomName(r);
  if (kind === 5 && matchAllOk) return r.pick(["*", "**"]);
  const prefix = randomName(r, 2);
  return `${prefix}.${r.pick(["*", "**"])}`;
}

function genPolicy(r: Rng, keys: string[]): PolicyDoc {
  const subjects: Record<string, SubjectDoc> = {};
  const nSubjects = r.int(1, 5);
  for (let i = 0; i < nSubjects; i++) {
    const principals = Array.from({ length: r.int(1, 2) }, () => genPrincipal(r));
    const s: SubjectDoc = r.chance(0.5) ? { allOf: principals } : { anyOf: principals };
    if (r.chance(0.3)) s.breakGlass = true;
    subjects[`s${i}`] = s;
  }
  let unauthenticatedSubject: string | undefined;
  if (r.chance(0.3)) {
    const anyOf: PrincipalDoc[] = [{ kind: "unauthenticated" }];
    if (r.chance(0.3)) anyOf.push({ kind: "unix", uid: r.pick(UIDS) });
    subjects.anon = r.chance(0.8) ? { anyOf } : { allOf: anyOf };
    unauthenticatedSubject = "anon";
  }
  const roles: Record<string, string[]> = {};
  for (let i = 0; i < r.int(0, 3); i++) roles[`role${i}`] = r.subset(EVERY_OP, 0.25);
  const names = Object.keys(subjects);
  const rules: RuleDoc[] = [];
  for (let i = 0; i < r.int(0, 7); i++) {
    let ruleSubjects = r.subset(names, 0.4);
    if (ruleSubjects.length === 0) ruleSubjects = [r.pick(names)];
    const allBreakGlass = ruleSubjects.every((s) => subjects[s]!.breakGlass === true);
    const action = Array.from({ length: r.int(1, 3) }, () => {
      const t = r.int(0, 3);
      const roleNames = Object.keys(roles);
      if (t === 0) return "*";
      if (t === 1) return `op:${r.pick(ADMIN)}`;
      if (t === 2 || roleNames.length === 0) return `op:${r.pick(EVERY_OP)}`;
      return `role:${r.pick(roleNames)}`;
    });
    const target = Array.from(
      { length: r.int(1, 3) },
      () =>
        r.chance(0.2) ? `broker.${r.pick([...ADMIN, "*", "**"])}` : genGlob(r, keys, allBreakGlass),
    );
    rules.push({ id: `r${i}`, subjects: ruleSubjects, action, target });
  }
  const memberships: Record<string, number[]> = {};
  for (const uid of UIDS) if (r.chance(0.5)) memberships[String(uid)] = r.subset(GIDS);
  const doc: PolicyDoc = { subjects, roles, rules, config: { memberships } };
  if (unauthenticatedSubject) doc.unauthenticatedSubject = unauthenticatedSubject;
  return doc;
}

// ---- The reference PDP, from the contract's prose. ----

function refGlob(term: string, key: string): boolean {
  if (term === "*") return true;
  const t = term.split(".");
  const k = key.split(".");
  const last = t[t.length - 1];
  const head = t.slice(0, -1);
  const headMatches = head.every((s, i) => k[i] === s);
  if (last === "**") return headMatches && k.length >= head.length + 1;
  if (last === "*") return headMatches && k.length === head.length + 1;
  return term === key;
}

function refPrincipal(p: PrincipalDoc, uid: number | undefined, gids: number[]): boolean {
  if (p.kind === "unauthenticated") return uid === undefined;
  if (uid === undefined) return false;
  return (p.uid === undefined || p.uid === uid) && (p.gid === undefined || gids.includes(p.gid));
}

function refMatcher(s: SubjectDoc, uid: number | undefined, gids: number[]): boolean {
  if (s.allOf) return s.allOf.every((p) => refPrincipal(p, uid, gids));
  return s.anyOf!.some((p) => refPrincipal(p, uid, gids));
}

type RefResolution = { subject: string } | { deny: string; unauthenticated: boolean };

function refResolve(pol: PolicyDoc, peer: PeerIdentity | undefined): RefResolution {
  if (!peer) {
    const name = pol.unauthenticatedSubject;
    if (name !== undefined && refMatcher(pol.subjects[name]!, undefined, [])) {
      return { subject: name };
    }
    return { deny: "missing peer credentials", unauthenticated: true };
  }
  const gids = pol.config.memberships[String(peer.uid)] ?? [];
  const hits = Object.keys(pol.subjects).filter((n) =>
    refMatcher(pol.subjects[n]!, peer.uid, gids)
  );
  if (hits.length === 1) return { subject: hits[0]! };
  const why = hits.length === 0 ? "no_actor_subject" : "ambiguous_actor_subject";
  return { deny: `${why}:${peer.uid}`, unauthenticated: false };
}

function refActionGrants(pol: PolicyDoc, term: string, op: string): boolean {
  if (term === "*") return STAR_OPS.includes(op);
  if (term.startsWith("op:")) return term.slice(3) === op;
  return (pol.roles[term.slice(5)] ?? []).includes(op);
}

interface RefDecision {
  allow: boolean;
  reason?: string;
  via?: string;
  rule?: string;
  action?: string;
  target?: string;
}

function refGrant(pol: PolicyDoc, subject: string, op: string, key: string): RefDecision | null {
  for (const rule of pol.rules) {
    if (!rule.subjects.includes(subject)) continue;
    for (const term of rule.action) {
      if (!refActionGrants(pol, term, op)) continue;
      for (const target of rule.target) {
        if (refGlob(target, key)) {
          return { allow: true, via: `subject:${subject}`, rule: rule.id, action: term, target };
        }
      }
    }
  }
  return null;
}

function refDecide(
  cat: Record<string, KeyDoc>,
  pol: PolicyDoc,
  subject: string | undefined,
  op: string,
  key: string,
): RefDecision {
  const registered = subject !== undefined && subject in pol.subjects;
  if (ADMIN.includes(op)) {
    const g = registered && key === `broker.${op}` ? refGrant(pol, subject!, op, key) : null;
    return g ?? { allow: false, reason: "not_permitted" };
  }
  const k = Object.hasOwn(cat, key) ? cat[key] : undefined;
  if (!k) return { allow: false, reason: "unknown_key" };
  if (WRITES.has(op) && !k.writable) return { allow: false, reason: "not_writable" };
  const issuer = k.labels.some((l) =>
    ["nats_type=O", "nats_type=A", "svid_kind=jwt", "svid_kind=x509"].includes(l)
  );
  if (op === "sign" && issuer) return { allow: false, reason: "issuer_raw_sign" };
  if (!registered) return { allow: false, reason: "not_permitted" };
  const g = refGrant(pol, subject!, op, key);
  if (g) return g;
  if (k.class === "public" && (op === "get" || op === "get_public_key")) {
    return { allow: true, via: "public_class" };
  }
  return { allow: false, reason: "not_permitted" };
}

// ---- The property. ----

/** Outcomes seen, so the test can prove it exercised every branch. */
const seen = new Map<string, number>();
const tally = (k: string) => seen.set(k, (seen.get(k) ?? 0) + 1);

function runCase(seed: number): void {
  const r = new Rng(seed);
  const catDoc = genCatalog(r);
  const keyNames = Object.keys(catDoc);
  const polDoc = genPolicy(r, keyNames);
  const { catalog } = loadCatalog(catalogJson(catDoc), "catalog.json");
  const pol = loadPolicy(JSON.stringify(polDoc), "policy.json");

  for (let i = 0; i < REQUESTS_PER_CASE; i++) {
    const peer = r.chance(0.15) ? undefined : {
      uid: r.pick([...UIDS, 999]),
      gid: r.pick([...GIDS, 0, 999]),
      pid: 1,
    };
    const keyPick = r.int(0, 9);
    const op = (keyPick < 8 ? r.pick(EVERY_OP) : r.pick(ADMIN)) as Op;
    const key = keyPick < 6 && keyNames.length > 0
      ? r.pick(keyNames)
      : keyPick < 8
      ? randomName(r)
      : `broker.${r.chance(0.8) ? op : r.pick([...ADMIN, "other"])}`;

    const got = resolveSubject(pol, peer);
    tally(got.ok ? (peer ? "resolved" : "resolved-anon") : got.reason.replace(/:.*/, ""));
    const want = refResolve(polDoc, peer);
    if ("subject" in want) assert.deepEqual(got, { ok: true, subject: want.subject });
    else {
      assert.deepEqual(got, {
        ok: false,
        reason: want.deny,
        unauthenticated: want.unauthenticated,
      });
    }

    // Decide for the resolved actor and, like explain, for any named subject.
    const named = r.chance(0.5) ? r.pick([...Object.keys(polDoc.subjects), "ghost"]) : undefined;
    for (const subject of [got.ok ? got.subject : undefined, named]) {
      const actor = subject !== undefined && pol.subjects.has(subject) ? subject : undefined;
      const d = decide(catalog, pol, actor, op, key);
      const ref = refDecide(catDoc, polDoc, subject, op, key);
      const ctx = `subject=${subject} op=${op} key=${key}`;
      tally(
        ref.allow ? `${ADMIN.includes(op) ? "admin:" : ""}${ref.via!.split(":")[0]}` : ref.reason!,
      );
      assert.equal(d.allow, ref.allow, ctx);
      if (d.allow) {
        assert.equal(d.via, ref.via, ctx);
        if (ref.rule === undefined) assert.equal(d.matched, undefined, ctx);
        else {
          assert.deepEqual(d.matched, {
            rule: ref.rule,
            via: ref.via,
            subject,
            action: ref.action,
            target: ref.target,
          }, ctx);
        }
      } else assert.equal(d.reason, ref.reason, ctx);
      const e = explainJson(subject ?? "nobody", op, key, d);
      assert.equal(e.decision, d.allow ? "allow" : "deny", ctx);
      assert.equal(e.reason, d.allow ? undefined : d.reason, ctx);
    }
  }

  // The effective view is the sorted brute force over keys × every op.
  const subject = r.pick([...Object.keys(polDoc.subjects), "ghost"]);
  const rows: string[] = [];
  for (const key of keyNames) {
    for (const op of EVERY_OP) {
      const ref = refDecide(catDoc, polDoc, subject, op, key);
      if (ref.allow) rows.push(`${key} ${op} ${ref.via} ${ref.rule ?? null}`);
    }
  }
  rows.sort();
  const eff = effectiveGrants(catalog, pol, subject).map((g) =>
    `${g.key} ${g.op} ${g.via} ${g.rule}`
  );
  assert.deepEqual(eff, rows, `effective for ${subject}`);
}

Deno.test(`property: decide matches a naive reference over ${CASES} random cases`, () => {
  const seeds = ONLY_SEED !== undefined
    ? [ONLY_SEED]
    : Array.from({ length: CASES }, (_, i) => (BASE_SEED + i * 0x9e3779b9) >>> 0);
  seen.clear();
  for (const seed of seeds) {
    try {
      runCase(seed);
    } catch (e) {
      throw new Error(`property case failed; seed=${seed} (set ONLY_SEED to rerun)`, {
        cause: e,
      });
    }
  }
  if (ONLY_SEED !== undefined) return;
  // Every outcome must have been exercised a fair number of times.
  for (
    const outcome of [
      "subject",
      "public_class",
      "admin:subject",
      "unknown_key",
      "not_writable",
      "issuer_raw_sign",
      "not_permitted",
      "resolved",
      "resolved-anon",
      "no_actor_subject",
      "ambiguous_actor_subject",
      "missing peer credentials",
    ]
  ) {
    assert.ok((seen.get(outcome) ?? 0) >= 50, `${outcome} seen ${seen.get(outcome) ?? 0} times`);
  }
});

Deno.test("property: the reference glob agrees with the contract's examples", () => {
  assert.ok(refGlob("a.*", "a.b") && !refGlob("a.*", "a.b.c") && !refGlob("a.*", "a"));
  assert.ok(refGlob("a.**", "a.b.c") && !refGlob("a.**", "a"));
  assert.ok(refGlob("**", "x") && refGlob("*", "x.y"));
});
