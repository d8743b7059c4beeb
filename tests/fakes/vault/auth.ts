/**
 * The double's auth side: the token store (`auth/token/*`), ACL policies
 * (`sys/policies/acl/*`, a subset of HCL: `path "<glob>" { capabilities =
 * [...] }`), AppRole (`auth/<mount>/role/*`, `login`) and JWT
 * (`auth/<mount>/config`, `role/*`, `login`) with real signature checks.
 * Tokens expire on the wall clock; expired or revoked tokens are 403.
 * @module
 */

import { createPublicKey, verify as verifySig } from "node:crypto";
import { bad, denied, Fields, internal, ok, type Reply, unsupported } from "./reply.ts";

/** One token. */
export interface Token {
  id: string;
  accessor: string;
  policies: string[];
  creationTtl: number;
  /** ms; Infinity for no expiry. */
  expiresAt: number;
  /** ms cap for renewals. */
  maxExpiresAt: number;
  renewable: boolean;
  path: string;
  displayName: string;
  meta: Record<string, string>;
  issueTime: Date;
}

interface AppRole {
  roleId: string;
  secretIds: Map<string, { accessor: string; expiresAt: number }>;
  tokenTtl: number;
  tokenMaxTtl: number;
  policies: string[];
}

interface JwtRole {
  boundAudiences: string[];
  boundSubject: string;
  userClaim: string;
  tokenTtl: number;
  tokenMaxTtl: number;
  policies: string[];
}

type Cap = "create" | "read" | "update" | "delete" | "list" | "sudo" | "deny";

/** Counters a test can watch. */
export interface AuthStats {
  logins: number;
  renewals: number;
}

/** The auth state of one double. */
export class AuthState {
  readonly tokens = new Map<string, Token>();
  readonly policies = new Map<string, { text: string; rules: { glob: string; caps: Cap[] }[] }>();
  readonly approles = new Map<string, Map<string, AppRole>>();
  readonly jwt = new Map<string, { pubkeys: string[]; roles: Map<string, JwtRole> }>();
  readonly stats: AuthStats = { logins: 0, renewals: 0 };
  /** Default TTL for tokens without one (the server's default lease). */
  defaultTtl = 32 * 24 * 3600;

  constructor(rootToken: string) {
    this.tokens.set(rootToken, {
      id: rootToken,
      accessor: randomId(),
      policies: ["root"],
      creationTtl: 0,
      expiresAt: Infinity,
      maxExpiresAt: Infinity,
      renewable: false,
      path: "auth/token/root",
      displayName: "root",
      meta: {},
      issueTime: new Date(),
    });
  }

  /** The live token for `id`, or undefined (absent, revoked, expired). */
  lookup(id: string | null): Token | undefined {
    if (id === null || id === "") return undefined;
    const t = this.tokens.get(id);
    if (t === undefined) return undefined;
    if (Date.now() >= t.expiresAt) {
      this.tokens.delete(id);
      return undefined;
    }
    return t;
  }

  /** Whether `token` may perform `cap` on `path`. */
  allowed(token: Token, path: string, cap: Cap): boolean {
    if (token.policies.includes("root")) return true;
    if (
      path.startsWith("auth/token/") &&
      /^(lookup-self|renew-self|revoke-self)$/.test(path.slice(11))
    ) {
      return true; // the default policy
    }
    let best: { len: number; caps: Cap[] } | undefined;
    for (const name of token.policies) {
      for (const r of this.policies.get(name)?.rules ?? []) {
        if (!globMatch(r.glob, path)) continue;
        const len = r.glob.replace(/\*$/, "").length;
        if (best === undefined || len > best.len) best = { len, caps: r.caps };
        else if (len === best.len) best = { len, caps: [...best.caps, ...r.caps] };
      }
    }
    return best !== undefined && !best.caps.includes("deny") && best.caps.includes(cap);
  }

  /** Issues a token and returns its `auth` block. */
  issue(
    o: {
      policies: string[];
      ttl: number;
      maxTtl: number;
      renewable: boolean;
      path: string;
      meta?: Record<string, string>;
    },
  ): Record<string, unknown> {
    const now = Date.now();
    const ttl = o.ttl > 0 ? o.ttl : this.defaultTtl;
    const maxExpiresAt = o.maxTtl > 0 ? now + o.maxTtl * 1000 : Infinity;
    const t: Token = {
      id: `s.${randomId()}`,
      accessor: randomId(),
      policies: [...new Set(["default", ...o.policies])].sort(),
      creationTtl: ttl,
      expiresAt: Math.min(now + ttl * 1000, maxExpiresAt),
      maxExpiresAt,
      renewable: o.renewable,
      path: o.path,
      displayName: o.path.replace(/\/login$/, "").replace(/\//g, "-"),
      meta: o.meta ?? {},
      issueTime: new Date(now),
    };
    this.tokens.set(t.id, t);
    return authBlock(t);
  }

  /** `auth/token/*`. */
  token(op: string, method: string, f: Fields, caller: Token | undefined): Reply {
    if (caller === undefined) return denied();
    switch (op) {
      case "lookup-self":
        if (method !== "GET" && method !== "POST") return unsupported();
        return ok(lookupData(caller));
      case "renew-self": {
        if (method !== "POST" && method !== "PUT") return unsupported();
        if (!caller.renewable) return bad("lease is not renewable");
        const inc = f.secs("increment", caller.creationTtl);
        const now = Date.now();
        const want = now + inc * 1000;
        const warnings: string[] = [];
        caller.expiresAt = Math.min(want, caller.maxExpiresAt);
        if (want > caller.maxExpiresAt) {
          warnings.push(
            `TTL of "${inc}s" exceeded the effective max_ttl; TTL value is capped accordingly`,
          );
        }
        this.stats.renewals++;
        return { kind: "auth", auth: authBlock(caller), warnings };
      }
      case "revoke-self":
        if (method !== "POST" && method !== "PUT") return unsupported();
        this.tokens.delete(caller.id);
        return { kind: "empty" };
      case "create": {
        if (method !== "POST" && method !== "PUT") return unsupported();
        const policies = f.list("policies");
        return {
          kind: "auth",
          auth: this.issue({
            policies: policies.length > 0
              ? policies
              : caller.policies.filter((p) => p !== "default"),
            ttl: f.secs("ttl"),
            maxTtl: f.secs("explicit_max_ttl"),
            renewable: f.bool("renewable", true),
            path: "auth/token/create",
          }),
        };
      }
      case "revoke": {
        if (method !== "POST" && method !== "PUT") return unsupported();
        this.tokens.delete(f.str("token"));
        return { kind: "empty" };
      }
      case "lookup": {
        const t = this.lookup(f.str("token"));
        return t === undefined ? bad("bad token") : ok(lookupData(t));
      }
    }
    return {
      kind: "error",
      status: 404,
      errors: [`no handler for route "auth/token/${op}". route entry not found.`],
    };
  }

  /** `sys/policies/acl/<name>` and `sys/policy/<name>`. */
  policy(name: string, method: string, f: Fields): Reply {
    if (method === "GET") {
      const p = this.policies.get(name);
      return p === undefined ? { kind: "notFound" } : ok({ name, policy: p.text });
    }
    if (method === "DELETE") {
      this.policies.delete(name);
      return { kind: "empty" };
    }
    const text = f.str("policy") || f.str("rules");
    const rules = parsePolicy(text);
    if (rules === undefined) return bad("failed to parse policy: unsupported HCL");
    this.policies.set(name, { text, rules });
    return { kind: "empty" };
  }

  /** `auth/<mount>/...` of an AppRole mount. */
  approle(mount: string, rest: string, method: string, f: Fields): Reply {
    const roles = this.approles.get(mount)!;
    if (rest === "login") {
      if (method !== "POST" && method !== "PUT") return unsupported();
      const roleId = f.str("role_id");
      if (roleId === "") return bad("missing role_id");
      const entry = [...roles].find(([, r]) => r.roleId === roleId);
      if (entry === undefined) return bad("invalid role or secret ID");
      const [name, role] = entry;
      const sid = role.secretIds.get(f.str("secret_id"));
      if (sid === undefined || Date.now() >= sid.expiresAt) return bad("invalid role or secret ID");
      this.stats.logins++;
      return {
        kind: "auth",
        auth: this.issue({
          policies: role.policies,
          ttl: role.tokenTtl,
          maxTtl: role.tokenMaxTtl,
          renewable: true,
          path: `auth/${mount}/login`,
          meta: { role_name: name },
        }),
      };
    }
    const m = /^role\/([^/]+)(?:\/(role-id|secret-id|custom-secret-id))?$/.exec(rest);
    if (!m) {
      return {
        kind: "error",
        status: 404,
        errors: [`no handler for route "auth/${mount}/${rest}". route entry not found.`],
      };
    }
    const [, name, sub] = m as unknown as [string, string, string | undefined];
    const role = roles.get(name);
    if (sub === undefined) {
      if (method === "GET") {
        return role === undefined ? { kind: "notFound" } : ok({
          token_ttl: role.tokenTtl,
          token_max_ttl: role.tokenMaxTtl,
          token_policies: role.policies,
          bind_secret_id: true,
        });
      }
      if (method === "DELETE") {
        roles.delete(name);
        return { kind: "empty" };
      }
      const r: AppRole = role ??
        {
          roleId: crypto.randomUUID(),
          secretIds: new Map(),
          tokenTtl: 0,
          tokenMaxTtl: 0,
          policies: [],
        };
      if (f.has("token_ttl")) r.tokenTtl = f.secs("token_ttl");
      if (f.has("token_max_ttl")) r.tokenMaxTtl = f.secs("token_max_ttl");
      if (f.has("token_policies") || f.has("policies")) {
        r.policies = f.list(f.has("token_policies") ? "token_policies" : "policies");
      }
      roles.set(name, r);
      return { kind: "empty" };
    }
    if (role === undefined) return bad(`role "${name}" does not exist`);
    if (sub === "role-id") {
      if (method === "GET") return ok({ role_id: role.roleId });
      role.roleId = f.str("role_id");
      return { kind: "empty" };
    }
    if (method !== "POST" && method !== "PUT") return unsupported();
    // `custom-secret-id` registers the caller's secret_id instead of a random one.
    const secretId = sub === "custom-secret-id" ? f.str("secret_id") : crypto.randomUUID();
    if (secretId === "") return bad("missing secret_id");
    if (role.secretIds.has(secretId)) return internal("SecretID is already registered");
    const ttl = f.secs("ttl");
    const accessor = crypto.randomUUID();
    role.secretIds.set(secretId, {
      accessor,
      expiresAt: ttl > 0 ? Date.now() + ttl * 1000 : Infinity,
    });
    return ok({
      secret_id: secretId,
      secret_id_accessor: accessor,
      secret_id_ttl: ttl,
      secret_id_num_uses: 0,
    });
  }

  /** `auth/<mount>/...` of a JWT mount. */
  jwtAuth(mount: string, rest: string, method: string, f: Fields): Reply {
    const st = this.jwt.get(mount)!;
    if (rest === "config") {
      if (method === "GET") return ok({ jwt_validation_pubkeys: st.pubkeys });
      const keys = f.list("jwt_validation_pubkeys");
      for (const k of keys) {
        try {
          createPublicKey(k);
        } catch {
          return bad("error parsing public key: not a PEM public key");
        }
      }
      st.pubkeys = keys;
      return { kind: "empty" };
    }
    const rm = /^role\/([^/]+)$/.exec(rest);
    if (rm) {
      const name = rm[1]!;
      if (method === "GET") {
        const r = st.roles.get(name);
        return r === undefined ? { kind: "notFound" } : ok({
          bound_audiences: r.boundAudiences,
          bound_subject: r.boundSubject,
          user_claim: r.userClaim,
          token_ttl: r.tokenTtl,
          token_policies: r.policies,
          role_type: "jwt",
        });
      }
      const userClaim = f.str("user_claim");
      if (userClaim === "") return bad("a user claim must be defined on the role");
      st.roles.set(name, {
        boundAudiences: f.list("bound_audiences"),
        boundSubject: f.str("bound_subject"),
        userClaim,
        tokenTtl: f.secs("token_ttl"),
        tokenMaxTtl: f.secs("token_max_ttl"),
        policies: f.list(f.has("token_policies") ? "token_policies" : "policies"),
      });
      return { kind: "empty" };
    }
    if (rest !== "login") {
      return {
        kind: "error",
        status: 404,
        errors: [`no handler for route "auth/${mount}/${rest}". route entry not found.`],
      };
    }
    if (method !== "POST" && method !== "PUT") return unsupported();
    const roleName = f.str("role");
    const role = st.roles.get(roleName);
    if (role === undefined) return bad(`role "${roleName}" could not be found`);
    const jwt = f.str("jwt");
    if (jwt === "") return bad("missing token");
    const claims = verifyJwt(jwt, st.pubkeys);
    if (typeof claims === "string") return bad(`error validating token: ${claims}`);
    const now = Date.now() / 1000;
    const leeway = 150;
    if (typeof claims.exp !== "number" || claims.exp + leeway < now) {
      return bad("error validating token: token is expired (exp)");
    }
    if (typeof claims.nbf === "number" && claims.nbf - leeway > now) {
      return bad("error validating token: token not valid yet (nbf)");
    }
    if (role.boundAudiences.length > 0) {
      const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
      if (!aud.some((a) => role.boundAudiences.includes(String(a)))) {
        return bad("error validating claims: aud claim does not match any bound audience");
      }
    }
    if (role.boundSubject !== "" && claims.sub !== role.boundSubject) {
      return bad("error validating claims: sub claim does not match bound subject");
    }
    const user = claims[role.userClaim];
    if (typeof user !== "string" || user === "") {
      return bad(`claim "${role.userClaim}" not found in token`);
    }
    this.stats.logins++;
    return {
      kind: "auth",
      auth: this.issue({
        policies: role.policies,
        ttl: role.tokenTtl,
        maxTtl: role.tokenMaxTtl,
        renewable: true,
        path: `auth/${mount}/login`,
        meta: { role: roleName },
      }),
    };
  }
}

/** The `auth` block of a login or renewal. */
function authBlock(t: Token): Record<string, unknown> {
  const remaining = Number.isFinite(t.expiresAt)
    ? Math.max(0, Math.round((t.expiresAt - Date.now()) / 1000))
    : 0;
  return {
    client_token: t.id,
    accessor: t.accessor,
    policies: t.policies,
    token_policies: t.policies,
    metadata: t.meta,
    lease_duration: remaining,
    renewable: t.renewable,
    entity_id: "",
    token_type: "service",
    orphan: true,
    mfa_requirement: null,
    num_uses: 0,
  };
}

function lookupData(t: Token): Record<string, unknown> {
  const ttl = Number.isFinite(t.expiresAt)
    ? Math.max(0, Math.round((t.expiresAt - Date.now()) / 1000))
    : 0;
  return {
    accessor: t.accessor,
    creation_time: Math.floor(t.issueTime.getTime() / 1000),
    creation_ttl: t.creationTtl,
    display_name: t.displayName,
    entity_id: "",
    expire_time: Number.isFinite(t.expiresAt) ? new Date(t.expiresAt).toISOString() : null,
    explicit_max_ttl: 0,
    id: t.id,
    issue_time: t.issueTime.toISOString(),
    meta: t.meta,
    num_uses: 0,
    orphan: true,
    path: t.path,
    policies: t.policies,
    renewable: t.renewable,
    ttl,
    type: "service",
  };
}

function verifyJwt(jwt: string, pubkeys: string[]): Record<string, unknown> | string {
  const parts = jwt.split(".");
  if (parts.length !== 3) return "malformed token";
  let header: Record<string, unknown>;
  let claims: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder().decode(b64url(parts[0]!)));
    claims = JSON.parse(new TextDecoder().decode(b64url(parts[1]!)));
  } catch {
    return "malformed token";
  }
  const algs: Record<string, string | null> = {
    RS256: "sha256",
    ES256: "sha256",
    ES384: "sha384",
    EdDSA: null,
  };
  const alg = String(header.alg);
  if (!(alg in algs)) return `unsupported signing algorithm "${alg}"`;
  const input = new TextEncoder().encode(`${parts[0]}.${parts[1]}`);
  const sig = b64url(parts[2]!);
  for (const pem of pubkeys) {
    try {
      const key = createPublicKey(pem);
      const good = verifySig(
        algs[alg]!,
        input,
        alg.startsWith("ES") ? { key, dsaEncoding: "ieee-p1363" } : key,
        sig,
      );
      if (good) return claims;
    } catch {
      // try the next key
    }
  }
  return "failed to verify id token signature";
}

function b64url(s: string): Uint8Array {
  const b = s.replace(/-/g, "+").replace(/_/g, "/");
  return Uint8Array.from(atob(b + "=".repeat((4 - b.length % 4) % 4)), (c) => c.charCodeAt(0));
}

function parsePolicy(text: string): { glob: string; caps: Cap[] }[] | undefined {
  const rules: { glob: string; caps: Cap[] }[] = [];
  const re = /path\s+"([^"]+)"\s*\{\s*capabilities\s*=\s*\[([^\]]*)\]\s*\}/g;
  let consumed = text.replace(/#[^\n]*/g, "");
  for (const m of text.matchAll(re)) {
    const caps = [...m[2]!.matchAll(/"([a-z]+)"/g)].map((x) => x[1] as Cap);
    rules.push({ glob: m[1]!, caps });
    consumed = consumed.replace(m[0], "");
  }
  return consumed.trim() === "" ? rules : undefined;
}

function globMatch(glob: string, path: string): boolean {
  if (glob.endsWith("*")) return path.startsWith(glob.slice(0, -1));
  const parts = glob.split("/");
  const segs = path.split("/");
  if (parts.length !== segs.length) return false;
  return parts.every((p, i) => p === "+" || p === segs[i]);
}

function randomId(): string {
  return Array.from(
    crypto.getRandomValues(new Uint8Array(12)),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
}
