/**
 * Envoy SDS requests (contract §4.6), free of gRPC types: which resources a
 * DiscoveryRequest names and whether the caller may have them. Resources are
 * named by x509 issuer labels: `envoy_sds_certificate_resource=<name>` is the
 * caller's own X.509-SVID and key from that issuer (needs `mint` on it and a
 * kernel-attested identity; the SPIFFE ID is templated from the caller's uid,
 * never chosen by the request), `envoy_sds_validation_context_resource=<name>`
 * is the trust bundle of that issuer's trust domain (needs a caller that
 * resolves to a subject). An unknown name is denied exactly like a
 * certificate the caller may not mint. Each decision is recorded on the call.
 * @module
 */

import { denyUnresolved, recordDecision, resolveCaller } from "../broker/authorize.ts";
import type { BrokerCall } from "../broker/call.ts";
import type { BrokerDeps } from "../broker/deps.ts";
import type { Generation } from "../broker/state.ts";
import { BasilError, unauthorized } from "../core/errors.ts";
import { decide } from "../policy/pdp.ts";
import { callerSpiffeId } from "./ids.ts";
import type { Issuer } from "./issuers.ts";
import { issuersOf } from "./issuers.ts";

/** The only resource type SDS serves (an empty `type_url` means this one). */
export const SECRET_TYPE_URL =
  "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret";
/** `version_info` of every answer. */
export const SDS_VERSION = "basil-sds-v1";
/** Label naming an issuer's TlsCertificate resource. */
export const CERTIFICATE_LABEL = "envoy_sds_certificate_resource";
/** Label naming an issuer's trust-domain CertificateValidationContext resource. */
export const VALIDATION_LABEL = "envoy_sds_validation_context_resource";
/** Most resources one request may name. */
export const MAX_SDS_RESOURCES = 16;

/** A resource the caller was allowed. */
export type SdsResource =
  | {
    readonly kind: "certificate";
    readonly name: string;
    readonly issuer: Issuer;
    readonly spiffeId: string;
  }
  | { readonly kind: "validation"; readonly name: string; readonly trustDomain: string };

/** The authorized resources of a request and the generation that decided them. */
export interface SdsGrant {
  readonly resources: readonly SdsResource[];
  readonly gen: Generation;
}

const TARGET = "envoy.sds";

/** Checks a DiscoveryRequest's fields (before any decision). */
function checkRequest(typeUrl: string, names: readonly string[]): string[] {
  if (typeUrl !== "" && typeUrl !== SECRET_TYPE_URL) {
    throw new BasilError("INVALID_ARGUMENT", `type_url must be empty or ${SECRET_TYPE_URL}`, {
      op: "mint",
    });
  }
  const unique = [...new Set(names)];
  if (unique.length === 0 || unique.some((n) => n === "")) {
    throw new BasilError("INVALID_ARGUMENT", "resource_names must name at least one resource", {
      op: "mint",
    });
  }
  if (unique.length > MAX_SDS_RESOURCES) {
    throw new BasilError(
      "INVALID_ARGUMENT",
      `resource_names may name at most ${MAX_SDS_RESOURCES} resources`,
      { op: "mint" },
    );
  }
  return unique;
}

/** Resolves and authorizes every named resource; throws on the first refusal. */
export function authorizeSds(
  deps: BrokerDeps,
  call: BrokerCall,
  typeUrl: string,
  names: readonly string[],
): SdsGrant {
  const wanted = checkRequest(typeUrl, names);
  const caller = resolveCaller(deps, call);
  if (!caller.resolution.ok) denyUnresolved(deps, caller, "mint", TARGET);
  const subject = caller.resolution.subject;
  const issuers = issuersOf(caller.gen.catalog, "x509");
  const out: SdsResource[] = [];
  for (const name of wanted) {
    const certIssuer = issuers.find((i) => i.key.labelMap.get(CERTIFICATE_LABEL) === name);
    if (certIssuer) {
      if (caller.peer === undefined) {
        recordDecision(deps, caller, "mint", certIssuer.key.name, false, "no_attested_identity");
        throw unauthorized("mint", "no kernel-attested identity");
      }
      const d = decide(caller.gen.catalog, caller.gen.policy, subject, "mint", certIssuer.key.name);
      recordDecision(
        deps,
        caller,
        "mint",
        certIssuer.key.name,
        d.allow,
        d.allow ? d.via : d.reason,
      );
      if (!d.allow) throw unauthorized("mint", d.reason);
      const td = certIssuer.trustDomain;
      const spiffeId = callerSpiffeId(td, caller.peer.uid, caller.gen.policy.userNames);
      out.push({ kind: "certificate", name, issuer: certIssuer, spiffeId });
      continue;
    }
    const caIssuer = issuers.find((i) => i.key.labelMap.get(VALIDATION_LABEL) === name);
    if (caIssuer) {
      recordDecision(
        deps,
        caller,
        "fetch_x509_bundles",
        caIssuer.key.name,
        true,
        `subject:${subject}`,
      );
      out.push({ kind: "validation", name, trustDomain: caIssuer.trustDomain });
      continue;
    }
    // Unknown names answer exactly like a denied certificate: no oracle.
    recordDecision(deps, caller, "mint", TARGET, false, "unknown_resource");
    throw unauthorized("mint", "unknown SDS resource");
  }
  return { resources: out, gen: caller.gen };
}
