/**
 * Per-subject rate limits (extension; the upstream contract has none): the
 * policy's optional `rateLimits` section. A limit is a token bucket
 * (`perSecond` refill, `burst` capacity) over every request of a subject,
 * optionally with tighter buckets per operation class. Limits live in the
 * policy because they are per subject, and so are reloaded with it.
 *
 * ```json
 * "rateLimits": {
 *   "default": { "perSecond": 50, "burst": 100 },
 *   "subjects": {
 *     "web": { "perSecond": 20, "burst": 40, "classes": { "mint": { "perSecond": 1, "burst": 5 } } }
 *   }
 * }
 * ```
 *
 * A subject's own entry replaces `default` as a whole (nothing is merged); a
 * subject with neither is not limited. Either bucket level may be left out:
 * an entry with only `classes` limits only those classes.
 * @module
 */

import { z } from "zod";

/** Operation classes a limit may name, and the request ops in each. */
export const RATE_CLASSES = {
  read: [
    "get",
    "list",
    "get_public_key",
    "verify",
    "validate",
    "validate_nats_jwt",
    "status",
    "fetch_x509_bundles",
    "fetch_jwt_bundles",
  ],
  crypto: [
    "sign",
    "encrypt",
    "decrypt",
    "sign_nats_jwt",
    "encrypt_nats_curve",
    "decrypt_nats_curve",
    "use_software_custody",
  ],
  mint: ["mint"],
  write: ["set", "rotate", "import", "new_key"],
  admin: ["reload", "explain", "revoke", "watch"],
} as const;

/** An operation class name. */
export type RateClass = keyof typeof RATE_CLASSES;

const CLASS_OF: ReadonlyMap<string, RateClass> = new Map(
  (Object.keys(RATE_CLASSES) as RateClass[]).flatMap((c) =>
    RATE_CLASSES[c].map((op) => [op, c] as const)
  ),
);

/** The class of a request's op token; an op no class lists counts as `read`. */
export function rateClassOf(op: string): RateClass {
  return CLASS_OF.get(op) ?? "read";
}

/** One token bucket's parameters. */
export interface BucketSpec {
  /** Tokens added per second (may be fractional: 0.5 = one every 2 s). */
  readonly perSecond: number;
  /** Capacity: the most requests allowed at once after a quiet period. */
  readonly burst: number;
}

/** A subject's limits: an overall bucket and/or per-class buckets. */
export interface SubjectLimits {
  readonly all: BucketSpec | undefined;
  readonly classes: ReadonlyMap<RateClass, BucketSpec>;
}

/** The validated `rateLimits` section. */
export interface RateLimits {
  readonly default: SubjectLimits | undefined;
  readonly subjects: ReadonlyMap<string, SubjectLimits>;
}

/** Most tokens per second or burst a bucket may name. */
export const MAX_RATE = 1_000_000;

const Bucket = z.strictObject({
  perSecond: z.number().positive().max(MAX_RATE),
  burst: z.number().int().min(1).max(MAX_RATE),
});

const LimitsDoc = z.strictObject({
  perSecond: z.number().positive().max(MAX_RATE).optional(),
  burst: z.number().int().min(1).max(MAX_RATE).optional(),
  classes: z.partialRecord(
    z.enum(Object.keys(RATE_CLASSES) as [RateClass, ...RateClass[]]),
    Bucket,
  ).optional(),
});

/** The zod shape of the `rateLimits` section (checked by the policy loader). */
export const RateLimitsDoc = z.strictObject({
  default: LimitsDoc.optional(),
  subjects: z.record(z.string(), LimitsDoc).optional(),
});

type LimitsInput = z.infer<typeof LimitsDoc>;

/**
 * Compiles one entry; returns the name of a field that is wrong when only
 * one of `perSecond`/`burst` is given (the caller names the path).
 */
export function compileLimits(doc: LimitsInput): SubjectLimits | "perSecond" | "burst" {
  if ((doc.perSecond === undefined) !== (doc.burst === undefined)) {
    return doc.perSecond === undefined ? "perSecond" : "burst";
  }
  const all = doc.perSecond === undefined
    ? undefined
    : { perSecond: doc.perSecond, burst: doc.burst! };
  const classes = new Map<RateClass, BucketSpec>();
  for (const [c, b] of Object.entries(doc.classes ?? {}) as [RateClass, BucketSpec][]) {
    classes.set(c, { perSecond: b.perSecond, burst: b.burst });
  }
  return { all, classes };
}

/** The limits that apply to `subject` (its own entry, else `default`), if any. */
export function limitsFor(
  limits: RateLimits | undefined,
  subject: string,
): SubjectLimits | undefined {
  if (!limits) return undefined;
  return limits.subjects.get(subject) ?? limits.default;
}
