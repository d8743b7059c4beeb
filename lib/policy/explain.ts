/**
 * Rendering of explain results (contract §3.5), shared by offline
 * `basil explain` and the live Explain RPC so both print the same thing.
 *
 * An explanation is about a (subject, op, key) tuple, exactly what the PDP
 * decides. One broker rule depends on the RPC, which a tuple cannot name:
 * `mint` on a protocol issuer is usable only through its protocol path (the
 * Workload API); MintJwt and IssueCertificate on it are denied
 * (`issuer_protocol_only`, lib/broker/authorize.ts) where explain says
 * allow.
 * @module
 */

import type { Decision, DenyReason, MatchedRule } from "./pdp.ts";

/** The JSON shape of a single-tuple explanation. */
export interface ExplainJson {
  subject: string;
  op: string;
  key: string;
  decision: "allow" | "deny";
  via?: string;
  matched_rule: Partial<MatchedRule> | null;
  reason?: string;
}

/** Builds the JSON form of a decision. */
export function explainJson(
  subject: string,
  op: string,
  key: string,
  d: Decision,
): ExplainJson {
  if (d.allow) {
    return { subject, op, key, decision: "allow", via: d.via, matched_rule: d.matched ?? null };
  }
  return { subject, op, key, decision: "deny", matched_rule: null, reason: d.reason };
}

const DENY_SENTENCES: Record<DenyReason, string> = {
  unknown_key: "the key is not in the catalog",
  not_writable: "the key is writable: false, which caps every write operation",
  issuer_raw_sign: "the key is a credential issuer (svid_kind, nats_type O/A): never raw sign",
  not_permitted: "no rule grants this operation on this key to the subject (default deny)",
};

/** Two human lines: the verdict and why. */
export function explainText(e: ExplainJson): string {
  if (e.decision === "allow") {
    const head = `ALLOW  subject ${e.subject}  ${e.op}  ${e.key}  (via ${e.via})`;
    const m = e.matched_rule;
    const why = m
      ? `    matched subject ${
        m.subject ?? e.subject
      } by rule ${m.rule} (action ${m.action}, target ${m.target})`
      : "    the key is class public, which anyone with a subject may get or get_public_key";
    return `${head}\n${why}`;
  }
  const reason = (e.reason ?? "not_permitted") as DenyReason;
  return `DENY   subject ${e.subject}  ${e.op}  ${e.key}  (${reason})\n    ${
    DENY_SENTENCES[reason] ?? reason
  }`;
}
