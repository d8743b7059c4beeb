/**
 * The validated, read-only policy model (contract §3). A `Policy` only comes
 * out of `loadPolicy`, so its rules are compiled and cross-checked.
 * @module
 */

import type { Op } from "../core/ops.ts";
import type { TargetGlob } from "./glob.ts";
import type { RateLimits } from "./rate_limits.ts";

/** One principal inside a subject's matcher. */
export type Principal =
  | { readonly kind: "unix"; readonly uid?: number; readonly gid?: number }
  | { readonly kind: "unauthenticated" }
  | {
    readonly kind: "signature-key";
    readonly algorithm: "ed25519" | "nats-nkey";
    readonly public: string;
  };

/** A named subject. */
export interface Subject {
  readonly name: string;
  readonly breakGlass: boolean;
  readonly mode: "allOf" | "anyOf";
  readonly principals: readonly Principal[];
}

/** One action term of a rule, with the ops it grants. */
export interface ActionTerm {
  readonly term: string;
  readonly ops: ReadonlySet<Op>;
}

/** A compiled rule. */
export interface Rule {
  readonly id: string;
  readonly subjects: readonly string[];
  readonly actions: readonly ActionTerm[];
  readonly targets: readonly TargetGlob[];
  readonly comment: string | undefined;
}

/** A validated policy. */
export interface Policy {
  readonly schemaVersion: 2;
  readonly subjects: ReadonlyMap<string, Subject>;
  readonly unauthenticatedSubject: string | undefined;
  readonly roles: ReadonlyMap<string, readonly Op[]>;
  readonly rules: readonly Rule[];
  /** uid → display name (SPIFFE ID path, audit presenter). */
  readonly userNames: ReadonlyMap<number, string>;
  readonly groupNames: ReadonlyMap<number, string>;
  /** uid → gids, from the policy (never from the kernel). */
  readonly memberships: ReadonlyMap<number, readonly number[]>;
  /** Number of (rule, subject, op, target) allow-grants. */
  readonly grantCount: number;
  /** Per-subject request rate limits (extension), when the policy sets any. */
  readonly rateLimits?: RateLimits;
}
