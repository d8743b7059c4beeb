/**
 * The SPIFFE Workload API's logic, free of gRPC types. Every SVID goes to a
 * kernel-attested caller that resolves to a policy subject allowed `mint` on
 * the issuer; validation needs `validate` on the issuer. Each decision is
 * audited. A caller's SPIFFE ID is templated from its uid; a requested ID
 * must be exactly that.
 * @module
 */

import { auditDecision, denyUnresolved, resolveCaller } from "../broker/authorize.ts";
import type { Caller } from "../broker/authorize.ts";
import type { BrokerDeps } from "../broker/deps.ts";
import type { Generation } from "../broker/state.ts";
import { BasilError, unauthorized } from "../core/errors.ts";
import { decide } from "../policy/pdp.ts";
import type { PeerIdentity } from "../policy/pdp.ts";
import { x509Bundles } from "./bundles.ts";
import { callerSpiffeId, parseSpiffeId } from "./ids.ts";
import type { Issuer } from "./issuers.ts";
import { issuersOf } from "./issuers.ts";
import { JWT_SVID_TTL_SECS, locateIssuer, mintJwtSvid, verifyJwtSvid } from "./jwt_svid.ts";
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
    for (const issuer of candidates) {
      const d = decide(caller.gen.catalog, caller.gen.policy, subject, "mint", issuer.key.name);
      if (!d.allow) continue;
      const spiffeId = callerSpiffeId(
        issuer.trustDomain,
        caller.peer!.uid,
        caller.gen.policy.userNames,
      );
      if (requested !== "" && requested !== spiffeId) {
        auditDecision(this.deps, caller, "mint", issuer.key.name, false, "spiffe_id_mismatch");
        throw unauthorized("mint", "requested SPIFFE ID is not the caller's");
      }
      auditDecision(this.deps, caller, "mint", issuer.key.name, true, d.via);
      return { issuer, spiffeId };
    }
    auditDecision(this.deps, caller, "mint", target, false, "not_permitted");
    throw unauthorized("mint", `no ${kind} issuer for the caller`);
  }

  /**
   * The caller's X.509-SVID (issued now if needed); `listener` then receives
   * every refresh until `unsubscribe` is called.
   */
  x509Svid(
    peer: PeerIdentity | undefined,
    listener: SvidListener,
  ): Promise<SvidSubscription> {
    const { issuer, spiffeId } = this.#pickIssuer(resolveCaller(this.deps, peer), "x509", "");
    return this.source.subscribe(issuer, spiffeId, listener);
  }

  /** JWT-SVIDs for the caller: one per SPIFFE ID, carrying every audience. */
  async jwtSvids(
    peer: PeerIdentity | undefined,
    audiences: readonly string[],
    requested: string,
  ): Promise<{ spiffeId: string; token: string }[]> {
    if (audiences.length === 0 || audiences.some((a) => a === "")) {
      throw new BasilError("INVALID_ARGUMENT", "audience is required", { op: "mint" });
    }
    const { issuer, spiffeId } = this.#pickIssuer(resolveCaller(this.deps, peer), "jwt", requested);
    return [{ spiffeId, token: await mintJwtSvid(this.deps, issuer, spiffeId, audiences) }];
  }

  /** Validates a JWT-SVID; the caller needs `validate` on its issuer. */
  async validate(
    peer: PeerIdentity | undefined,
    audience: string,
    token: string,
  ): Promise<ValidatedJwt> {
    if (audience === "") {
      throw new BasilError("INVALID_ARGUMENT", "audience is required", { op: "validate" });
    }
    if (token === "") {
      throw new BasilError("INVALID_ARGUMENT", "svid is required", { op: "validate" });
    }
    const caller = resolveCaller(this.deps, peer);
    if (!caller.resolution.ok) denyUnresolved(this.deps, caller, "validate", "spiffe.jwt_svid");
    const located = locateIssuer(caller.gen, token);
    const d = decide(
      caller.gen.catalog,
      caller.gen.policy,
      caller.resolution.subject,
      "validate",
      located.issuer.key.name,
    );
    auditDecision(
      this.deps,
      caller,
      "validate",
      located.issuer.key.name,
      d.allow,
      d.allow ? d.via : d.reason,
    );
    if (!d.allow) throw unauthorized("validate", d.reason);
    return await verifyJwtSvid(this.deps, located, audience, this.revocations);
  }

  /** X.509 bundles of the serving generation. */
  x509Bundles(gen: Generation = this.deps.state.current()): Promise<Map<string, Uint8Array>> {
    return x509Bundles(this.deps, gen);
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
