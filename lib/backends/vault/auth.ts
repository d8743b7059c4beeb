/**
 * Login and token life for the Vault/OpenBao backend (contract §6, §9, §10).
 *
 * - `VaultToken`: the static token is used as is. At start it is looked up
 *   (`auth/token/lookup-self`); when it is renewable with a TTL, it is
 *   renewed (`auth/token/renew-self`) at two thirds of its lease.
 * - `VaultAppRole`: `auth/approle/login {role_id, secret_id}` at start; the
 *   token is renewed at two thirds of its lease and obtained afresh by a new
 *   login when renewal fails, when the renewed lease runs short (max TTL),
 *   when it expired, or when the backend answers 403 (revoked).
 * - `SpiffeSigner`: the broker mints its own JWT-SVID (svid_login.ts) and
 *   logs in at `auth/<jwt-auth-mount>/login {role, jwt}`; it logs in again
 *   10 s before the token expires (or at two thirds of a short lease), and
 *   after a 403.
 *
 * Invariants:
 * - No request fails because of a renewal: the current token keeps serving
 *   until its replacement is in hand; a refresh that cannot reach the
 *   backend is retried with backoff while the old token is still valid.
 * - Logins are single-flight: concurrent requests that meet an expired or
 *   revoked token wait for one login.
 * - A 403 triggers at most one re-login per request, and re-logins caused by
 *   403s are at most one a second (a policy denial is not a revoked token).
 * - Tokens and secret_ids live in `SecretBytes`; request bodies carrying
 *   them are built as bytes and wiped. A token becomes a string only for one
 *   request's header. Nothing here logs or throws a token or secret_id.
 * @module
 */

import type { KeyObject } from "node:crypto";
import { BasilError } from "../../core/errors.ts";
import type { Logger } from "../../core/log.ts";
import { SecretBytes } from "../../core/secret.ts";
import { type JsonValue, wipeJson } from "../../seal/json_bytes.ts";
import { JsonWriter } from "../../seal/json_writer.ts";
import type { SpiffeSignerCred, VaultAppRoleCred, VaultTokenCred } from "../../seal/creds.ts";
import { rejected, statusError } from "./errors.ts";
import type { VaultHttp, VaultReply, VaultRequest } from "./http.ts";
import { bool, member, obj, textBytes, uint } from "./json.ts";
import { encodePath } from "./http.ts";
import { mintSelfSvid, spiffeSignerKey } from "./svid_login.ts";

/** A credential the vault backend accepts. */
export type VaultCred = VaultTokenCred | VaultAppRoleCred | SpiffeSignerCred;

/** JWT login settings (config `jwt-auth-mount`, `jwt-role`, `jwt-audience`, `svid-ttl-secs`). */
export interface JwtLoginSettings {
  readonly mount: string;
  readonly role: string;
  readonly audience: string;
  readonly ttlSecs: number;
}

/** Options for {@linkcode VaultAuth.open}. */
export interface VaultAuthOptions {
  readonly backend: string;
  readonly http: VaultHttp;
  readonly cred: VaultCred;
  readonly jwt: JwtLoginSettings;
  readonly logger: Logger;
  /** Clock in ms (tests). */
  readonly now?: () => number;
}

/** SpiffeSigner tokens are refreshed this long before they expire. */
const SPIFFE_REFRESH_EARLY_MS = 10_000;
/** A renewal that returns less than this is treated as the max TTL reached. */
const MIN_USEFUL_LEASE_MS = 5_000;
/** Retry delay bounds for a refresh that could not reach the backend. */
const RETRY_MIN_MS = 200;
const RETRY_MAX_MS = 5_000;
/** At most one 403-driven re-login per this interval. */
const FORBIDDEN_RELOGIN_GAP_MS = 1_000;

interface Lease {
  token: SecretBytes;
  /** Absolute expiry in ms; Infinity when the token does not expire. */
  expiresAt: number;
  renewable: boolean;
  /** Lease length in ms at issue (0 = none). */
  leaseMs: number;
}

/** The token of one vault backend and its life cycle. */
export class VaultAuth {
  readonly #o: VaultAuthOptions;
  readonly #now: () => number;
  readonly #kind: VaultCred["type"];
  /** Copies of the secrets needed to log in again (wiped by close). */
  readonly #roleId: string | undefined;
  readonly #secretId: SecretBytes | undefined;
  readonly #signerKey: KeyObject | undefined;
  readonly #spiffeId: string | undefined;
  #lease: Lease | undefined;
  #generation = 0;
  #inflight: Promise<void> | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #lastForbiddenRelogin = -Infinity;
  #closed = false;

  private constructor(o: VaultAuthOptions) {
    this.#o = o;
    this.#now = o.now ?? Date.now;
    this.#kind = o.cred.type;
    const c = o.cred;
    if (c.type === "VaultToken") {
      this.#lease = {
        token: SecretBytes.copyOf(c.token.expose()),
        expiresAt: Infinity,
        renewable: false,
        leaseMs: 0,
      };
    } else if (c.type === "VaultAppRole") {
      this.#roleId = c.role_id;
      this.#secretId = SecretBytes.copyOf(c.secret_id.expose());
    } else {
      if (o.jwt.role.trim() === "") {
        throw new BasilError("INTERNAL", undefined, { detail: "jwt-role is blank" });
      }
      this.#signerKey = spiffeSignerKey(o.backend, c.key_pem);
      this.#spiffeId = c.spiffe_id;
    }
  }

  /**
   * Logs in (or checks a static token). A backend that refuses the
   * credential stops the start (BACKEND_ERROR); one that cannot be reached
   * does not: the backend starts unauthenticated, logs a warning and logs
   * in on first use (readiness reports it unreachable meanwhile).
   */
  static async open(o: VaultAuthOptions): Promise<VaultAuth> {
    const a = new VaultAuth(o);
    try {
      await a.#refresh("start");
    } catch (e) {
      if (e instanceof BasilError && e.code === "BACKEND_UNAVAILABLE") {
        o.logger.log("warn", "vault backend unreachable at start; will log in on first use", {
          backend: o.backend,
          detail: e.detail,
        });
        a.#scheduleRetry(RETRY_MAX_MS);
      } else {
        a.close();
        throw e;
      }
    }
    return a;
  }

  /** Whether this credential can obtain a new token by itself. */
  get canLogin(): boolean {
    return this.#kind !== "VaultToken";
  }

  /**
   * Sends `req` with the current token. An expired or missing token is
   * replaced first; a 403 triggers one re-login and one retry.
   */
  async send(req: Omit<VaultRequest, "token">): Promise<VaultReply> {
    await this.#ensureFresh();
    const gen = this.#generation;
    const reply = await this.#withToken(req);
    if (reply.status !== 403 || !this.canLogin) return reply;
    if (gen === this.#generation) {
      const now = this.#now();
      if (now - this.#lastForbiddenRelogin < FORBIDDEN_RELOGIN_GAP_MS) return reply;
      this.#lastForbiddenRelogin = now;
      this.#o.logger.log("info", "vault token refused; logging in again", {
        backend: this.#o.backend,
      });
      await this.#refresh("forbidden");
    }
    return await this.#withToken(req);
  }

  #withToken(req: Omit<VaultRequest, "token">): Promise<VaultReply> {
    const lease = this.#lease;
    if (lease === undefined) {
      throw rejected(`vault ${this.#o.backend}: no token`);
    }
    const token = new TextDecoder().decode(lease.token.expose());
    return this.#o.http.call({ ...req, token });
  }

  async #ensureFresh(): Promise<void> {
    const lease = this.#lease;
    if (lease !== undefined && this.#now() < lease.expiresAt - 1000) return;
    if (lease !== undefined && !this.canLogin) return; // a static token: the backend decides
    await this.#refresh("expired");
  }

  /** One login or renewal at a time; others wait for it. */
  #refresh(why: string): Promise<void> {
    if (this.#closed) return Promise.reject(rejected("vault backend closed"));
    this.#inflight ??= this.#doRefresh(why).finally(() => (this.#inflight = undefined));
    return this.#inflight;
  }

  async #doRefresh(why: string): Promise<void> {
    const old = this.#lease;
    let next: Lease;
    if (this.#kind === "VaultToken") {
      next = await this.#lookupOrRenewStatic(why);
    } else if (
      why === "timer" && old !== undefined && old.renewable && this.#kind === "VaultAppRole" &&
      this.#now() < old.expiresAt
    ) {
      next = await this.#renew(old).catch(async (e) => {
        if (e instanceof BasilError && e.code === "BACKEND_UNAVAILABLE") throw e;
        return await this.#login();
      });
      if (next.leaseMs < MIN_USEFUL_LEASE_MS) {
        // A renewal keeps the same token (still serving requests until the
        // new login lands): never wipe it here.
        if (next.token !== old.token) next.token.wipe();
        next = await this.#login();
      }
    } else {
      next = await this.#login();
    }
    if (this.#closed) {
      if (next !== old) next.token.wipe();
      return;
    }
    if (old !== undefined && old !== next && old.token !== next.token) old.token.wipe();
    this.#lease = next;
    this.#generation++;
    this.#schedule(next);
  }

  /** Static token: lookup-self at start, renew-self on the timer. */
  async #lookupOrRenewStatic(why: string): Promise<Lease> {
    const old = this.#lease!;
    if (why === "timer" && old.renewable) return await this.#renew(old);
    const reply = await this.#o.http.call({
      method: "GET",
      path: "auth/token/lookup-self",
      token: new TextDecoder().decode(old.token.expose()),
    });
    try {
      if (reply.status !== 200) throw statusError("token lookup-self", reply.status, reply.errors);
      const data = obj(member(reply.json, "data"), "data");
      const ttl = uint(member(data, "ttl"), "data.ttl");
      const renewable = member(data, "renewable") === undefined
        ? false
        : bool(member(data, "renewable"), "data.renewable");
      return {
        token: old.token,
        expiresAt: ttl === 0 ? Infinity : this.#now() + ttl * 1000,
        renewable: renewable && ttl > 0,
        leaseMs: ttl * 1000,
      };
    } finally {
      wipeReply(reply.json);
    }
  }

  async #renew(old: Lease): Promise<Lease> {
    const reply = await this.#o.http.call({
      method: "POST",
      path: "auth/token/renew-self",
      body: new TextEncoder().encode("{}"),
      token: new TextDecoder().decode(old.token.expose()),
    });
    try {
      if (reply.status !== 200) throw statusError("token renew-self", reply.status, reply.errors);
      const auth = obj(member(reply.json, "auth"), "auth");
      const lease = uint(member(auth, "lease_duration"), "auth.lease_duration");
      return {
        token: old.token,
        expiresAt: lease === 0 ? Infinity : this.#now() + lease * 1000,
        renewable: bool(member(auth, "renewable"), "auth.renewable"),
        leaseMs: lease === 0 ? Infinity : lease * 1000,
      };
    } finally {
      wipeReply(reply.json);
    }
  }

  async #login(): Promise<Lease> {
    let body: Uint8Array;
    let path: string;
    if (this.#kind === "VaultAppRole") {
      path = "auth/approle/login";
      body = JsonWriter.build((w) =>
        w.raw('{"role_id":').str(this.#roleId!).raw(',"secret_id":')
          .text(this.#secretId!.expose()).raw("}")
      );
    } else {
      path = `auth/${encodePath(this.#o.jwt.mount)}/login`;
      const jwt = mintSelfSvid(this.#signerKey!, {
        spiffeId: this.#spiffeId!,
        audience: this.#o.jwt.audience,
        nowSecs: Math.floor(this.#now() / 1000),
        ttlSecs: this.#o.jwt.ttlSecs,
      });
      try {
        body = JsonWriter.build((w) =>
          w.raw('{"role":').str(this.#o.jwt.role).raw(',"jwt":').text(jwt).raw("}")
        );
      } finally {
        jwt.fill(0);
      }
    }
    let reply: VaultReply;
    try {
      reply = await this.#o.http.call({ method: "POST", path, body });
    } finally {
      body.fill(0);
    }
    try {
      if (reply.status !== 200) throw statusError(`login ${path}`, reply.status, reply.errors);
      const auth = obj(member(reply.json, "auth"), "auth");
      const token = SecretBytes.copyOf(
        textBytes(member(auth, "client_token"), "auth.client_token"),
      );
      if (token.length === 0) {
        token.wipe();
        throw rejected(`vault login ${path}: empty client_token`);
      }
      const lease = uint(member(auth, "lease_duration"), "auth.lease_duration");
      const renewable = member(auth, "renewable") === undefined
        ? false
        : bool(member(auth, "renewable"), "auth.renewable");
      this.#o.logger.log("info", "vault login", {
        backend: this.#o.backend,
        method: this.#kind,
        lease_secs: lease,
      });
      return {
        token,
        expiresAt: lease === 0 ? Infinity : this.#now() + lease * 1000,
        renewable,
        leaseMs: lease === 0 ? Infinity : lease * 1000,
      };
    } finally {
      wipeReply(reply.json);
    }
  }

  #schedule(lease: Lease): void {
    this.#clearTimer();
    if (!Number.isFinite(lease.expiresAt)) return;
    if (this.#kind === "VaultToken" && !lease.renewable) return;
    const remaining = lease.expiresAt - this.#now();
    const at = this.#kind === "SpiffeSigner" && remaining > 2 * SPIFFE_REFRESH_EARLY_MS
      ? remaining - SPIFFE_REFRESH_EARLY_MS
      : Math.floor(remaining * 2 / 3);
    this.#setTimer(at, 0);
  }

  #scheduleRetry(delay: number): void {
    this.#clearTimer();
    this.#setTimer(delay, delay);
  }

  #setTimer(delayMs: number, lastDelay: number): void {
    if (this.#closed) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#refresh("timer").catch((e) => {
        const next = Math.min(RETRY_MAX_MS, Math.max(RETRY_MIN_MS, lastDelay * 2));
        this.#o.logger.log("warn", "vault token refresh failed; retrying", {
          backend: this.#o.backend,
          detail: e instanceof BasilError ? e.detail : "error",
          retry_ms: next,
        });
        this.#setTimer(next, next);
      });
    }, Math.max(0, Math.min(delayMs, 2 ** 31 - 1)));
    Deno.unrefTimer(this.#timer as unknown as number);
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Stops renewal and wipes every secret. Safe to call twice. */
  close(): void {
    this.#closed = true;
    this.#clearTimer();
    this.#lease?.token.wipe();
    this.#secretId?.wipe();
  }
}

function wipeReply(json: JsonValue | undefined): void {
  if (json !== undefined) wipeJson(json);
}
