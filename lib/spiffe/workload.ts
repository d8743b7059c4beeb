/**
 * The SPIFFE Workload API's logic, free of gRPC types. Every SVID goes to a
 * kernel-attested caller that resolves to a policy subject allowed `mint` on
 * the issuer, for exactly the caller's own identity: its SPIFFE ID is
 * templated from its kernel uid (a requested ID must be exactly that), and a
 * caller without kernel credentials gets none. Validation needs `validate`
 * on the token's issuer, decided before anything about issuers is revealed:
 * a token naming no known issuer is denied exactly like one whose issuer the
 * caller may not validate with. The bundles need a caller that resolves to
 * a subject. Each decision is recorded on the request's call (one record,
 * written with the request's outcome).
 * @module
 */

import {
  denyUnresolved,
  recordDecision,
  requireSubject,
  resolveCaller,
} from "../broker/authorize.ts";
import type { Caller } from "../broker/authorize.ts";
import type { BrokerCall } from "../broker/call.ts";
import type { BrokerDeps } from "../broker/deps.ts";
import type { Generation } from "../broker/state.ts";
import { BasilError, unauthorized } from "../core/errors.ts";
import { decide } from "../policy/pdp.ts";
import { jwtBundles, x509Bundles } from "./bundles.ts";
import { callerSpiffeId, parseSpiffeId } from "./ids.ts";
import type { Issuer } from "./issuers.ts";
import { issuersOf } from "./issuers.ts";
import {
  findIssuer,
  JWT_SVID_TTL_SECS,
  mintJwtSvid,
  parsePresented,
  verifyJwtSvid,
} from "./jwt_svid.ts";
import type { ValidatedJwt } from "./jwt_svid.ts";
import {
  persistRevocations,
  revocationExpiry,
  RevocationList,
  revocationStoreKey,
} from "./revocation.ts";
import type { RevocationEntry } from "./revocation.ts";
import { X509SvidSource } from "./svid_source.ts";
import type { SvidListener, SvidSubscription } from "./svid_source.ts";

/** The Workload API state: the SVID source and the revocation list. */
export class WorkloadApi {
  readonly source: X509SvidSource;
  readonly revocations: RevocationList;
  #revoking: Promise<void> = Promise.resolve();

  constructor(private readonly deps: BrokerDeps, svidTtlSecs: number, revocations: RevocationList) {
    this.revocations = revocations;
    this.source = new X509SvidSource(deps, svidTtlSecs, async (issuer) => {
      const b = await x509Bundles(deps, deps.state.current());
      return b.get(`spiffe://${issuer.trustDomain}`) ?? new Uint8Array();
    });
  }

  #pickIssuer(
    caller: Caller,
    kind: "x509" | "jwt",
    requested: string,
  ): { issuer: Issuer; spiffeId: string } {
    const target = kind === "x509" ? "spiffe.x509_svid" : "spiffe.jwt_svid";
    if (!caller.resolution.ok) denyUnresolved(this.deps, caller, "mint", target);
    const subject = caller.resolution.subject;
    const all = issuersOf(caller.gen.catalog, kind);
    let candidates = all;
    if (requested !== "") {
      const id = parseSpiffeId(requested);
      if (!id) throw new BasilError("INVALID_ARGUMENT", "spiffe_id is malformed", { op: "mint" });
      candidates = all.filter((i) => i.trustDomain === id.trustDomain);
      if (candidates.length === 0) {
        throw new BasilError("INVALID_ARGUMENT", "spiffe_id is in a foreign trust domain", {
          op: "mint",
        });
      }
    }
    if (caller.peer === undefined) {
      // An SVID names a kernel-attested uid; an unauthenticated subject has none.
      recordDecision(this.deps, caller, "mint", target, false, "no_attested_identity");
      throw unauthorized("mint", "no kernel-attested identity");
    }
    for (const issuer of candidates) {
      const d = decide(caller.gen.catalog, caller.gen.policy, subject, "mint", issuer.key.name);
      if (!d.allow) continue;
      const spiffeId = callerSpiffeId(
        issuer.trustDomain,
        caller.peer.uid,
        caller.gen.policy.userNames,
      );
      if (requested !== "" && requested !== spiffeId) {
        recordDecision(this.deps, caller, "mint", issuer.key.name, false, "spiffe_id_mismatch");
        throw unauthorized("mint", "requested SPIFFE ID is not the caller's");
      }
      recordDecision(this.deps, caller, "mint", issuer.key.name, true, d.via);
      return { issuer, spiffeId };
    }
    recordDecision(this.deps, caller, "mint", target, false, "not_permitted");
    throw unauthorized("mint", `no ${kind} issuer for the caller`);
  }

  /**
   * The caller's X.509-SVID (issued now if needed); `listener` then receives
   * every refresh until `unsubscribe` is called.
   */
  x509Svid(call: BrokerCall, listener: SvidListener): Promise<SvidSubscription> {
    const { issuer, spiffeId } = this.x509Grant(call);
    return this.source.subscribe(issuer, spiffeId, listener);
  }

  /** The decision behind an X.509-SVID: the issuer that may mint for the caller, and its ID. */
  x509Grant(call: BrokerCall): { issuer: Issuer; spiffeId: string } {
    return this.#pickIssuer(resolveCaller(this.deps, call), "x509", "");
  }

  /** JWT-SVIDs for the caller: one per SPIFFE ID, carrying every audience. */
  async jwtSvids(
    call: BrokerCall,
    audiences: readonly string[],
    requested: string,
  ): Promise<{ spiffeId: string; token: string }[]> {
    if (audiences.length === 0 || audiences.some((a) => a === "")) {
      throw new BasilError("INVALID_ARGUMENT", "audience is required", { op: "mint" });
    }
    const { issuer, spiffeId } = this.#pickIssuer(resolveCaller(this.deps, call), "jwt", requested);
    return [{ spiffeId, token: await mintJwtSvid(this.deps, issuer, spiffeId, audiences) }];
  }

  /**
   * Validates a JWT-SVID. A malformed token is INVALID_ARGUMENT before any
   * decision; then the caller needs `validate` on the token's issuer (an
   * unknown issuer is denied the same way, recorded as `unknown_issuer` on
   * `spiffe.jwt_svid`); then the signature, audience, expiry and revocation
   * are checked (a failure records `validation_failed`).
   */
  async validate(call: BrokerCall, audience: string, token: string): Promise<ValidatedJwt> {
    if (audience === "") {
      throw new BasilError("INVALID_ARGUMENT", "audience is required", { op: "validate" });
    }
    if (token === "") {
      throw new BasilError("INVALID_ARGUMENT", "svid is required", { op: "validate" });
    }
    const presented = parsePresented(token);
    const target = "spiffe.jwt_svid";
    const caller = requireSubject(this.deps, call, "validate", target);
    const issuer = findIssuer(caller.gen, presented);
    if (!issuer) {
      recordDecision(this.deps, caller, "validate", target, false, "unknown_issuer");
      throw unauthorized("validate", "unknown_issuer");
    }
    const { catalog, policy } = caller.gen;
    const d = decide(catalog, policy, caller.subject, "validate", issuer.key.name);
    const reason = d.allow ? d.via : d.reason;
    recordDecision(this.deps, caller, "validate", issuer.key.name, d.allow, reason, {
      invalidAs: "validation_failed",
    });
    if (!d.allow) throw unauthorized("validate", d.reason);
    return await verifyJwtSvid(this.deps, issuer, presented, audience, this.revocations);
  }

  /**
   * Authorizes a bundle stream: the caller must resolve to a subject
   * (recorded as `fetch_x509_bundles` on `spiffe.x509_bundles`, or
   * `fetch_jwt_bundles` on `spiffe.jwt_bundles`). Bundles are public data,
   * but who reads them is still attested and audited. Returns the
   * generation the decision pinned: the stream's first push uses it, later
   * pushes (after BundleChanged) the one then serving.
   */
  authorizeBundles(call: BrokerCall, kind: "x509" | "jwt"): Generation {
    const op = `fetch_${kind}_bundles`;
    const target = `spiffe.${kind}_bundles`;
    const caller = requireSubject(this.deps, call, op, target);
    recordDecision(this.deps, caller, op, target, true, `subject:${caller.subject}`);
    return caller.gen;
  }

  /** X.509 bundles of the serving generation. */
  x509Bundles(gen: Generation = this.deps.state.current()): Promise<Map<string, Uint8Array>> {
    return x509Bundles(this.deps, gen);
  }

  /** JWKS documents of the serving generation. */
  jwtBundles(gen: Generation = this.deps.state.current()): Promise<Map<string, Uint8Array>> {
    return jwtBundles(this.deps, gen);
  }

  /**
   * Persists, then applies, a revocation (the caller was authorized for
   * `revoke`); returns the entry as kept (its expiry may be extended, see
   * {@linkcode revocationExpiry}). Revocations are applied one at a time, so
   * a slower store write can never overwrite a newer list.
   */
  revoke(gen: Generation, entry: RevocationEntry): Promise<RevocationEntry> {
    const run = this.#revoking.then(() => this.#revokeNow(gen, entry));
    this.#revoking = run.then(() => {}, () => {});
    return run;
  }

  async #revokeNow(gen: Generation, requested: RevocationEntry): Promise<RevocationEntry> {
    const now = Math.floor(this.deps.now().getTime() / 1000);
    const entry: RevocationEntry = {
      ...requested,
      expires_at_unix: revocationExpiry(requested.expires_at_unix, now, JWT_SVID_TTL_SECS),
    };
    const key = revocationStoreKey(gen.catalog);
    const backend = key ? this.deps.backends.get(key.backend) : undefined;
    if (!key || !backend) {
      throw new BasilError(
        "NO_REVOCATION_STORE",
        "no revocation_store=jwt-svid key is configured",
        {
          op: "revoke",
        },
      );
    }
    await persistRevocations(key, backend, this.revocations.liveWith(entry, now));
    this.revocations.add(entry);
    this.deps.events.publish({
      kind: "revoked",
      at: this.deps.now(),
      trustDomain: entry.trust_domain,
      id: entry.jti,
    });
    return entry;
  }

  /** Stops background refreshes. */
  close(): void {
    this.source.close();
  }
}
