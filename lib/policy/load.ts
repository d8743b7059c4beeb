/**
 * Policy loader (contract §3.1, schemaVersion 2), plus the `unixSubjects`
 * form from the NixOS module and the migration guide: a subject named by a
 * user or group name, resolved to numeric ids and name tables at load time.
 *
 * Every error names the file, the field and the reason; unknown fields are
 * rejected everywhere. A match-all target is only allowed for rules whose
 * subjects are all `breakGlass`.
 * @module
 */

import { z } from "zod";
import { fieldError, InputError } from "../core/errors.ts";
import { isOp, KEY_OPS } from "../core/ops.ts";
import type { Op } from "../core/ops.ts";
import type { UnixNames } from "../core/unix_names.ts";
import { formatPath, parseJsonText, parseOrThrow } from "../core/validate.ts";
import { compileGlob } from "./glob.ts";
import type { TargetGlob } from "./glob.ts";
import { compileLimits, RateLimitsDoc } from "./rate_limits.ts";
import type { RateLimits, SubjectLimits } from "./rate_limits.ts";
import type { ActionTerm, Policy, Principal, Rule, Subject } from "./schema.ts";

const TOKEN = "policy_invalid";

const Id = z.number().int().min(0).max(0xffffffff);
const PrincipalDoc = z.discriminatedUnion("kind", [
  z.strictObject({ kind: z.literal("unix"), uid: Id.optional(), gid: Id.optional() }),
  z.strictObject({ kind: z.literal("unauthenticated") }),
  z.strictObject({
    kind: z.literal("signature-key"),
    algorithm: z.enum(["ed25519", "nats-nkey"]),
    public: z.string(),
  }),
]);

const SubjectDoc = z.strictObject({
  breakGlass: z.boolean().optional(),
  allOf: z.array(PrincipalDoc).optional(),
  anyOf: z.array(PrincipalDoc).optional(),
});

const UnixSubjectDoc = z.strictObject({
  user: z.union([z.string(), Id]).optional(),
  group: z.union([z.string(), Id]).optional(),
  breakGlass: z.boolean().optional(),
});

const IdKey = z.string().regex(/^\d+$/, "must be a numeric id").refine(
  (s) => Number(s) <= 0xffffffff,
  "must be a numeric id of at most 4294967295",
);
const PolicyDoc = z.strictObject({
  schemaVersion: z.unknown().optional(),
  subjects: z.record(z.string(), SubjectDoc).optional(),
  unixSubjects: z.record(z.string(), UnixSubjectDoc).optional(),
  unauthenticatedSubject: z.string().optional(),
  roles: z.record(z.string(), z.array(z.string())).optional(),
  rules: z.array(z.strictObject({
    id: z.string(),
    subjects: z.array(z.string()),
    action: z.array(z.string()),
    target: z.array(z.string()),
    comment: z.string().optional(),
  })).optional(),
  config: z.strictObject({
    names: z.strictObject({
      users: z.record(IdKey, z.string()).optional(),
      groups: z.record(IdKey, z.string()).optional(),
    }).optional(),
    memberships: z.record(IdKey, z.array(Id)).optional(),
  }).optional(),
  rateLimits: RateLimitsDoc.optional(),
});

/** Options for {@linkcode loadPolicy}. */
export interface LoadPolicyOptions {
  /** Resolves `unixSubjects` names; required only when the policy uses them. */
  names?: UnixNames;
}

/** Parses and validates policy JSON text. `file` is used in messages only. */
export function loadPolicy(text: string, file: string, options: LoadPolicyOptions = {}): Policy {
  const raw = parseJsonText(text, file, TOKEN);
  if (typeof raw === "object" && raw !== null && !Array.isArray(raw)) {
    const sv = (raw as Record<string, unknown>).schemaVersion;
    if (sv !== undefined && sv !== 2) {
      throw fieldError(TOKEN, file, "schemaVersion", "unsupported value, must be 2");
    }
  }
  const doc = parseOrThrow(PolicyDoc, raw, file, TOKEN);
  const err = (field: string, reason: string) => fieldError(TOKEN, file, field, reason);

  const userNames = new Map<number, string>();
  const groupNames = new Map<number, string>();
  const memberships = new Map<number, number[]>();
  for (const [uid, name] of Object.entries(doc.config?.names?.users ?? {})) {
    userNames.set(Number(uid), name);
  }
  for (const [gid, name] of Object.entries(doc.config?.names?.groups ?? {})) {
    groupNames.set(Number(gid), name);
  }
  for (const [uid, gids] of Object.entries(doc.config?.memberships ?? {})) {
    memberships.set(Number(uid), [...gids]);
  }

  const subjects = new Map<string, Subject>();
  for (const [name, s] of Object.entries(doc.subjects ?? {})) {
    const f = formatPath(["subjects", name]);
    checkSubjectName(name, f, err);
    if ((s.allOf === undefined) === (s.anyOf === undefined)) {
      throw err(f, 'exactly one of "allOf" or "anyOf" is required');
    }
    const mode = s.allOf !== undefined ? "allOf" : "anyOf";
    const principals = (s.allOf ?? s.anyOf)!;
    if (principals.length === 0) throw err(`${f}.${mode}`, "must not be empty");
    principals.forEach((p, i) => {
      if (p.kind === "unix" && p.uid === undefined && p.gid === undefined) {
        throw err(`${f}.${mode}[${i}]`, 'a unix principal needs "uid" or "gid"');
      }
      if (p.kind === "unauthenticated" && doc.unauthenticatedSubject !== name) {
        throw err(
          `${f}.${mode}[${i}]`,
          "an unauthenticated principal is only allowed in the unauthenticatedSubject",
        );
      }
      if (p.kind === "signature-key") {
        checkSignatureKey(p.algorithm, p.public, `${f}.${mode}[${i}]`, err);
      }
    });
    subjects.set(name, { name, breakGlass: s.breakGlass ?? false, mode, principals });
  }

  for (const [name, u] of Object.entries(doc.unixSubjects ?? {})) {
    const f = formatPath(["unixSubjects", name]);
    checkSubjectName(name, f, err);
    if (subjects.has(name)) throw err(f, "clashes with a subject of the same name");
    if ((u.user === undefined) === (u.group === undefined)) {
      throw err(f, 'exactly one of "user" or "group" is required');
    }
    const principal = resolveUnixSubject(u, f, err, options.names, {
      userNames,
      groupNames,
      memberships,
    });
    subjects.set(name, {
      name,
      breakGlass: u.breakGlass ?? false,
      mode: "anyOf",
      principals: [principal],
    });
  }

  if (doc.unauthenticatedSubject !== undefined && !subjects.has(doc.unauthenticatedSubject)) {
    throw err("unauthenticatedSubject", "names no declared subject");
  }

  const roles = new Map<string, Op[]>();
  for (const [name, ops] of Object.entries(doc.roles ?? {})) {
    const f = formatPath(["roles", name]);
    if (name === "") throw err(f, "role name must not be empty");
    ops.forEach((op, i) => {
      if (!isOp(op)) throw err(`${f}[${i}]`, `unknown op "${op}"`);
    });
    roles.set(name, ops as Op[]);
  }

  const rules: Rule[] = [];
  const ids = new Set<string>();
  let grantCount = 0;
  (doc.rules ?? []).forEach((r, i) => {
    const f = `rules[${i}]`;
    if (r.id.trim() === "") throw err(`${f}.id`, "must not be blank");
    if (ids.has(r.id)) throw err(`${f}.id`, `duplicate rule id "${r.id}"`);
    ids.add(r.id);
    if (r.subjects.length === 0) throw err(`${f}.subjects`, "must not be empty");
    r.subjects.forEach((s, j) => {
      if (!subjects.has(s)) throw err(`${f}.subjects[${j}]`, `unknown subject "${s}"`);
    });
    if (r.action.length === 0) throw err(`${f}.action`, "must not be empty");
    const actions: ActionTerm[] = r.action.map((term, j) =>
      compileAction(term, roles, `${f}.action[${j}]`, err)
    );
    if (r.target.length === 0) throw err(`${f}.target`, "must not be empty");
    const targets: TargetGlob[] = r.target.map((t, j) => {
      const g = compileGlob(t);
      if (typeof g === "string") throw err(`${f}.target[${j}]`, g);
      if (g.matchesAll && !r.subjects.every((s) => subjects.get(s)!.breakGlass)) {
        throw err(
          `${f}.target[${j}]`,
          "a match-all target is only allowed when every subject is breakGlass",
        );
      }
      return g;
    });
    const ops = new Set<Op>();
    for (const a of actions) for (const op of a.ops) ops.add(op);
    grantCount += r.subjects.length * ops.size * targets.length;
    rules.push({ id: r.id, subjects: r.subjects, actions, targets, comment: r.comment });
  });

  const rateLimits = compileRateLimits(doc.rateLimits, subjects, err);

  return {
    schemaVersion: 2,
    subjects,
    unauthenticatedSubject: doc.unauthenticatedSubject,
    roles,
    rules,
    userNames,
    groupNames,
    memberships,
    grantCount,
    ...(rateLimits ? { rateLimits } : {}),
  };
}

/** Compiles `rateLimits`; every subject it names must be declared. */
function compileRateLimits(
  doc: z.infer<typeof RateLimitsDoc> | undefined,
  subjects: ReadonlyMap<string, Subject>,
  err: Err,
): RateLimits | undefined {
  if (!doc) return undefined;
  const one = (d: Parameters<typeof compileLimits>[0], f: string): SubjectLimits => {
    const l = compileLimits(d);
    if (typeof l === "string") {
      throw err(`${f}.${l}`, '"perSecond" and "burst" must be given together');
    }
    return l;
  };
  const bySubject = new Map<string, SubjectLimits>();
  for (const [name, d] of Object.entries(doc.subjects ?? {})) {
    const f = formatPath(["rateLimits", "subjects", name]);
    if (!subjects.has(name)) throw err(f, `unknown subject "${name}"`);
    bySubject.set(name, one(d, f));
  }
  return {
    default: doc.default ? one(doc.default, "rateLimits.default") : undefined,
    subjects: bySubject,
  };
}

type Err = (field: string, reason: string) => InputError;

function checkSubjectName(name: string, f: string, err: Err): void {
  // deno-lint-ignore no-control-regex
  if (name.trim() === "" || /[\u0000-\u001f\u007f]/.test(name)) {
    throw err(f, "subject name must be non-empty and free of control characters");
  }
}

function checkSignatureKey(alg: string, pub: string, f: string, err: Err): void {
  if (alg === "ed25519") {
    if (!/^[A-Za-z0-9_-]{43}$/.test(pub)) {
      throw err(`${f}.public`, "must be 32 bytes in base64url without padding");
    }
  } else if (!/^[OAUNCX][A-Z2-7]{55}$/.test(pub)) {
    throw err(`${f}.public`, "must be a public NKey");
  }
}

function compileAction(
  term: string,
  roles: ReadonlyMap<string, readonly Op[]>,
  f: string,
  err: Err,
): ActionTerm {
  if (term === "*") return { term, ops: new Set<Op>(KEY_OPS) };
  if (term.startsWith("op:")) {
    const op = term.slice(3);
    if (!isOp(op)) throw err(f, `unknown op "${op}"`);
    return { term, ops: new Set<Op>([op]) };
  }
  if (term.startsWith("role:")) {
    const role = roles.get(term.slice(5));
    if (!role) throw err(f, `unknown role "${term.slice(5)}"`);
    return { term, ops: new Set<Op>(role) };
  }
  throw err(f, 'an action must be "*", "op:<op>" or "role:<role>"');
}

interface NameTables {
  userNames: Map<number, string>;
  groupNames: Map<number, string>;
  memberships: Map<number, number[]>;
}

function resolveUnixSubject(
  u: { user?: string | number; group?: string | number },
  f: string,
  err: Err,
  names: UnixNames | undefined,
  tables: NameTables,
): Principal {
  const lookup = (what: "user" | "group", v: string | number): number => {
    if (typeof v === "number") return v;
    if (/^\d+$/.test(v)) {
      const id = Number(v);
      if (id > 0xffffffff) throw err(`${f}.${what}`, "must be at most 4294967295");
      return id;
    }
    if (!names) throw err(`${f}.${what}`, "cannot resolve names without the host's user database");
    const id = what === "user" ? names.uidOf(v) : names.gidOf(v);
    if (id === undefined) throw err(`${f}.${what}`, `no such ${what} "${v}"`);
    return id;
  };
  if (u.user !== undefined) {
    const uid = lookup("user", u.user);
    const display = typeof u.user === "string" && !/^\d+$/.test(u.user)
      ? u.user
      : names?.userOf(uid);
    if (display !== undefined && !tables.userNames.has(uid)) tables.userNames.set(uid, display);
    return { kind: "unix", uid };
  }
  const gid = lookup("group", u.group!);
  const display = typeof u.group === "string" && !/^\d+$/.test(u.group) ? u.group : undefined;
  if (display !== undefined && !tables.groupNames.has(gid)) tables.groupNames.set(gid, display);
  for (const uid of names?.membersOf(gid) ?? []) {
    const list = tables.memberships.get(uid) ?? [];
    if (!list.includes(gid)) list.push(gid);
    tables.memberships.set(uid, list);
  }
  return { kind: "unix", gid };
}
